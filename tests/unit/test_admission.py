"""The admission rules, apart from the SQL that gathers their facts
(processors/decisions/admission.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.admission import AdmissionRules, Request, refusal
from core.call_rules import RejectReason, code_ttl_seconds
from core.credit import Credit

RULES = AdmissionRules(phone_calls_per_hour=5, retry_chain_max=4)
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def admit(
    request: Request | None = None,
    status: str = "active",
    earlier: list[datetime] | None = None,
    credit: Credit | None = None,
) -> RejectReason | None:
    return refusal(
        RULES,
        request or Request(NOW, 1, 1000),
        status,
        earlier or [],
        credit or Credit(0, 0, 10_000),
    )


def test_an_active_service_with_room_admits_and_reserves_the_price() -> None:
    credit = Credit(0, 0, 10_000)
    assert admit(credit=credit) is None
    assert credit.reserved == 1000


@pytest.mark.parametrize("status", ["disabled", "cut_off"])
def test_a_service_that_is_not_active_refuses(status: str) -> None:
    assert admit(status=status) is RejectReason.SERVICE_DISABLED


@pytest.mark.parametrize(("attempt", "refused"), [(4, False), (5, True)])
def test_a_retry_chain_holds_four_calls(attempt: int, refused: bool) -> None:
    reason = admit(Request(NOW, attempt, 1000))
    assert (reason == "retry_limit_reached") is refused  # the API's 409 code, one name


def test_the_sixth_call_to_a_phone_within_the_hour_is_refused() -> None:
    five = [NOW - timedelta(minutes=m) for m in (1, 10, 20, 30, 59)]
    assert admit(earlier=five[:4]) is None
    assert admit(earlier=five) is RejectReason.RATE_LIMITED


def test_calls_older_than_the_hour_do_not_count() -> None:
    old = [NOW - timedelta(minutes=61)] * 10 + [NOW - timedelta(hours=1)]
    assert admit(earlier=old) is None


def test_a_call_the_credit_cannot_cover_is_refused_and_reserves_nothing() -> None:
    credit = Credit(balance=-9_500, reserved=0, limit=10_000)
    assert admit(credit=credit) is RejectReason.CREDIT_LIMIT_REACHED
    assert credit.reserved == 0


def test_limits_are_checked_before_credit() -> None:
    credit = Credit(0, 0, 10_000)
    assert admit(status="disabled", credit=credit) is RejectReason.SERVICE_DISABLED
    assert credit.reserved == 0  # a refused call reserves nothing


def test_a_call_exactly_an_hour_old_no_longer_counts() -> None:
    hour_ago = [NOW - timedelta(hours=1)] * 5
    assert admit(earlier=hour_ago) is None
    assert admit(earlier=[t + timedelta(microseconds=1) for t in hour_ago]) == (
        RejectReason.RATE_LIMITED
    )


def test_a_code_verifies_for_its_service_s_minutes() -> None:
    assert code_ttl_seconds(2) == 120
    assert code_ttl_seconds(2, minute_seconds=3.0) == 6.0  # the tests' short minute
