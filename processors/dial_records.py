"""What the dialer writes, and the rules it writes by: a call id is claimed once (so a command
delivered again rings no one), a call has one dial outcome under one event id, and a claim
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


async def claim(conn: psycopg.AsyncConnection, commands: list[Event]) -> list[Event]:
    """The commands whose call id was never claimed, claimed now (each with `dialed_at`, when
    it was); a copy of a command claims nothing."""
    by_call = {e["call_id"]: e for e in commands}
    if not by_call:
        return []
    rows = await (
        await conn.execute(
            "INSERT INTO dials (call_id, service_id)"
            " SELECT * FROM unnest(%b::uuid[], %b::uuid[])"
            " ON CONFLICT (call_id) DO NOTHING RETURNING call_id, claimed_at",
            (list(by_call), [c["service_id"] for c in by_call.values()]),
        )
    ).fetchall()
    return [{**by_call[call_id], "dialed_at": at} for call_id, at in rows]


async def write_outcomes(conn: psycopg.AsyncConnection, outcomes: list[Event], out: Outbox) -> None:
    """Record the outcomes of the dials still undecided, and take their events. A dial that
    fail_abandoned failed meanwhile (PostgreSQL was away for longer than
    FLASHCALL_DIAL_ABANDON_SECONDS, so its worker looked dead) keeps that outcome: a call has
    one outcome, under one event id (outcome_event), and a second one would be dropped as a
    copy by one consumer and applied by another (the call shown delivered, never charged)."""
    rows = await (
        await conn.execute(
            "UPDATE dials d SET outcome = o.outcome"
            " FROM unnest(%b::uuid[], %b::text[]) AS o(call_id, outcome)"
            " WHERE d.call_id = o.call_id AND d.outcome IS NULL RETURNING d.call_id",
            ([e["call_id"] for e in outcomes], [e["event_type"] for e in outcomes]),
        )
    ).fetchall()
    undecided = {str(call_id) for (call_id,) in rows}
    for event in outcomes:
        if str(event["call_id"]) in undecided:
            out.emit(event)
        else:
            log.warning(  # the sweep's, or this write's own if a commit was lost
                "dialer: call %s already had an outcome; its %s is not recorded",
                event["call_id"],
                event["event_type"],
            )


async def fail_abandoned(
    conn: psycopg.AsyncConnection, older_than_seconds: float, out: Outbox
) -> int:
    """Calls claimed over `older_than_seconds` ago and still without an outcome (their worker
    died mid-dial) fail as carrier_error; how many."""
    rows = await (
        await conn.execute(
            "UPDATE dials SET outcome = 'CallFailed' WHERE outcome IS NULL"
            " AND claimed_at < now() - make_interval(secs => %s)"
            " RETURNING call_id, service_id, claimed_at",
            (older_than_seconds,),
        )
    ).fetchall()
    for call_id, service_id, claimed_at in rows:
        out.emit(
            outcome_event(
                "CallFailed",
                call_id=call_id,
                service_id=service_id,
                reason=FailReason.CARRIER_ERROR,
                dialed_at=claimed_at,
            )
        )
    return len(rows)


def dial_outcome(command: Event, result: DialResult | None) -> Event:
    """CallDelivered (the code is valid from the ring on) or CallFailed for a PlaceCall."""
    ids = {
        "call_id": command["call_id"],
        "service_id": command["service_id"],
        "dialed_at": command.get("dialed_at"),
    }
    if result is not None and result.failure is None:
        expires_at = result.at + timedelta(seconds=command["code_ttl_seconds"])
        return outcome_event("CallDelivered", occurred_at=result.at, expires_at=expires_at, **ids)
    failure = result.failure if result is not None else FailReason.CARRIER_ERROR
    return outcome_event("CallFailed", reason=failure, **ids)


def outcome_event(event_type: str, **fields: Any) -> Event:
    """A call has one dial outcome: its id is fixed by the call id."""
    return new_event(event_type, event_id=str(derived_id(fields["call_id"], "outcome")), **fields)


def answered_event(command: Event) -> Event:
    """Someone picked the call up (it costs money)."""
    return once_per_call("CallAnswered", command)


def started_event(command: Event) -> Event:
    """A long dial is under way."""
    return once_per_call("DialStarted", command, occurred_at=command["dialed_at"])


def once_per_call(event_type: str, command: Event, **fields: Any) -> Event:
    """An event a call has at most once: its id is fixed by the call id and its type."""
    return new_event(
        event_type,
        event_id=str(derived_id(command["call_id"], event_type)),
        call_id=command["call_id"],
        service_id=command["service_id"],
        **fields,
    )
