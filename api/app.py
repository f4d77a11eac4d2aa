"""The FastAPI application: commands out as events, projections read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp

from api import api_docs, errors, observability, openapi, panel
from api.fast_calls import FastCalls
from api.observability import RequestMetrics
from api.query_check import known_query_only
from api.routers import (
    accounts,
    call_batches,
    calls,
    compat,
    credit,
    fraud,
    operator_webhooks,
    reports,
    services,
    sim,
    webhooks,
)
from api.routers import ranges as range_routes
from api.service_layer import ranges
from core.db import async_pool, migrate
from core.settings import Settings, get_settings
from core.version import VERSION
from front_door.context import Context
from front_door.feed import check_directory_matches_read_models
from front_door.fleet import close_directory, open_directory
from front_door.housekeeping import sweep_forever
from front_door.shared_limits import open_limits
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from schemas.codec import use_schemas


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    use_schemas(settings.schema_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database_url = settings.require_database_url()
        bootstrap = settings.require_bootstrap()
        await asyncio.to_thread(migrate, database_url)
        await asyncio.to_thread(
            ensure_topics, bootstrap, settings.topic_partitions, settings.topic_replication
        )
        # Requests wait at most a few seconds for a connection: 503 then, while PostgreSQL is away.
        pool = async_pool(
            database_url, max_size=settings.db_pool_size, checked=True, wait_seconds=3.0
        )
        await pool.open()
        producer = EventProducer(
            bootstrap, "flashcall-api", delivery_timeout_ms=settings.kafka_delivery_timeout_ms
        )
        directory, fleet = await open_directory(settings, pool)
        await check_directory_matches_read_models(pool, fleet.feed.ends)
        limits = await open_limits(settings, fleet)
        app.state.context = Context(settings, pool, producer, directory, fleet.feed, fleet, limits)
        await ranges.seed(app.state.context)
        sweeping = asyncio.create_task(sweep_forever(app.state.context), name="sweep")
        try:
            yield
        finally:
            sweeping.cancel()
            await limits.close()
            await close_directory(fleet)
            await asyncio.to_thread(producer.close)
            await pool.close()

    app = FastAPI(
        title="flashcall",
        version=VERSION,
        summary="Flash-call phone verification",
        lifespan=lifespan,
        docs_url=None,  # served by api/api_docs.py, from the app's own assets
        redoc_url=None,
    )
    api_docs.install(app)
    errors.install(app, html=(f"{panel.PREFIX}/", panel.error_page))
    openapi.install(app)
    routers = (
        accounts,
        services,
        fraud,
        credit,
        call_batches,
        calls,
        reports,
        webhooks,
        sim,
        compat,
        range_routes,
        operator_webhooks,
    )
    strict = [Depends(known_query_only)]
    for module in routers:
        # The seed's endpoint answers as the original service did, which ignored them.
        app.include_router(module.router, dependencies=[] if module is compat else strict)
    app.include_router(accounts.own, dependencies=strict)
    panel.install(app, settings)
    observability.install(app)

    return app


def served(settings: Settings | None = None) -> ASGIApp:
    """The API as uvicorn serves it: the request metrics around every request, in front of the
    application an ordinary POST /v1/calls answered without FastAPI's machinery
    (api/fast_calls.py), the application for everything else. Outside FastAPI's own middleware,
    which an ordinary call never needs (its failures are answered where they happen)."""
    app = create_app(settings)
    return RequestMetrics(FastCalls(app, app))
