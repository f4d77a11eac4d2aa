"""The workflow rules (core/workflow.py) and a call's steps as the projection keeps them
(projections/call_steps.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.workflow import (
    Channel,
    Step,
    StepAt,
    sms_text,
    step_price,
    template_problem,
    workflow_of,
    workflow_problem,
)
from processors.decisions.steps import CallSteps, deadline, step_command
from projections.call_steps import cost, listed, step_keys
from schemas.codec import new_event

AT = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([], "a workflow has 1 to 3 steps"),
        ([{"channel": "sms", "timeout_seconds": 60}] * 4, "a workflow has 1 to 3 steps"),
        (
            [{"channel": "voice", "timeout_seconds": 60}],
            "step 0: channel is one of flash_call, sms",
        ),
        (
            [{"channel": "sms", "timeout_seconds": 60}, {"channel": "sms", "timeout_seconds": 14}],
            "step 1: timeout_seconds is a whole number from 15 to 900",
        ),
        (
            [{"channel": "sms", "timeout_seconds": 901}],
            "step 0: timeout_seconds is a whole number from 15 to 900",
        ),
        (
            [{"channel": "sms", "timeout_seconds": True}],
            "step 0: timeout_seconds is a whole number from 15 to 900",
        ),
        ([{"channel": "flash_call", "timeout_seconds": 15}], None),
        (
            [
                {"channel": "flash_call", "timeout_seconds": 900},
                {"channel": "sms", "timeout_seconds": 15},
                {"channel": "flash_call", "timeout_seconds": 60},
            ],
            None,
        ),
    ],
)
def test_a_workflow_has_one_to_three_known_steps_of_15_to_900_seconds(
    steps: list[dict[str, object]], problem: str | None
) -> None:
    assert workflow_problem(steps) == problem


def test_an_sms_template_holds_the_code_in_at_most_200_characters() -> None:
    assert template_problem("no code here") == "sms_template must contain {code}"
    assert template_problem("{code}" + "x" * 194) is None  # 200 characters
    assert template_problem("{code}" + "x" * 195) == "sms_template has at most 200 characters"


def test_the_sms_text_replaces_every_code_placeholder_and_nothing_else() -> None:
    assert sms_text(None, "12345") == "کد تأیید شما: 12345"
    assert sms_text("{code} / {code} {name}", "0042") == "0042 / 0042 {name}"


def test_no_workflow_is_the_seeds_one_flash_call() -> None:
    assert workflow_of(None) == (Step(Channel.FLASH_CALL, 60),)
    assert workflow_of([{"channel": "sms", "timeout_seconds": 30}]) == (Step(Channel.SMS, 30),)


def test_each_step_is_priced_by_its_channel() -> None:
    assert step_price(Channel.FLASH_CALL, 1000, 1500) == 1000
    assert step_price(Channel.SMS, 1000, 1500) == 1500


def _call(workflow: list[dict[str, object]] | None, step: int, delivered: bool) -> CallSteps:
    return CallSteps(
        id=uuid.UUID(int=7),
        service_id=uuid.UUID(int=8),
        phone="+989121234567",
        caller_number="+982191012345",
        status="admitted",
        at=StepAt(step, workflow_of(workflow)),
        step_status="started",
        price_per_call=1000,
        price_per_sms=1500,
        sms_text="code 12345",
        code_ttl_seconds=180.0,
        delivered_once=delivered,
    )


TWO = [{"channel": "flash_call", "timeout_seconds": 20}, {"channel": "sms", "timeout_seconds": 45}]


def test_a_step_hands_over_at_its_timeout_and_the_last_one_never() -> None:
    call = _call(TWO, 0, False)
    assert deadline(call.at, AT) == AT + timedelta(seconds=20)
    assert deadline(call.at.next(), AT) is None


def test_a_steps_failure_fails_the_call_only_at_the_last_step_with_nothing_delivered() -> None:
    assert _call(TWO, 0, False).fails_call(StepAt(0, workflow_of(TWO))) is False
    assert _call(TWO, 1, False).fails_call(StepAt(1, workflow_of(TWO))) is True
    assert _call(TWO, 1, True).fails_call(StepAt(1, workflow_of(TWO))) is False


def test_each_steps_command_has_an_id_of_its_own_fixed_by_the_call_and_the_step() -> None:
    call = _call(TWO, 0, False)
    flash = step_command(call, call.at)
    sms = step_command(call, call.at.next())
    assert (flash["event_type"], flash["step"], flash["caller_number"]) == (
        "PlaceCall",
        0,
        "+982191012345",
    )
    assert (sms["event_type"], sms["step"], sms["text"], sms["fails_call"]) == (
        "SendSms",
        1,
        "code 12345",
        True,
    )
    assert step_command(call, call.at.next())["event_id"] == sms["event_id"]
    assert len({flash["event_id"], sms["event_id"]}) == 2


def test_a_calls_steps_merge_from_its_events_and_cost_each_delivered_one() -> None:
    ids = {"call_id": uuid.UUID(int=1), "service_id": uuid.UUID(int=2)}
    failed = new_event(
        "CallFailed", occurred_at=AT, reason="busy", step=0, channel="flash_call", **ids
    )
    started = new_event(
        "StepStarted", occurred_at=AT + timedelta(seconds=1), step=1, channel="sms", **ids
    )
    delivered = new_event(
        "CallDelivered",
        occurred_at=AT + timedelta(seconds=2),
        expires_at=AT,
        step=1,
        channel="sms",
        **ids,
    )
    steps: dict[str, object] = {}
    for e in (delivered, failed, started):  # in any order
        found = step_keys(e)
        assert found is not None
        for key, value in found[1].items():
            steps.setdefault(key, value)
    assert listed(steps) == [
        {
            "channel": "flash_call",
            "status": "failed",
            "started_at": None,
            "ended_at": "2026-12-06T10:00:00+00:00",
            "failure_reason": "busy",
        },
        {
            "channel": "sms",
            "status": "delivered",
            "started_at": "2026-12-06T10:00:01+00:00",
            "ended_at": "2026-12-06T10:00:02+00:00",
            "failure_reason": None,
        },
    ]
    assert cost(steps, 1000, 1500) == 1500
    steps["0.status"] = "delivered"
    assert cost(steps, 1000, 1500) == 2500
