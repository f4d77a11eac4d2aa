"""What the dialer writes, and the rules it writes by: a call's step is claimed once (so a
command delivered again rings or writes to no one), a step has one outcome under one event id,
and a claim
whose worker died mid-dial fails as carrier_error. The machinery that dials (slots, the
carrier, retries, publishing) is processors/dialer.py."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import psycopg

from core.call_rules import FailReason
from core.ids import derived_id
from processors.carriers import DialResult
from runtime.outbox import Outbox
from schemas.codec import Event, new_event

log = logging.getLogger(__name__)


def claim_id(call_id: Any, step: int) -> Any:
    """What a step's claim is keyed by: the call for its first step (as before workflows, so
    every release claims alike), an id derived from the call and the step for a later one."""
    return call_id if step == 0 else derived_id(call_id, f"claim.{step}")


def channel_of(command: Event) -> str:
    return "sms" if command.get("event_type") == "SendSms" else "flash_call"


async def claim(conn: psycopg.AsyncConnection, commands: list[Event]) -> list[Event]:
    """The commands (PlaceCall, SendSms) whose step was never claimed, claimed now (each with
    `dialed_at`, when it was); a copy of a command claims nothing."""
    by_claim = {claim_id(e["call_id"], e.get("step", 0)): e for e in commands}
    if not by_claim:
        return []
    steps = list(by_claim.values())
    rows = await (
        await conn.execute(
            "INSERT INTO dials (call_id, service_id, step, step_of, channel, fails_call)"
            " SELECT * FROM unnest(%b::uuid[], %b::uuid[], %b::int[], %b::uuid[], %b::text[],"
            " %b::boolean[]) ON CONFLICT (call_id) DO NOTHING RETURNING call_id, claimed_at",
            (
                list(by_claim),
                [c["service_id"] for c in steps],
                [c.get("step", 0) for c in steps],
                [c["call_id"] if c.get("step", 0) else None for c in steps],
                [channel_of(c) for c in steps],
                [c.get("fails_call", True) for c in steps],
            ),
        )
    ).fetchall()
    return [{**by_claim[claimed], "dialed_at": at} for claimed, at in rows]


async def write_outcomes(conn: psycopg.AsyncConnection, outcomes: list[Event], out: Outbox) -> None:
    """Record the outcomes of the dials still undecided, and take their events. A dial that
    fail_abandoned failed meanwhile (PostgreSQL was away for longer than
    FLASHCALL_DIAL_ABANDON_SECONDS, so its worker looked dead) keeps that outcome: a call has
    one outcome, under one event id (outcome_event), and a second one would be dropped as a
    copy by one consumer and applied by another (the call shown delivered, never charged)."""
    claims = [claim_id(e["call_id"], e.get("step", 0)) for e in outcomes]
    rows = await (
        await conn.execute(
            "UPDATE dials d SET outcome = o.outcome"
            " FROM unnest(%b::uuid[], %b::text[]) AS o(call_id, outcome)"
            " WHERE d.call_id = o.call_id AND d.outcome IS NULL RETURNING d.call_id",
            (claims, [e["event_type"] for e in outcomes]),
        )
    ).fetchall()
    undecided = {str(call_id) for (call_id,) in rows}
    for claimed, event in zip(claims, outcomes, strict=True):
        if str(claimed) in undecided:
            out.emit(event)
        else:
            log.warning(  # the sweep's, or this write's own if a commit was lost
                "dialer: call %s already had an outcome; its %s is not recorded",
                event["call_id"],
                event["event_type"],
            )


async def keep_alive(conn: psycopg.AsyncConnection, claims: list[Any]) -> None:
    """Say that the worker holding these claims (queued or dialling) is alive."""
    await conn.execute(
        "UPDATE dials SET alive_at = now() WHERE call_id = ANY(%b::uuid[]) AND outcome IS NULL",
        (claims,),
    )


async def fail_abandoned(
    conn: psycopg.AsyncConnection, older_than_seconds: float, out: Outbox
) -> int:
    """Calls claimed over `older_than_seconds` ago, not kept alive since, and still without an
    outcome (their worker died mid-dial) fail as carrier_error; how many."""
    rows = await (
        await conn.execute(
            "UPDATE dials SET outcome = 'CallFailed' WHERE outcome IS NULL"
            " AND claimed_at < now() - make_interval(secs => %s)"
            " AND (alive_at IS NULL OR alive_at < now() - make_interval(secs => %s))"
            " RETURNING COALESCE(step_of, call_id), service_id, claimed_at, step, channel,"
            " fails_call",
            (older_than_seconds, older_than_seconds),
        )
    ).fetchall()
    for call_id, service_id, claimed_at, step, channel, fails_call in rows:
        out.emit(
            outcome_event(
                "CallFailed",
                call_id=call_id,
                service_id=service_id,
                reason=FailReason.CARRIER_ERROR,
                dialed_at=claimed_at,
                step=step,
                channel=channel,
                fails_call=fails_call,
            )
        )
    return len(rows)


def dial_outcome(command: Event, result: DialResult | None) -> Event:
    """CallDelivered (the code is valid from the ring or the message on) or CallFailed for a
    PlaceCall or a SendSms."""
    ids = {
        "call_id": command["call_id"],
        "service_id": command["service_id"],
        "dialed_at": command.get("dialed_at"),
        "step": command.get("step", 0),
        "channel": channel_of(command),
    }
    if result is not None and result.failure is None:
        expires_at = result.at + timedelta(seconds=command["code_ttl_seconds"])
        return outcome_event("CallDelivered", occurred_at=result.at, expires_at=expires_at, **ids)
    failure = result.failure if result is not None else FailReason.CARRIER_ERROR
    return outcome_event(
        "CallFailed", reason=failure, fails_call=command.get("fails_call", True), **ids
    )


def outcome_event(event_type: str, **fields: Any) -> Event:
    """A step has one outcome: its id is fixed by the call id (and the step, after the
    first)."""
    step = fields.get("step", 0)
    name = "outcome" if step == 0 else f"outcome.{step}"
    return new_event(event_type, event_id=str(derived_id(fields["call_id"], name)), **fields)


def answered_event(command: Event) -> Event:
    """Someone picked the call up (it costs money)."""
    return once_per_call("CallAnswered", command)


def started_event(command: Event) -> Event:
    """A long dial is under way."""
    return once_per_call("DialStarted", command, occurred_at=command["dialed_at"])


def once_per_call(event_type: str, command: Event, **fields: Any) -> Event:
    """An event a call's step has at most once: its id is fixed by the call id and its type
    (and the step, after the first)."""
    step = command.get("step", 0)
    name = event_type if step == 0 else f"{event_type}.{step}"
    return new_event(
        event_type,
        event_id=str(derived_id(command["call_id"], name)),
        call_id=command["call_id"],
        service_id=command["service_id"],
        **fields,
    )
