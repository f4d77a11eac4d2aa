"""Step outcomes: a delivered step is charged, a failed one gives its reservation back and
hands over to the next step (processors/decisions/steps.py), or fails the call."""

from __future__ import annotations

from typing import Any

import psycopg

from core.call_rules import CallStatus
from core.caller_ranges import RANGE_FAILURES
from core.ids import derived_id
from core.networks import UNKNOWN_NETWORK
from core.workflow import Channel
from processors import range_health
from processors.decisions.shared import ADMITTED
from processors.decisions.steps import StepStatus, locked_calls, start_next
from processors.service_book import ServiceBook, credit_event
from runtime.outbox import Outbox
from schemas.codec import Event, new_event


def range_dial(row: tuple[Any, ...]) -> range_health.Dial | None:
    """What an applied outcome counts for its caller range: a flash call's delivery, or a
    failure that says something about the range (not a test number's, not the phone's)."""
    *_, range_id, network, test, channel, reason, at = row
    delivered = row[3]
    if range_id is None or test or channel != Channel.FLASH_CALL:
        return None
    if not delivered and reason not in RANGE_FAILURES:
        return None
    return range_health.Dial(range_id, network or UNKNOWN_NETWORK, at, delivered)


def step_cause(call_id: Any, step: int) -> Any:
    """What a step's credit events are derived from: the call for its first step (as before
    workflows), the call and the step for a later one."""
    return call_id if step == 0 else derived_id(call_id, f"step.{step}")


async def record_outcomes(
    conn: psycopg.AsyncConnection,
    outcomes: list[Event],
    out: Outbox,
    book: ServiceBook,
) -> None:
    """A run of step outcomes. Only the move of the call's step in progress out of "started"
    charges or releases, so an outcome applies once; a failure of a step that is not the last
    starts the next one. Flash-call outcomes count for their caller range's health (at the end
    of the batch: Decisions.handle)."""
    await book.lock(conn, {e["service_id"] for e in outcomes})
    delivered = [e["event_type"] == "CallDelivered" for e in outcomes]
    rows = await (
        await conn.execute(
            "UPDATE proc_calls p SET step_status = o.step_status,"
            " status = CASE WHEN p.status <> %s THEN p.status WHEN o.delivered THEN %s"
            "   WHEN o.fails_call THEN %s ELSE p.status END,"
            " expires_at = CASE WHEN o.delivered THEN GREATEST(p.expires_at, o.expires_at)"
            "   ELSE p.expires_at END,"
            " delivered_once = p.delivered_once OR o.delivered"
            " FROM unnest(%b::uuid[], %b::int[], %b::text[], %b::boolean[], %b::boolean[],"
            "   %b::timestamptz[], %b::text[], %b::text[], %b::timestamptz[])"
            "   AS o(id, step, step_status, delivered, fails_call, expires_at, channel, reason, at)"
            " WHERE p.id = o.id AND p.step = o.step AND (p.step_status = %s"
            # A call admitted by a worker of 0.2.0 or before (during an upgrade) has no step
            # status: its one step is in progress while the call is admitted.
            "   OR (p.step_status IS NULL AND p.status = %s))"
            " RETURNING p.id, p.service_id, p.step, o.delivered, p.price, p.status,"
            "   p.range_id, p.network, p.test, o.channel, o.reason, o.at",
            (
                ADMITTED,
                CallStatus.DELIVERED,
                CallStatus.FAILED,
                [e["call_id"] for e in outcomes],
                [e.get("step", 0) for e in outcomes],
                [StepStatus.DELIVERED if d else StepStatus.FAILED for d in delivered],
                delivered,
                [e.get("fails_call", True) for e in outcomes],
                [e.get("expires_at") for e in outcomes],
                [e.get("channel") or Channel.FLASH_CALL.value for e in outcomes],
                [e.get("reason") for e in outcomes],
                [e["occurred_at"] for e in outcomes],
                StepStatus.STARTED,
                ADMITTED,
            ),
        )
    ).fetchall()
    book.range_dials += [d for r in rows if (d := range_dial(r))]
    handing_over = []
    for call_id, service_id, step, was_delivered, price, status, *_ in sorted(
        rows, key=lambda r: str(r[0])
    ):
        state = book[service_id]
        cause = step_cause(call_id, step)
        if was_delivered:
            state.credit.debit(price)
            out.emit(
                credit_event(
                    "CreditDebited",
                    cause,
                    state,
                    call_id=call_id,
                    amount=price,
                    balance_after=state.credit.balance,
                )
            )
            continue
        state.credit.release(price)
        out.emit(
            new_event(
                "CreditReleased",
                event_id=str(derived_id(cause, "CreditReleased")),
                call_id=call_id,
                service_id=service_id,
                amount=price,
            )
        )
        if status in (ADMITTED, CallStatus.DELIVERED):
            handing_over.append(call_id)
    if handing_over:
        calls = await locked_calls(conn, handing_over)
        due = [c for c in calls.values() if c.open and c.at.has_next]
        if due:
            await start_next(conn, due, outcomes[-1]["occurred_at"], out, book)
