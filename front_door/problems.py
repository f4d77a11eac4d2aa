"""The API's errors as values: one exception type with a stable `code`, its status and
title. No FastAPI here: the Kafka ingress applies the same checks and refusals (api/errors.py
renders them as application/problem+json)."""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"
# How long a client should wait before asking again while PostgreSQL or the broker is away.
UNAVAILABLE_RETRY_AFTER = "2"

TITLES: dict[str, str] = {
    "invalid_phone": "Invalid phone number",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "credit_limit_reached": "Credit limit reached",
    "service_disabled": "Service disabled",
    "destination_not_allowed": "Destination not allowed",
    "not_found": "Not found",
    "code_still_valid": "Code still valid",
    "retry_limit_reached": "Retry limit reached",
    "test_number_limit_reached": "Test number limit reached",
    "no_next_channel": "No next channel",
    "invalid_request": "Invalid request",
    "invalid_time_range": "Invalid time range",
    "rate_limited": "Too many requests",
    "unsupported_media_type": "Unsupported media type",
    "method_not_allowed": "Method not allowed",
    "unavailable": "Temporarily unavailable",
    "no_caller_range": "No caller range serves this number",
    "range_overlaps": "Range overlaps another",
    "idempotency_key_in_use": "Idempotency-Key in use",
    "internal_error": "Internal error",
}


# The status each code is answered with (OpenAPI declares them per operation from this).
STATUS: dict[str, int] = {
    "invalid_phone": 400,
    "invalid_time_range": 400,
    "unauthorized": 401,
    "credit_limit_reached": 402,
    "forbidden": 403,
    "service_disabled": 403,
    "destination_not_allowed": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "code_still_valid": 409,
    "retry_limit_reached": 409,
    "test_number_limit_reached": 409,
    "no_next_channel": 409,
    "range_overlaps": 409,
    "idempotency_key_in_use": 409,
    "invalid_request": 422,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
    "no_caller_range": 503,
}


class ApiError(Exception):
    """Raise this anywhere in the API; the handler renders it."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or code)
        self.status = status or STATUS[code]
        self.code = code
        self.detail = detail or TITLES.get(code, code)
        self.headers = headers or {}
        self.extra = extra or {}  # members of the problem besides the standard ones


def not_found(what: str = "resource") -> ApiError:
    return ApiError("not_found", f"no such {what}")


def invalid(detail: str) -> ApiError:
    return ApiError("invalid_request", detail)
