"""Errors rendered as application/problem+json with a stable `code`.

The errors themselves, as values: front_door/problems.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.faults import is_transient
from front_door.problems import PROBLEM, TITLES, UNAVAILABLE_RETRY_AFTER, ApiError
from schemas.codec import UnstorableEvent

log = logging.getLogger(__name__)


def problem(
    status: int,
    code: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://flashcall.dev/problems/{code}",
        "title": TITLES.get(code, code),
        "status": status,
        "detail": detail,
        "code": code,
        **(extra or {}),
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


HtmlErrors = Callable[[Request, ApiError], Awaitable[Response]]

UNAVAILABLE = (
    "the service is briefly unavailable; ask again shortly (an Idempotency-Key keeps a"
    " repeated create from creating twice)"
)


def api_error(exc: ApiError) -> JSONResponse:
    return problem(exc.status, exc.code, exc.detail, exc.headers, exc.extra)


def error_of(method: str, path: str, exc: Exception) -> ApiError | None:
    """The ApiError an exception is answered as (logged as it deserves); None: an internal
    error (500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, psycopg.Error | PoolTimeout | KafkaException) and is_transient(exc):
        # PostgreSQL or the broker failed: 503 while it is away.
        log.warning("%s %s: a dependency is unavailable: %r", method, path, exc)
        return ApiError("unavailable", UNAVAILABLE, {"Retry-After": UNAVAILABLE_RETRY_AFTER})
    if isinstance(exc, UnstorableEvent):
        # The edge validation let a control character through: refuse, append nothing.
        log.error("refused an event the edge should have refused: %s", exc)
        return ApiError("invalid_request", "text holds a control character")
    log.exception("unhandled error", exc_info=exc)
    return None


def failure(method: str, path: str, exc: Exception) -> JSONResponse:
    """The problem+json answer to any exception, as the handlers below give it outside the
    panel (api/fast_calls.py answers its own with this)."""
    error = error_of(method, path, exc)
    return internal_error() if error is None else api_error(error)


def internal_error() -> JSONResponse:
    return problem(500, "internal_error", "an internal error occurred; it has been logged")


def install(app: FastAPI, html: tuple[str, HtmlErrors] | None = None) -> None:
    """`html` is (path prefix, renderer): errors under that prefix are answered as pages."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        if html is not None and request.url.path.startswith(html[0]):
            return await html[1](request, exc)
        return api_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        return problem(422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # Starlette's own refusals; a body that does not parse (FastAPI's 400) is an invalid
        # request like any other (422), so that each code keeps one status.
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "invalid_request"
        )
        headers = dict(exc.headers) if exc.headers else None
        return await _api_error(request, ApiError(code, str(exc.detail), headers))

    async def _other(request: Request, exc: Exception) -> Response:
        """PostgreSQL or the broker failed (503 while it is away), an event the edge should
        have refused (422), anything else (500)."""
        error = error_of(request.method, request.url.path, exc)
        return internal_error() if error is None else await _api_error(request, error)

    for kind in (psycopg.Error, PoolTimeout, KafkaException, UnstorableEvent, Exception):
        app.add_exception_handler(kind, _other)
