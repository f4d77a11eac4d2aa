"""problem+json answers as typed exceptions: catch the code you handle, or FlashcallError."""

from __future__ import annotations

import contextlib
from typing import Any


class FlashcallError(Exception):
    """An answer with a problem+json body: `code` is stable, `detail` says why."""

    code = "error"

    def __init__(self, status: int, code: str, detail: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.body = body
        self.retry_after: float | None = None


class InvalidPhone(FlashcallError):
    code = "invalid_phone"


class InvalidRequest(FlashcallError):
    code = "invalid_request"


class Unauthorized(FlashcallError):
    code = "unauthorized"


class Forbidden(FlashcallError):
    code = "forbidden"


class NotFound(FlashcallError):
    code = "not_found"


class CreditLimitReached(FlashcallError):
    """The service's credit limit, or the account's total one, is reached: `limit` says which
    ("service" or "account"); a top-up lifts it."""

    code = "credit_limit_reached"

    @property
    def limit(self) -> str | None:
        value = self.body.get("limit")
        return value if isinstance(value, str) else None


class ServiceDisabled(FlashcallError):
    code = "service_disabled"


class DestinationNotAllowed(FlashcallError):
    """The service may not ring this number: its region or its type (docs/fraud.md)."""

    code = "destination_not_allowed"


class RateLimited(FlashcallError):
    """Too many calls for the key or the phone: `retry_after` seconds."""

    code = "rate_limited"


class CodeStillValid(FlashcallError):
    code = "code_still_valid"


class RetryLimitReached(FlashcallError):
    code = "retry_limit_reached"


class Unavailable(FlashcallError):
    """The platform is briefly unavailable: ask again after `retry_after` seconds."""

    code = "unavailable"


BY_CODE: dict[str, type[FlashcallError]] = {
    cls.code: cls
    for cls in (
        InvalidPhone,
        InvalidRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        CreditLimitReached,
        ServiceDisabled,
        DestinationNotAllowed,
        RateLimited,
        CodeStillValid,
        RetryLimitReached,
        Unavailable,
    )
}


def error_of(status: int, body: Any, retry_after: str | None) -> FlashcallError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("code", "error"))
    error = BY_CODE.get(code, FlashcallError)(status, code, str(body.get("detail", "")), body)
    if retry_after is not None:
        with contextlib.suppress(ValueError):
            error.retry_after = float(retry_after)
    return error
