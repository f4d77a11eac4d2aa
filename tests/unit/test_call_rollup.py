"""The rollup's rules: the quarter hour a call counts in, what a row counts as, how a changed
row moves, and which part of a time range the rollup answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from projections.call_rollup import (
    SLOT,
    Counts,
    RollupKey,
    Span,
    counted_as,
    moves,
    slot_of,
    split,
)

T = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
ACCOUNT, SERVICE, KEY = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def row(call_id: Any, status: str, delivered: bool = False, cost: int = 0, **over: Any) -> Any:
    return {
        "id": call_id,
        "account_id": ACCOUNT,
        "service_id": SERVICE,
        "key_id": KEY,
        "created_at": T + timedelta(minutes=7),
        "status": status,
        "delivered_at": T + timedelta(minutes=8) if delivered else None,
        "cost": cost,
        **over,
    }


def test_a_call_counts_in_the_quarter_hour_it_was_requested_in() -> None:
    assert slot_of(T) == T
    assert slot_of(T + timedelta(minutes=14, seconds=59, microseconds=999_999)) == T
    assert slot_of(T + timedelta(minutes=15)) == T + SLOT
    assert slot_of(T - timedelta(microseconds=1)) == T - SLOT
    # A slot is the same instant whatever zone the time is written in.
    tehran = (T + timedelta(minutes=40)).astimezone(ZoneInfo("Asia/Tehran"))
    assert slot_of(tehran) == T + 2 * SLOT


def test_every_zones_hour_and_day_start_on_a_slot() -> None:
    """Tehran (+03:30), Kathmandu (+05:45) and Chatham (+12:45/+13:45) included."""
    for zone in ("Asia/Tehran", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "UTC"):
        for day in range(0, 366, 11):
            midnight = datetime.combine(
                (T + timedelta(days=day)).date(), datetime.min.time(), ZoneInfo(zone)
            )
            assert slot_of(midnight) == midnight, (zone, midnight)


def test_a_stub_counts_nowhere_and_a_call_counts_once_where_its_row_says() -> None:
    assert counted_as(None) is None
    assert counted_as(row(1, "delivered", service_id=None)) is None
    assert counted_as(row(1, "delivered", created_at=None)) is None
    assert counted_as(row(1, "verified", delivered=True, cost=1000)) == (
        RollupKey(ACCOUNT, T, SERVICE, KEY, "verified"),
        Counts(1, 1, 1000, 0),
    )
    assert counted_as(row(1, "failed")) == (
        RollupKey(ACCOUNT, T, SERVICE, KEY, "failed"),
        Counts(1, 0, 0, 0),
    )


def test_a_changed_call_moves_from_its_old_status_to_its_new_one() -> None:
    old = row(1, "delivered", delivered=True, cost=1000)
    new = row(1, "verified", delivered=True, cost=1000)
    assert moves({1: old}, [new]) == {
        RollupKey(ACCOUNT, T, SERVICE, KEY, "delivered"): Counts(-1, -1, -1000, 0),
        RollupKey(ACCOUNT, T, SERVICE, KEY, "verified"): Counts(1, 1, 1000, 0),
    }


def test_a_new_call_is_added_and_a_stub_completed_is_added_once() -> None:
    assert moves({}, [row(1, "queued")]) == {
        RollupKey(ACCOUNT, T, SERVICE, KEY, "queued"): Counts(1, 0, 0, 0)
    }
    stub = row(2, "delivered", delivered=True, service_id=None, created_at=None)
    assert moves({2: stub}, [row(2, "delivered", delivered=True, cost=5)]) == {
        RollupKey(ACCOUNT, T, SERVICE, KEY, "delivered"): Counts(1, 1, 5, 0)
    }


def test_moves_that_cancel_out_are_left_out() -> None:
    """A row rewritten with what it counted as already (verify attempts) moves nothing; two
    calls leaving and entering the same status in one batch net out."""
    same = row(1, "delivered", delivered=True, cost=1000)
    assert moves({1: same}, [same]) == {}
    gains = moves(
        {1: row(1, "delivered", delivered=True), 2: row(2, "queued")},
        [row(1, "verified", delivered=True), row(2, "delivered", delivered=True)],
    )
    assert gains == {
        RollupKey(ACCOUNT, T, SERVICE, KEY, "queued"): Counts(-1, 0, 0, 0),
        RollupKey(ACCOUNT, T, SERVICE, KEY, "verified"): Counts(1, 1, 0, 0),
    }


def test_a_call_moving_on_to_an_sms_counts_there_by_sms() -> None:
    old = row(1, "delivered", delivered=True, cost=1000)
    new = {**row(1, "verified", delivered=True, cost=2500), "channel": "sms"}
    assert moves({1: old}, [new]) == {
        RollupKey(ACCOUNT, T, SERVICE, KEY, "delivered"): Counts(-1, -1, -1000, 0),
        RollupKey(ACCOUNT, T, SERVICE, KEY, "verified"): Counts(1, 1, 2500, 1),
    }


def test_a_stub_moves_nothing_until_its_request_arrives() -> None:
    stub = row(1, "dialing", service_id=None, created_at=None)
    assert moves({}, [stub]) == {}
    assert moves({1: stub}, [{**stub, "status": "delivered"}]) == {}


def test_whole_slots_come_from_the_rollup_and_the_edges_from_the_calls() -> None:
    q = timedelta(minutes=15)
    assert split(None, None) == (Span(None, None), [])
    assert split(T, T + 4 * q) == (Span(T, T + 4 * q), [])
    start, end = T + timedelta(minutes=5), T + 4 * q + timedelta(seconds=1)
    assert split(start, end) == (
        Span(T + q, T + 4 * q),
        [Span(start, T + q), Span(T + 4 * q, end)],
    )
    assert split(start, None) == (Span(T + q, None), [Span(start, T + q)])
    assert split(None, end) == (Span(None, T + 4 * q), [Span(T + 4 * q, end)])


def test_a_range_without_a_whole_slot_is_read_from_the_calls_alone() -> None:
    q = timedelta(minutes=15)
    inside = (T + timedelta(minutes=1), T + timedelta(minutes=14))
    assert split(*inside) == (None, [Span(*inside)])
    across = (T + timedelta(minutes=10), T + q + timedelta(minutes=10))
    assert split(*across) == (None, [Span(*across)])
    assert split(T + q, T + q) == (None, [Span(T + q, T + q)])
    assert split(T + timedelta(minutes=10), T + q) == (
        None,
        [Span(T + timedelta(minutes=10), T + q)],
    )
