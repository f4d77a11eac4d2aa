"""Workflow steps (docs/workflows.md): each step's command, and the next step started when one
fails, when a delivered one's timeout passes (StepTimedOut) or when the customer asks
(NextChannelRequested). A step is admitted as a call is: the service must be active, its number
prefix not blocked by the fraud rules, and its credit must hold the step's price (reserved
now, charged on delivery, released on failure); one that may not start fails at once
(CallFailed with the refusal) and the one after it is tried. The phone's window and the
pumping counts judged the call once, at its admission: every step goes to the same phone for
the same request.

Every command and event here has an id fixed by the call and the step, so a replay re-creates
the same ones; a step is started only from the state the row holds (its step and step status,
locked), so it is started once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.call_rules import CallStatus, RejectReason
from core.ids import derived_id
from core.workflow import Channel, StepAt, step_price, workflow_of
from processors.decisions.shared import ADMITTED
from processors.dial_records import outcome_event
from processors.service_book import ServiceBook
from runtime.outbox import Outbox
from schemas.codec import Event, new_event


class StepStatus:
    STARTED = "started"
    DELIVERED = "delivered"
    FAILED = "failed"
    ENDING = "ending"  # a delivered step whose timeout passed: the next one is due


# A row of proc_calls with what starting a step needs.
STEP_ROW = (
    "SELECT id, service_id, phone, caller_number, status, step, step_status, workflow,"
    " price_per_call, price_per_sms, sms_text, code_ttl_seconds, delivered_once, prefix, trunk"
    " FROM proc_calls"
)


@dataclass(frozen=True)
class CallSteps:
    """A call as the step rules see it."""

    id: Any
    service_id: Any
    phone: str
    caller_number: str
    status: str
    at: StepAt
    step_status: str | None
    price_per_call: int
    price_per_sms: int
    sms_text: str | None
    code_ttl_seconds: float
    delivered_once: bool
    prefix: str | None = None  # the number prefix the fraud rules count it under
    trunk: str | None = None  # its caller range's preferred trunk (docs/ranges.md)

    @classmethod
    def of(cls, row: dict[str, Any]) -> CallSteps:
        return cls(
            id=row["id"],
            service_id=row["service_id"],
            phone=row["phone"],
            caller_number=row["caller_number"],
            status=row["status"],
            at=StepAt(row["step"], workflow_of(row["workflow"])),
            step_status=row["step_status"],
            price_per_call=row["price_per_call"] or 0,
            price_per_sms=row["price_per_sms"] or 0,
            sms_text=row["sms_text"],
            code_ttl_seconds=row["code_ttl_seconds"] or 0.0,
            delivered_once=row["delivered_once"],
            prefix=row["prefix"],
            trunk=row["trunk"],
        )

    @classmethod
    def requested(cls, e: Event, code_ttl_seconds: float) -> CallSteps:
        """A call as its CallRequested describes it, at its first step."""
        return cls(
            id=e["call_id"],
            service_id=e["service_id"],
            phone=e["phone"],
            caller_number=e["caller_number"],
            status=ADMITTED,
            at=StepAt(0, workflow_of(e.get("workflow"))),
            step_status=StepStatus.STARTED,
            price_per_call=e["price_per_call"],
            price_per_sms=e.get("price_per_sms") or 0,
            sms_text=e.get("sms_text"),
            code_ttl_seconds=code_ttl_seconds,
            delivered_once=False,
            trunk=e.get("trunk"),
        )

    @property
    def open(self) -> bool:
        """Still waiting for its code: neither verified, expired nor failed."""
        return self.status in (ADMITTED, CallStatus.DELIVERED)

    def price(self, at: StepAt) -> int:
        return step_price(at.step.channel, self.price_per_call, self.price_per_sms)

    def fails_call(self, at: StepAt) -> bool:
        """Whether a failure of step `at` fails the call: nothing after it, nothing before."""
        return not at.has_next and not self.delivered_once


def deadline(at: StepAt, started_at: datetime) -> datetime | None:
    """When a step hands over to the next one (None: the last step waits for nothing)."""
    if not at.has_next:
        return None
    return started_at + timedelta(seconds=at.step.timeout_seconds)


def step_command(
    call: CallSteps, at: StepAt, occurred_at: datetime | None = None, event_id: str | None = None
) -> Event:
    """PlaceCall or SendSms for step `at` of the call (its id fixed by the call and the step,
    or `event_id`)."""
    ids = {"call_id": call.id, "service_id": call.service_id}
    common = {"step": at.index, "fails_call": call.fails_call(at), **ids}
    if at.step.channel == Channel.SMS:
        return new_event(
            "SendSms",
            event_id=event_id or str(derived_id(call.id, f"SendSms.{at.index}")),
            occurred_at=occurred_at,
            phone=call.phone,
            text=call.sms_text or "",
            code_ttl_seconds=call.code_ttl_seconds,
            **common,
        )
    return new_event(
        "PlaceCall",
        event_id=event_id or str(derived_id(call.id, f"PlaceCall.{at.index}")),
        occurred_at=occurred_at,
        phone=call.phone,
        caller_number=call.caller_number,
        code_ttl_seconds=call.code_ttl_seconds,
        trunk=call.trunk,
        **common,
    )


async def locked_calls(conn: psycopg.AsyncConnection, call_ids: list[Any]) -> dict[Any, CallSteps]:
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(STEP_ROW + " WHERE id = ANY(%b) ORDER BY id FOR UPDATE", (call_ids,))
    return {row["id"]: CallSteps.of(row) for row in await cur.fetchall()}


async def start_next(
    conn: psycopg.AsyncConnection,
    calls: list[CallSteps],
    now: datetime,
    out: Outbox,
    book: ServiceBook,
) -> None:
    """Start the step after each call's current one (or the one after a step that may not
    start); a call with none left that never delivered its code has failed."""
    await book.lock(conn, {c.service_id for c in calls})
    blocked = await _blocked_prefixes(conn, calls, now)
    for call in sorted(calls, key=lambda c: str(c.id)):
        at = call.at
        started = False
        while at.has_next and not started:
            at = at.next()
            ids = {"call_id": call.id, "service_id": call.service_id}
            out.emit(
                new_event(
                    "StepStarted",
                    event_id=str(derived_id(call.id, f"StepStarted.{at.index}")),
                    occurred_at=now,
                    step=at.index,
                    channel=at.step.channel.value,
                    **ids,
                )
            )
            refused = _refusal(book, call, at, (call.service_id, call.prefix) in blocked)
            if refused is not None:
                out.emit(_step_failed(call, at, refused, now))
                continue
            await _record_step(conn, call, at, StepStatus.STARTED, deadline(at, now))
            out.emit(step_command(call, at, now))
            started = True
        if not started:
            await _record_step(conn, call, at, StepStatus.FAILED, None)


def _refusal(book: ServiceBook, call: CallSteps, at: StepAt, pumped: bool) -> str | None:
    """Why step `at` may not start (None: its price is reserved)."""
    state = book[call.service_id]
    if state.status != "active":
        return RejectReason.SERVICE_DISABLED
    if pumped:
        return RejectReason.FRAUD_SUSPECTED
    if not state.credit.reserve(call.price(at)):
        return RejectReason.CREDIT_LIMIT_REACHED
    return None


async def _blocked_prefixes(
    conn: psycopg.AsyncConnection, calls: list[CallSteps], now: datetime
) -> set[tuple[Any, str]]:
    """The calls' (service, prefix) that the fraud rules block now (docs/fraud.md): a later
    step to a prefix blocked since the call was admitted is refused, as a new call would be."""
    keys = sorted({(c.service_id, c.prefix) for c in calls if c.prefix is not None})
    if not keys:
        return set()
    rows = await (
        await conn.execute(
            "SELECT f.service_id, f.prefix FROM proc_fraud_prefixes f"
            " JOIN unnest(%b::uuid[], %b::text[]) AS w(s, p) ON f.service_id = w.s"
            " AND f.prefix = w.p WHERE NOT f.allowed AND f.blocked_until > %s",
            ([k[0] for k in keys], [k[1] for k in keys], now),
        )
    ).fetchall()
    return {(sid, prefix) for sid, prefix in rows}


def _step_failed(call: CallSteps, at: StepAt, reason: str, now: datetime) -> Event:
    return outcome_event(
        "CallFailed",
        occurred_at=now,
        call_id=call.id,
        service_id=call.service_id,
        reason=reason,
        dialed_at=None,
        step=at.index,
        channel=at.step.channel.value,
        fails_call=call.fails_call(at),
    )


async def _record_step(
    conn: psycopg.AsyncConnection,
    call: CallSteps,
    at: StepAt,
    step_status: str,
    step_deadline: datetime | None,
) -> None:
    """The call's step is now `at`; a call whose last step failed without any step having
    delivered its code has failed."""
    await conn.execute(
        "UPDATE proc_calls SET step = %s, step_status = %s, step_deadline = %s, price = %s,"
        " status = CASE WHEN %s AND status = %s THEN %s ELSE status END WHERE id = %s",
        (
            at.index,
            step_status,
            step_deadline,
            call.price(at),
            step_status == StepStatus.FAILED and not call.delivered_once,
            ADMITTED,
            CallStatus.FAILED,
            call.id,
        ),
    )


async def on_step_timed_out(
    conn: psycopg.AsyncConnection, events: list[Event], out: Outbox, book: ServiceBook
) -> None:
    """A delivered step's timeout passed (the timer marked it ending): the next step starts,
    unless the call was verified or expired meanwhile."""
    calls = await locked_calls(conn, [e["call_id"] for e in events])
    due = {}
    for e in events:
        call = calls.get(e["call_id"])
        if (
            call is not None
            and call.open
            and call.at.index == e["step"]
            and call.step_status == StepStatus.ENDING
        ):
            due[call.id] = call
    if due:
        await start_next(conn, list(due.values()), events[-1]["occurred_at"], out, book)


async def on_next_channel(
    conn: psycopg.AsyncConnection, events: list[Event], out: Outbox, book: ServiceBook
) -> None:
    """The customer asks for the next step now: started at once if the step in progress has
    its outcome, else as soon as it has (its deadline is now)."""
    calls = await locked_calls(conn, [e["call_id"] for e in events])
    due = {}
    for e in events:
        call = calls.get(e["call_id"])
        if call is None or not call.open or call.at.index != e["step"] or not call.at.has_next:
            continue
        if call.step_status == StepStatus.STARTED:
            await conn.execute(
                "UPDATE proc_calls SET step_deadline = %s WHERE id = %s",
                (e["occurred_at"], call.id),
            )
        elif call.step_status in (StepStatus.DELIVERED, StepStatus.ENDING):
            due[call.id] = call
    if due:
        await start_next(conn, list(due.values()), events[-1]["occurred_at"], out, book)
