"""Whether a requested call is admitted: the rules the decisions processor applies, in order,
with nothing but the facts it has gathered (no I/O; processors/decisions/admission.py gathers
them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.call_rules import PHONE_WINDOW_SECONDS, RejectReason
from core.credit import Credit


@dataclass(frozen=True)
class AdmissionRules:
    phone_calls_per_hour: int
    retry_chain_max: int


@dataclass(frozen=True)
class Request:
    requested_at: datetime
    attempt: int  # 1 for a first call, n for the (n-1)th retry
    price: int
    test: bool = False  # to a test number: no limit counts it and nothing is reserved


def refusal(
    rules: AdmissionRules,
    request: Request,
    service_status: str,
    earlier_calls_to_phone: Iterable[datetime],
    credit: Credit,
    suspected: Callable[[], bool] = lambda: False,
) -> RejectReason | None:
    """Why the request is refused (None: admitted). On admission its price is reserved on
    `credit`. `earlier_calls_to_phone` are the service's admitted calls to the same phone;
    `suspected` says whether its number prefix is blocked as pumped (asked only of a request
    the limits let through)."""
    if service_status != "active":
        return RejectReason.SERVICE_DISABLED
    if request.test:
        return None
    if request.attempt > rules.retry_chain_max:
        return RejectReason.RETRY_LIMIT_REACHED
    since = request.requested_at - timedelta(seconds=PHONE_WINDOW_SECONDS)
    recent = sum(1 for at in earlier_calls_to_phone if at > since)
    if recent >= rules.phone_calls_per_hour:
        return RejectReason.RATE_LIMITED
    if suspected():
        return RejectReason.FRAUD_SUSPECTED
    if not credit.reserve(request.price):
        return RejectReason.CREDIT_LIMIT_REACHED
    return None
