"""Rules about calls that the API, the processors and the projections all follow."""

from __future__ import annotations

from enum import StrEnum


class CallStatus(StrEnum):
    QUEUED = "queued"
    DIALING = "dialing"
    DELIVERED = "delivered"
    VERIFIED = "verified"
    EXPIRED = "expired"
    FAILED = "failed"
    REJECTED = "rejected"


FINISHED = frozenset(
    {CallStatus.VERIFIED, CallStatus.EXPIRED, CallStatus.FAILED, CallStatus.REJECTED}
)

# Events of one call reach the projection from several topics in any order; a status only
# ever moves to a higher rank.
STATUS_RANK: dict[str, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.DIALING: 1,
    CallStatus.DELIVERED: 2,
    CallStatus.VERIFIED: 3,
    CallStatus.EXPIRED: 3,
    CallStatus.FAILED: 3,
    CallStatus.REJECTED: 3,
}


class RejectReason(StrEnum):
    CREDIT_LIMIT_REACHED = "credit_limit_reached"
    RATE_LIMITED = "rate_limited"
    # The retry chain is full: the API's 409 answers the same code (one meaning, one name).
    RETRY_LIMIT_REACHED = "retry_limit_reached"
    SERVICE_DISABLED = "service_disabled"
    FRAUD_SUSPECTED = "fraud_suspected"  # its number prefix is blocked (docs/fraud.md)


class FailReason(StrEnum):
    BUSY = "busy"
    UNREACHABLE = "unreachable"
    INVALID_NUMBER = "invalid_number"
    DECLINED = "declined"  # 603: the callee's side refused the call before it rang
    CARRIER_ERROR = "carrier_error"
    EXPIRED = "expired"  # an SMS with no delivery report in time (docs/workflows.md)


class VerifyReason(StrEnum):
    INVALID_CODE = "invalid_code"
    EXPIRED = "expired"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    NOT_DELIVERED = "not_delivered"
    ALREADY_VERIFIED = "already_verified"


PHONE_WINDOW_SECONDS = 3600


def code_ttl_seconds(code_ttl_minutes: int, minute_seconds: float = 60.0) -> float:
    """How long a delivered code verifies: the service's minutes, each `minute_seconds` long
    (60; the tests shorten it with FLASHCALL_TTL_MINUTE_SECONDS). The one conversion."""
    return code_ttl_minutes * minute_seconds
