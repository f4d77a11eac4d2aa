"""What operators watch on the API: request metrics, `/metrics`, `/healthz` and `/readyz`
(docs/operations.md)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.openapi import problems
from core import metrics
from core.logs import bind
from front_door.context import Context
from front_door.directory import Directory
from front_door.problems import PROBLEM, TITLES, UNAVAILABLE_RETRY_AFTER

# How long a readiness check waits for PostgreSQL or the broker.
CHECK_SECONDS = 2.0


class RequestMetrics:
    """Counts each answer by route template and status, and times it to its first byte."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The labelled series, found once each (a labels() lookup costs a lock and a hash).
        self._durations: dict[tuple[str, str], Any] = {}
        self._answers: dict[tuple[str, str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self._duration(_route(scope), scope["method"]).observe(
                    time.perf_counter() - started
                )
            await send(message)

        try:
            with bind(route=scope["path"]):
                await self.app(scope, receive, sending)
        finally:
            self._answered(_route(scope), scope["method"], str(status)).inc()

    def _duration(self, route: str, method: str) -> Any:
        series = self._durations.get((route, method))
        if series is None:
            series = self._durations[route, method] = metrics.HTTP_DURATION.labels(route, method)
        return series

    def _answered(self, route: str, method: str, status: str) -> Any:
        series = self._answers.get((route, method, status))
        if series is None:
            series = metrics.HTTP_REQUESTS.labels(route, method, status)
            self._answers[route, method, status] = series
        return series


def _route(scope: Scope) -> str:
    """The matched route's template (never the raw path: ids would explode the labels)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def export_quarantines(directory: Directory) -> None:
    """The gauge of quarantined ranges per network, from this replica's directory."""
    counts: dict[str, int] = {}
    for r in directory.ranges.values():
        for network in r.quarantines:
            counts[network] = counts.get(network, 0) + 1
    metrics.RANGES_QUARANTINED.clear()
    for network, n in counts.items():
        metrics.RANGES_QUARANTINED.labels(network).set(n)


async def readiness(ctx: Context) -> dict[str, Any]:
    """Each check: PostgreSQL answers, the broker answers, the directory has caught up."""
    checks: dict[str, Any] = {}
    try:
        async with asyncio.timeout(CHECK_SECONDS), ctx.pool.connection() as conn:
            await conn.execute("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:
        checks["postgres"] = f"unavailable: {exc!r}"
    try:
        await asyncio.wait_for(
            asyncio.to_thread(ctx.producer.broker_answers, CHECK_SECONDS), CHECK_SECONDS + 1
        )
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unavailable: {exc!r}"
    checks["directory"] = "ok" if ctx.feed.caught_up else "catching up"
    if ctx.feed.stopped:
        checks["directory"] = f"stopped at {sorted(ctx.feed.stopped)}"
    return checks


def install(app: FastAPI) -> None:
    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """200 while the process lives."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses=problems())
    async def readyz(request: Request) -> JSONResponse:
        """200 when PostgreSQL and the broker answer and the directory has caught up; else
        503 `unavailable`, its `checks` member saying which failed."""
        checks = await readiness(request.app.state.context)
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ready", "checks": checks})
        failed = ", ".join(f"{name}: {state}" for name, state in checks.items() if state != "ok")
        return JSONResponse(
            {
                "type": "https://flashcall.dev/problems/unavailable",
                "title": TITLES["unavailable"],
                "status": 503,
                "detail": f"not ready ({failed})",
                "code": "unavailable",
                "status_text": "not_ready",
                "checks": checks,
            },
            status_code=503,
            media_type=PROBLEM,
            headers={"Retry-After": UNAVAILABLE_RETRY_AFTER},
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def prometheus(request: Request) -> Response:
        """Prometheus text format."""
        export_quarantines(request.app.state.context.directory)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
