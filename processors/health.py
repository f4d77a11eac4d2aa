"""A worker's /metrics, /healthz and /readyz, on FLASHCALL_METRICS_HOST:FLASHCALL_METRICS_PORT
(docs/operations.md).

Ready means: every consumer of the worker holds its assignment and asked the broker for
records within STALE_SECONDS (a consumer stuck on a batch — PostgreSQL away, a deadlock —
stops asking), and PostgreSQL answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import AsyncConnectionPool

from core import metrics
from runtime.partitioned import PartitionedConsumer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STALE_SECONDS = 30.0
CHECK_SECONDS = 2.0


async def readiness(
    consumers: Sequence[PartitionedConsumer], pool: Callable[[], AsyncConnectionPool | None]
) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for c in consumers:
        age = c.poll_age()
        if not c.assigned.is_set():
            checks[c.name] = "joining its group"
        elif age > STALE_SECONDS:
            checks[c.name] = f"has not polled for {age:.0f} s"
        else:
            checks[c.name] = "ok"
    db = pool()
    try:
        if db is None:
            raise RuntimeError("not connected yet")
        async with asyncio.timeout(CHECK_SECONDS), db.connection() as conn:
            await conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"unavailable: {exc!r}"
    return checks


async def serve(
    host: str,
    port: int,
    consumers: Sequence[PartitionedConsumer],
    pool: Callable[[], AsyncConnectionPool | None],
    routes: Sequence[tuple[str, Handler]] = (),
) -> web.AppRunner:
    """Start the worker's HTTP endpoints (and `routes`, GETs of the worker's carriers: an SMS
    gateway's delivery reports); the caller cleans the runner up."""
    for c in consumers:
        metrics.CONSUMER_POLL_AGE.labels(c.name).set_function(c.poll_age)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        checks = await readiness(consumers, pool)
        ready = all(v == "ok" for v in checks.values())
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        return web.json_response(body, status=200 if ready else 503)

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    for path, handler in routes:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
