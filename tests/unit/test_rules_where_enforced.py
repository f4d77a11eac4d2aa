"""Rules tested where they are enforced, not only in the pure function behind them: the API's
draw of a retry's number, the dialer's expiry of a code from the ring, the export's formula
guard for every character a spreadsheet evaluates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest

from api.calling import request_event
from api.context import Context
from api.directory import KeyView, ServiceView
from api.report_export import FORMULA_START, Formatter, neutralise
from core.number_pool import NumberPool
from processors.carriers import DialResult
from processors.dialer import dial_outcome

SECRET = "test-secret"
POOL = NumberPool.parse("+9821xxxxxxxx")


def api_context() -> Context:
    settings = SimpleNamespace(pool=POOL, code_secret=SECRET, price_per_call=1000)
    return cast(Context, SimpleNamespace(settings=settings, directory=SimpleNamespace(accounts={})))


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


def test_a_dial_that_raised_is_a_carrier_error() -> None:
    command = {"call_id": uuid.uuid4(), "service_id": uuid.uuid4(), "code_ttl_seconds": 120}
    outcome = dial_outcome(command, None)
    assert (outcome["event_type"], outcome["reason"]) == ("CallFailed", "carrier_error")


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_every_character_a_spreadsheet_evaluates_is_guarded(trigger: str) -> None:
    assert trigger in FORMULA_START
    formula = f'{trigger}HYPERLINK("http://x")'
    assert neutralise(formula) == "'" + formula
    # Through the export's own cell writer, as a key label would go.
    cell = Formatter("en", "gregorian").text_cell("key_label", formula)
    assert cell == "'" + formula


@pytest.mark.parametrize("number", ["+989121234567", "-1000", "42", "+1.5"])
def test_a_number_is_not_guarded(number: str) -> None:
    assert neutralise(number) == number


def test_text_without_a_trigger_is_unchanged() -> None:
    assert neutralise("web = login") == "web = login"
