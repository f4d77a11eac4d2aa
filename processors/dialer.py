"""The dialer: places each PlaceCall through the carrier, at most once per call id.

The claim of a call id is committed with the consumed offset before the carrier is asked, so a
redelivered command never rings a phone twice. The outcome (CallDelivered or CallFailed) carries
when the dial began; a dial still going on after `notice_after` seconds is told by a DialStarted
as well (best effort: most dials end sooner, and their outcome says all). Dials run
concurrently up to a bound; the agent waits for a free slot (backpressure).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.call_rules import FailReason
from core.faults import is_transient
from core.ids import derived_id
from core.logs import bind
from processors.carriers import Carrier, DialResult
from runtime.outbox import Outbox, Publisher
from schemas.codec import Event, new_event

log = logging.getLogger(__name__)

CONSUMER = "dialer"


class Dialer:
    # The dial machinery below (slots, the carrier, publishing, retries) is marked "no mutate
    # block": mutation testing runs the fast tests, and this is tested with the broker
    # (tests/integration/test_dialer.py, the e2e kill tests); docs/testing.md.
    def __init__(
        self,
        pool: AsyncConnectionPool,
        publisher: Publisher,
        carrier: Carrier,
        concurrency: int,
        notice_after: float = 1.0,
    ) -> None:  # pragma: no mutate block
        self._pool = pool
        self._publisher = publisher
        self._carrier = carrier
        self._slots = asyncio.Semaphore(concurrency)
        self._notice_after = notice_after
        self._tasks: set[asyncio.Task[None]] = set()
        self._claimed: list[Event] = []
        self._outcomes: list[Event] = []
        self._writer: asyncio.Task[None] | None = None

    # The one event type this consumer is delivered; a claim is keyed by its call, so a copy
    # of a command claims (and rings) nothing.
    handles = frozenset({"PlaceCall"})
    deduplicated: frozenset[str] = frozenset()

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        """Batch handler: claim the call ids never claimed; they are dialled once the batch has
        committed."""
        # Called once per attempt at the batch: a rolled-back attempt's claims are forgotten.
        self._claimed = []
        commands = {e["call_id"]: e for e in events}
        if not commands:
            return
        rows = await (
            await conn.execute(
                "INSERT INTO dials (call_id, service_id)"
                " SELECT * FROM unnest(%b::uuid[], %b::uuid[])"
                " ON CONFLICT (call_id) DO NOTHING RETURNING call_id, claimed_at",
                (list(commands), [c["service_id"] for c in commands.values()]),
            )
        ).fetchall()
        self._claimed = [{**commands[call_id], "dialed_at": at} for call_id, at in rows]

    async def start_claimed(self) -> None:  # pragma: no mutate block
        """Start the dials claimed by the last committed batch, waiting for free slots."""
        claimed, self._claimed = self._claimed, []
        for command in claimed:
            await self._slots.acquire()
            task = asyncio.create_task(self._dial(command))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _dial(self, command: Event) -> None:  # pragma: no mutate block
        """Ask the carrier; the slot is free again as soon as it answered (the outcome is
        recorded with the others that are waiting, by one writer). Lines logged meanwhile (the
        carrier's too) carry the call and its service."""
        with bind(call_id=command["call_id"], service_id=command["service_id"]):
            await self._dial_bound(command)

    async def _dial_bound(self, command: Event) -> None:  # pragma: no mutate block
        dial = asyncio.ensure_future(
            self._carrier.dial(command["call_id"], command["phone"], command["caller_number"])
        )
        try:
            done, _ = await asyncio.wait({dial}, timeout=self._notice_after)
            if not done:
                await self._tell_started(command)
            result = await dial
        except Exception:
            log.exception("carrier failed on call %s", command["call_id"])
            result = None
        finally:
            self._slots.release()
        outcome = dial_outcome(command, result)
        count_outcome(outcome)
        self._outcomes.append(outcome)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._record_outcomes(), name="dial-outcomes")
        if result is not None and result.answered is not None:
            await self._record_if_answered(command, result.answered)

    async def _record_if_answered(
        self, command: Event, answered: asyncio.Future[bool]
    ) -> None:  # pragma: no mutate block
        """Once the dialog is over: a call someone picked up is recorded as answered (it costs
        money). The dial's slot is already free; this only waits."""
        if not await answered:
            return
        metrics.CALLS_ANSWERED.inc()
        outbox = Outbox()
        outbox.emit(
            new_event(
                "CallAnswered",
                event_id=str(derived_id(command["call_id"], "CallAnswered")),
                call_id=command["call_id"],
                service_id=command["service_id"],
            )
        )
        delay = 0.05
        while True:
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    await outbox.write(conn)
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        await self._publisher.publish(outbox)

    async def _tell_started(self, command: Event) -> None:  # pragma: no mutate block
        """Say that a long dial is under way (not recorded: if it is lost, the outcome tells)."""
        try:
            await self._publisher.producer.append(
                new_event(
                    "DialStarted",
                    event_id=str(derived_id(command["call_id"], "DialStarted")),
                    occurred_at=command["dialed_at"],
                    call_id=command["call_id"],
                    service_id=command["service_id"],
                )
            )
        except Exception as exc:
            log.warning("dialer: could not tell that call %s rings: %r", command["call_id"], exc)

    async def _record_outcomes(self) -> None:  # pragma: no mutate block
        """Record every outcome waiting, a transaction at a time (those that came while one
        was written go in the next). While PostgreSQL is away it keeps trying: the phone rang,
        and that must not be lost; if the worker dies meanwhile, fail_abandoned ends the
        claims."""
        while self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            delay = 0.05
            while True:
                try:
                    outbox = await self._write_outcomes(outcomes)
                    break
                except Exception as exc:
                    if not is_transient(exc):
                        log.exception("could not record %d dial outcomes", len(outcomes))
                        return
                    log.warning("dialer: waiting to record %d outcomes: %r", len(outcomes), exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            await self._publisher.publish(outbox)

    async def _write_outcomes(self, outcomes: list[Event]) -> Outbox:  # pragma: no mutate block
        """Record the outcomes of the dials still undecided, with their events. A dial that
        fail_abandoned failed meanwhile (PostgreSQL was away for longer than
        FLASHCALL_DIAL_ABANDON_SECONDS, so its worker looked dead) keeps that outcome: a call
        has one outcome, under one event id (outcome_event), and a second one would be dropped
        as a copy by one consumer and applied by another (the call shown delivered, never
        charged)."""
        outbox = Outbox()
        async with self._pool.connection() as conn, conn.transaction():
            rows = await (
                await conn.execute(
                    "UPDATE dials d SET outcome = o.outcome"
                    " FROM unnest(%b::uuid[], %b::text[]) AS o(call_id, outcome)"
                    " WHERE d.call_id = o.call_id AND d.outcome IS NULL RETURNING d.call_id",
                    (
                        [e["call_id"] for e in outcomes],
                        [e["event_type"] for e in outcomes],
                    ),
                )
            ).fetchall()
            undecided = {str(call_id) for (call_id,) in rows}
            for event in outcomes:
                if str(event["call_id"]) in undecided:
                    outbox.emit(event)
                else:
                    log.warning(  # the sweep's, or this write's own if a commit was lost
                        "dialer: call %s already had an outcome; its %s is not recorded",
                        event["call_id"],
                        event["event_type"],
                    )
            await outbox.write(conn)
        return outbox

    async def fail_abandoned(self, older_than_seconds: float) -> int:
        """Calls claimed by a worker that died mid-dial get an outcome: carrier_error."""
        outbox = Outbox()
        async with self._pool.connection() as conn, conn.transaction():
            rows = await (
                await conn.execute(
                    "UPDATE dials SET outcome = 'CallFailed' WHERE outcome IS NULL"
                    " AND claimed_at < now() - make_interval(secs => %s)"
                    " RETURNING call_id, service_id, claimed_at",
                    (older_than_seconds,),
                )
            ).fetchall()
            for call_id, service_id, claimed_at in rows:
                outbox.emit(
                    outcome_event(
                        "CallFailed",
                        call_id=call_id,
                        service_id=service_id,
                        reason=FailReason.CARRIER_ERROR,
                        dialed_at=claimed_at,
                    )
                )
            await outbox.write(conn)
        await self._publisher.publish(outbox)
        if rows:
            log.warning("dialer: failed %d dials abandoned by their workers", len(rows))
        return len(rows)

    async def drain(self) -> None:  # pragma: no mutate block
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


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


def count_outcome(outcome: Event) -> None:  # pragma: no mutate block
    delivered = outcome["event_type"] == "CallDelivered"
    kind = "delivered" if delivered else "failed"
    metrics.DIAL_OUTCOMES.labels(kind, "" if delivered else outcome["reason"]).inc()
    if outcome.get("dialed_at") is not None:
        seconds = (outcome["occurred_at"] - outcome["dialed_at"]).total_seconds()
        metrics.DIAL_TO_OUTCOME.labels(kind).observe(max(seconds, 0.0))


def outcome_event(event_type: str, **fields: Any) -> Event:
    """A call has one dial outcome: its id is fixed by the call id."""
    return new_event(event_type, event_id=str(derived_id(fields["call_id"], "outcome")), **fields)
