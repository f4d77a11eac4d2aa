"""Rules tested where they are enforced, not only in the pure function behind them: the API's
draw of a retry's number, the dialer's expiry of a code from the ring, the export's formula
guard for every character a spreadsheet evaluates."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from api.report_export import Formatter, csv_lines
from core.caller_ranges import seed_ranges
from core.ids import derived_id
from core.number_pool import NumberPool
from front_door.call_checks import active_service, check_destination, parse_phone, request_event
from front_door.context import Context
from front_door.directory import AccountView, Directory, KeyView, ServiceView
from front_door.problems import ApiError
from front_door.single_call import (
    call_body,
    idempotent_call_id,
    place_call,
    placed_body,
    seconds_until,
)
from processors.carriers import DialResult
from processors.decisions.shared import code_expired, derived
from processors.dial_records import answered_event, dial_outcome, outcome_event, started_event
from projections.call_report import COLUMNS
from schemas.codec import new_event
from tests.support.limits import AwayPool, MemoryLimits

SECRET = "test-secret"
POOL = NumberPool.parse("+9821xxxxxxxx")
SEEDED = seed_ranges(POOL, "+9821xxxxxxxx")


def api_context() -> Context:
    settings = SimpleNamespace(
        pool=POOL,
        seeded_ranges=SEEDED,
        range_probe_share=0.1,
        code_secret=SECRET,
        price_per_call=1000,
        price_per_sms=1500,
    )
    return cast(Context, SimpleNamespace(settings=settings, directory=Directory()))


def service(code_length: int) -> ServiceView:
    return ServiceView(uuid.uuid4(), uuid.uuid4(), code_length, 2, False, "active")


@pytest.mark.parametrize("code_length", [4, 5, 8])
def test_a_retry_never_repeats_the_previous_code_even_when_its_first_draw_would(
    code_length: int,
) -> None:
    """The previous call's code is chosen to be exactly what the retry's id draws first: the
    API must pass it to the pool, which then draws again."""
    svc = service(code_length)
    key = KeyView(uuid.uuid4(), svc.id, svc.account_id, None)
    retry_id = uuid.uuid4()
    first_draw = POOL.allocate(SECRET, str(retry_id), code_length).code
    previous: dict[str, Any] = {
        "id": uuid.uuid4(),
        "caller_number": "+9821" + "7" * (8 - code_length) + first_draw,
        "code_length": code_length,
        "attempt": 1,
    }
    event = request_event(api_context(), key, svc, "+989121234567", retry_id, retry=previous)
    assert event["caller_number"][-code_length:] != first_draw
    assert event["attempt"] == 2 and event["retry_of"] == previous["id"]
    # A first call with the same id draws that code: the difference is the retry's.
    first = request_event(api_context(), key, svc, "+989121234567", retry_id)
    assert first["caller_number"][-code_length:] == first_draw


def test_a_code_is_valid_from_the_ring_not_from_the_dial_command() -> None:
    """A slow dial (20 s from the command to the ring) does not shorten the code's life."""
    commanded = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    rang = commanded + timedelta(seconds=20)
    command = {
        "call_id": uuid.uuid4(),
        "service_id": uuid.uuid4(),
        "dialed_at": commanded,
        "code_ttl_seconds": 120,
    }
    outcome = dial_outcome(command, DialResult(None, rang))
    assert outcome["event_type"] == "CallDelivered"
    assert outcome["occurred_at"] == rang
    assert outcome["expires_at"] == rang + timedelta(seconds=120)
    assert outcome["dialed_at"] == commanded
    assert (outcome["call_id"], outcome["service_id"]) == (
        command["call_id"],
        command["service_id"],
    )


def test_a_dial_that_raised_is_a_carrier_error() -> None:
    command = {"call_id": uuid.uuid4(), "service_id": uuid.uuid4(), "code_ttl_seconds": 120}
    outcome = dial_outcome(command, None)
    assert (outcome["event_type"], outcome["reason"]) == ("CallFailed", "carrier_error")


# The formula guard is SQL now, written by PostgreSQL: tests/integration/test_report_export.py.


# ------------------------------------------------------------ the API's checks before a 201
class Appended:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = fail

    async def __call__(self, event: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("the broker is away")
        self.events.append(event)


def placing_context(
    svc: ServiceView,
    account: AccountView | None = None,
    phone_limit: int = 5,
    fail: bool = False,
    test_numbers: dict[str, str] | None = None,
) -> Any:
    settings = SimpleNamespace(
        pool=POOL,
        seeded_ranges=SEEDED,
        range_probe_share=0.1,
        code_secret=SECRET,
        price_per_call=700,
        price_per_sms=1500,
        default_region="IR",
    )
    directory = Directory()
    directory.services[svc.id] = svc
    if account is not None:
        directory.accounts[account.id] = account
    for phone, code in (test_numbers or {}).items():
        ids = {"service_id": svc.id, "account_id": svc.account_id, "phone": phone}
        directory.apply(new_event("TestNumberAdded", code=code, **ids))
    return SimpleNamespace(
        settings=settings,
        directory=directory,
        limits=MemoryLimits(100, phone_limit),
        pool=AwayPool(),  # the directory's word stands (a cut-off is not confirmed)
        append=Appended(fail),
    )


def key_of(svc: ServiceView) -> KeyView:
    return KeyView(uuid.uuid4(), svc.id, svc.account_id, None)


def refused(work: Any) -> ApiError:
    with pytest.raises(ApiError) as caught:
        asyncio.run(work) if asyncio.iscoroutine(work) else work()
    return caught.value


def test_a_call_is_appended_with_its_accounts_price_and_the_services_code() -> None:
    svc = service(6)
    account = AccountView(svc.account_id, price_per_call=1300, credit_limit=0)
    ctx = placing_context(svc, account)
    call_id = uuid.uuid4()
    placed = asyncio.run(place_call(ctx, key_of(svc), "+989121234567", call_id, reference="r1"))
    [event] = ctx.append.events
    assert event is placed.event and placed.service == svc
    assert (event["call_id"], event["phone"], event["price_per_call"]) == (
        call_id,
        "+989121234567",
        1300,
    )
    assert (event["code_length"], event["code_ttl_minutes"], event["attempt"]) == (6, 2, 1)
    assert event["reference"] == "r1" and event["retry_of"] is None
    assert (event["service_id"], event["account_id"]) == (svc.id, svc.account_id)
    key_id = placed_body(placed)["key_id"]
    assert event["key_id"] == key_id and key_id is not None
    body = placed_body(placed)
    assert body["status"] == "queued" and body["id"] == call_id and "code" not in body
    # Without an account in the directory: the platform's price.
    ctx = placing_context(svc)
    asyncio.run(place_call(ctx, key_of(svc), "+989121234567", uuid.uuid4()))
    assert ctx.append.events[0]["price_per_call"] == 700


def test_the_api_limits_calls_per_phone_and_gives_the_room_back_when_nothing_was_appended() -> None:
    svc = service(5)
    ctx = placing_context(svc, phone_limit=2)
    key = key_of(svc)
    for _ in range(2):
        asyncio.run(place_call(ctx, key, "+989121234567", uuid.uuid4()))
    error = refused(place_call(ctx, key, "+989121234567", uuid.uuid4()))
    assert (error.code, error.detail) == ("rate_limited", "too many calls to this phone number")
    assert int(error.headers["Retry-After"]) >= 1
    asyncio.run(place_call(ctx, key, "+989121234568", uuid.uuid4()))  # another phone: room
    failing = placing_context(svc, phone_limit=1, fail=True)
    with pytest.raises(ConnectionError):
        asyncio.run(place_call(failing, key, "+989121234567", uuid.uuid4()))
    failing.append.fail = False
    asyncio.run(place_call(failing, key, "+989121234567", uuid.uuid4()))  # the room came back


def test_the_api_limits_calls_per_key() -> None:
    svc = service(5)
    ctx = placing_context(svc)
    ctx.limits = MemoryLimits(key_rate=1)
    key = key_of(svc)
    asyncio.run(place_call(ctx, key, "+989121234567", uuid.uuid4()))
    error = refused(place_call(ctx, key, "+989121234568", uuid.uuid4()))
    assert (error.code, error.detail) == ("rate_limited", "too many calls for this access key")


def test_a_disabled_cut_off_or_unknown_service_places_nothing() -> None:
    svc = service(5)
    for changed, code, limit in (
        (replace(svc, status="disabled"), "service_disabled", None),
        (replace(svc, cut_off=True), "credit_limit_reached", "service"),
    ):
        ctx = placing_context(changed)
        error = refused(place_call(ctx, key_of(changed), "+989121234567", uuid.uuid4()))
        assert error.code == code and error.extra.get("limit") == limit
        assert ctx.append.events == []
    account = AccountView(svc.account_id, 1000, 0, cut_off=True)
    ctx = placing_context(svc, account)
    error = refused(place_call(ctx, key_of(svc), "+989121234567", uuid.uuid4()))
    assert (error.code, error.extra) == ("credit_limit_reached", {"limit": "account"})
    ctx = placing_context(svc)
    ctx.directory.services = {}
    error = refused(active_service(ctx, key_of(svc)))
    assert error.code == "unavailable"


def test_a_number_outside_the_services_regions_is_refused_before_anything() -> None:
    svc = replace(service(5), allowed_regions=("IR",))
    ctx = placing_context(svc)
    error = refused(place_call(ctx, key_of(svc), "+447911123456", uuid.uuid4()))
    assert error.code == "destination_not_allowed" and ctx.append.events == []
    assert ctx.limits.taken == {}


def test_a_phone_is_normalised_or_refused() -> None:
    ctx = placing_context(service(5))
    assert parse_phone(ctx, "09121234567") == "+989121234567"
    error = refused(lambda: parse_phone(ctx, "12345"))
    assert (error.code, error.detail) == ("invalid_phone", "phone is not a valid phone number")


def test_an_idempotency_key_fixes_the_call_id_per_access_key() -> None:
    svc = service(5)
    key, other = key_of(svc), key_of(svc)
    assert idempotent_call_id(key, "k1") == idempotent_call_id(key, "k1")
    assert idempotent_call_id(key, "k1") != idempotent_call_id(key, "k2")
    assert idempotent_call_id(key, "k1") != idempotent_call_id(other, "k1")
    assert idempotent_call_id(key, None) != idempotent_call_id(key, None)
    assert refused(lambda: idempotent_call_id(key, "bad key\n")).code == "invalid_request"
    pinned = KeyView(CALL, svc.id, svc.account_id, None)
    assert str(idempotent_call_id(pinned, "k1")) == PINNED_CALL_ID


def test_a_call_shows_its_code_only_for_a_service_that_returns_codes() -> None:
    row = {
        "id": uuid.uuid4(),
        "service_id": uuid.uuid4(),
        "key_id": uuid.uuid4(),
        "phone": "+989121234567",
        "status": "delivered",
        "attempt": 1,
        "code_length": 5,
        "created_at": datetime(2026, 11, 29, tzinfo=UTC),
        "caller_number": "+982191012345",
        "cost": 1000,
    }
    hidden = call_body(row, service(5))
    assert "code" not in hidden and "head_number" not in hidden and "caller_number" not in hidden
    assert {k: hidden[k] for k in ("id", "phone", "status", "attempt", "cost")} == {
        k: row[k] for k in ("id", "phone", "status", "attempt", "cost")
    }
    assert hidden["failure_reason"] is None and hidden["verified_at"] is None
    assert hidden["caller_prefix"] == "+9821910" and hidden["code_length"] == 5
    shown = call_body(row, replace(service(5), return_code=True))
    assert (shown["code"], shown["head_number"]) == ("12345", "+9821910")
    assert call_body(row, None).keys() == hidden.keys()


# ---------------------------------------------------------------------------------- exports
def test_a_persian_export_names_its_columns_in_persian_and_its_zone() -> None:
    fa = Formatter("fa", "jalali", "Asia/Tehran")
    headings = fa.headings()
    assert headings[COLUMNS.index("phone")] == "شماره تلفن"
    assert headings[COLUMNS.index("created_at")] == "زمان درخواست (Asia/Tehran)"
    assert fa.sheet_name == "تماس‌ها"


def test_an_english_export_keeps_codes() -> None:
    en = Formatter("en", "gregorian", "Asia/Tehran")
    assert en.headings()[COLUMNS.index("phone")] == "phone"
    assert en.headings()[COLUMNS.index("created_at")] == "created_at (Asia/Tehran)"
    assert en.sheet_name == "calls"
    assert csv_lines([["a", "b,c"], [1, '"q"']]) == 'a,"b,c"\n1,"""q"""\n'


# ------------------------------------------------- fixed for good: derived ids and the draw
# A replay (or a newer build reading old records) must re-create the same ids and numbers, or
# the exactly-once checks would see new events: these values are part of the contract.
CALL = uuid.UUID("6f1c2f5e-0000-4000-8000-000000000001")
PINNED_CALL_ID = "0b676809-38f0-55b5-9357-519b1269d942"  # key CALL, Idempotency-Key "k1"


def test_derived_event_ids_never_change() -> None:
    assert code_expired(CALL, uuid.uuid4())["event_id"] == "c6eebfcc-4027-5e68-b38d-5ec3a839d8af"
    failed = outcome_event("CallFailed", call_id=CALL, service_id=CALL, reason="busy")
    assert failed["event_id"] == "e70d1da3-bb41-5dfe-ada4-58417f00e115"
    assert failed["reason"] == "busy" and failed["service_id"] == CALL
    source = {"event_id": str(CALL)}
    place = derived("PlaceCall", source, call_id=CALL)
    assert place["event_id"] == "a50679b1-ddcf-57a1-8245-8a715d4a0ca5"
    assert place["call_id"] == CALL and place["event_type"] == "PlaceCall"
    assert derived("CallRejected", source)["event_id"] == "cdab5502-c58d-50a9-9f6a-cfc1882da242"
    assert str(derived_id(CALL, "CreditReleased")) == "5c3221d4-4530-582e-8523-bf82aa0e6ee3"
    at = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    command = {"call_id": CALL, "service_id": CALL, "dialed_at": at}
    answered = answered_event(command)
    assert answered["event_id"] == "3a942575-a797-5b5b-9c67-e53cddbf7ec5"
    assert (answered["event_type"], answered["call_id"], answered["service_id"]) == (
        "CallAnswered",
        CALL,
        CALL,
    )
    started = started_event(command)
    assert started["event_id"] == "2b53f00e-7898-5ed2-9ca1-310c95fdf938"
    assert (started["event_type"], started["occurred_at"], started["call_id"]) == (
        "DialStarted",
        at,
        CALL,
    )
    assert started["service_id"] == CALL
    assert str(derived_id(CALL, "CreditDebited")) == "e3483d3d-b6a2-555a-a613-468bcf43def1"
    expired = code_expired(CALL, CALL)
    assert (expired["event_type"], expired["call_id"], expired["service_id"]) == (
        "CodeExpired",
        CALL,
        CALL,
    )


def test_the_number_drawn_for_a_call_never_changes() -> None:
    pool = NumberPool.parse("+98219100xxxxx, +9821xxxxxxxx")
    drawn = {
        length: (
            pool.allocate("s3cret", str(CALL), length).caller_number,
            pool.allocate("s3cret", str(CALL), length, avoid_code="x").caller_number,
        )
        for length in (4, 5, 8)
    }
    assert drawn == {
        4: ("+9821910030549", "+9821910030549"),
        5: ("+9821910060549", "+9821910060549"),
        8: ("+982140060549", "+982140060549"),
    }
    again = pool.allocate("s3cret", str(CALL), 5, avoid_code="60549")
    assert again.caller_number == "+982147658086" and again.code == "58086"
    assert pool.allocate("other", str(CALL), 5).code != "60549"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the number pool is empty"),
        (" , ", "the number pool is empty"),
        ("98219100xxxxx", "must look like +98219100xxxxx"),
        ("+98a9100xxxxx", "must look like +98219100xxxxx"),
        ("+982191000xxx", "needs at least 4 trailing x"),
    ],
)
def test_a_bad_number_pool_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        NumberPool.parse(text)


def test_a_pool_range_takes_exactly_four_free_digits_and_upper_case_x() -> None:
    pool = NumberPool.parse("+982191000xxxx,+98219100XXXXX")
    assert [(r.prefix, r.free) for r in pool.ranges] == [("+982191000", 4), ("+98219100", 5)]
    assert pool.max_code_length == 5
    with pytest.raises(ValueError, match="no pool range has 6 free digits"):
        pool.allocate("s", "c", 6)


def test_the_apis_refusals_say_why() -> None:
    svc = service(5)
    details = {}
    for name, changed, account in (
        ("disabled", replace(svc, status="disabled"), None),
        ("service", replace(svc, cut_off=True), None),
        ("account", svc, AccountView(svc.account_id, 1000, 0, cut_off=True)),
    ):
        ctx = placing_context(changed, account)
        details[name] = refused(active_service(ctx, key_of(changed))).detail
    ctx = placing_context(svc)
    ctx.directory.services = {}
    details["unknown"] = refused(active_service(ctx, key_of(svc))).detail
    assert details == {
        "disabled": "the service is disabled",
        "service": "the service has reached its credit limit; top it up",
        "account": "the account has reached its total credit limit; top up any of its services",
        "unknown": "the service is not known to this instance yet",
    }


def test_a_call_to_a_test_number_carries_its_code_and_counts_in_no_limit() -> None:
    svc = service(5)
    account = AccountView(svc.account_id, price_per_call=1300, credit_limit=0, cut_off=True)
    ctx = placing_context(svc, account, phone_limit=1, test_numbers={"+989121110000": "24680"})
    key = key_of(svc)
    # A cut-off account, a phone over its hourly limit: a test number still places its calls.
    for _ in range(3):
        placed = asyncio.run(place_call(ctx, key, "+989121110000", uuid.uuid4()))
        assert placed.event["test"] is True
        assert placed.event["caller_number"].endswith("24680")
        assert re.fullmatch(r"\+9821\d{3}24680", placed.event["caller_number"])  # POOL's
    assert ctx.limits.taken == {}  # no phone take
    # Another number of the same service is a real call: refused for the account's credit.
    assert refused(place_call(ctx, key, "+989121110001", uuid.uuid4())).code == (
        "credit_limit_reached"
    )


def test_a_disabled_service_places_no_call_to_its_test_numbers() -> None:
    svc = replace(service(5), status="disabled")
    ctx = placing_context(svc, test_numbers={"+989121110000": "24680"})
    error = refused(place_call(ctx, key_of(svc), "+989121110000", uuid.uuid4()))
    assert error.code == "service_disabled"


def test_a_calls_body_is_every_field_of_its_row() -> None:
    row = {
        "id": uuid.uuid4(),
        "service_id": uuid.uuid4(),
        "key_id": uuid.uuid4(),
        "phone": "+989121234567",
        "status": "failed",
        "failure_reason": "busy",
        "attempt": 2,
        "retry_of": uuid.uuid4(),
        "code_length": 5,
        "expires_at": datetime(2026, 11, 29, 8, 2, tzinfo=UTC),
        "created_at": datetime(2026, 11, 29, 8, 0, tzinfo=UTC),
        "dialed_at": datetime(2026, 11, 29, 8, 0, 1, tzinfo=UTC),
        "verified_at": datetime(2026, 11, 29, 8, 1, tzinfo=UTC),
        "cost": 1000,
        "reference": "order-7",
        "caller_number": "+982191012345",
    }
    body = call_body(row, service(5))
    # The caller number carries the code: the body shows it without its last five digits.
    expected = {k: v for k, v in row.items() if k != "caller_number"}
    assert body == {
        **expected,
        "caller_prefix": "+9821910",
        "test": False,
        "network": None,
        "channel": "flash_call",
        "steps": [],
    }
    assert call_body({k: v for k, v in row.items() if k != "cost"}, None)["cost"] == 0


def test_a_retry_is_placed_as_the_next_attempt_of_its_chain() -> None:
    svc = service(5)
    ctx = placing_context(svc)
    previous = {
        "id": uuid.uuid4(),
        "caller_number": "+982191012345",
        "code_length": 5,
        "attempt": 2,
    }
    placed = asyncio.run(
        place_call(ctx, key_of(svc), "+989121234567", uuid.uuid4(), retry=previous)
    )
    assert (placed.event["attempt"], placed.event["retry_of"]) == (3, previous["id"])


def test_each_key_has_its_own_rate_and_is_told_when_to_come_back() -> None:
    svc = service(5)
    ctx = placing_context(svc)
    ctx.limits = MemoryLimits(key_rate=1)
    first, second = key_of(svc), key_of(svc)
    asyncio.run(place_call(ctx, first, "+989121234567", uuid.uuid4()))
    asyncio.run(place_call(ctx, second, "+989121234568", uuid.uuid4()))  # its own second
    error = refused(place_call(ctx, first, "+989121234569", uuid.uuid4()))
    assert error.headers == {"Retry-After": "1"}


def test_a_service_rings_the_regions_and_types_it_chose() -> None:
    us = "+14155552671"
    premium = "+19005551234"
    chosen = replace(service(5), allowed_regions=("US",), blocked_number_types=())
    ctx = placing_context(chosen)
    check_destination(ctx, chosen, us)
    check_destination(ctx, chosen, premium)  # its own choice: no type blocked
    error = refused(lambda: check_destination(ctx, service(5), us))  # the platform's: IR only
    assert (error.code, error.detail) == (
        "destination_not_allowed",
        "US is not among the service's allowed_regions",
    )


def test_a_placed_call_of_a_service_that_returns_codes_shows_its_code() -> None:
    svc = replace(service(5), return_code=True)
    ctx = placing_context(svc)
    placed = asyncio.run(place_call(ctx, key_of(svc), "+989121234567", uuid.uuid4()))
    body = placed_body(placed)
    assert body["code"] == placed.event["caller_number"][-5:]


def test_seconds_until_a_moment() -> None:
    soon = datetime.now(UTC) + timedelta(seconds=30)
    assert 28 < seconds_until(soon) <= 30
    assert seconds_until(datetime.now(UTC) - timedelta(seconds=30)) < 0


def test_a_number_pool_keeps_every_range_and_checks_each() -> None:
    pool = NumberPool.parse("+98219100xxxxx,,+9821xxxxxxxx")
    assert [r.prefix for r in pool.ranges] == ["+98219100", "+9821"]
    with pytest.raises(ValueError, match="must look like"):
        NumberPool.parse("+a8219100xxxxx")
    with pytest.raises(ValueError) as empty:
        NumberPool.parse("")
    assert str(empty.value) == "the number pool is empty"
