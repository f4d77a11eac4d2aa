"""The dialer: places each PlaceCall through the carrier, at most once per call id. What it
writes, and the rules it writes by, are processors/dial_records.py; this is the machinery
(slots, the carrier, retries, publishing).

The claim of a call id is committed with the consumed offset before the carrier is asked, so a
redelivered command never rings a phone twice. The worker keeps the claims it holds (queued for
a slot or dialling, until their outcome is recorded) alive, so that only a dead worker's claims
are failed as abandoned. The outcome (CallDelivered or CallFailed) carries when the dial began;
a dial still going on after `notice_after` seconds is told by a DialStarted as well (best
effort: most dials end sooner, and their outcome says all). Dials run concurrently up to a
bound; the agent waits for a free slot (backpressure).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.faults import until_back
from core.logs import bind, bind_task
from processors import dial_records
from processors.carriers import Carrier, DialResult
from processors.sms import SmsCarrier
from runtime.outbox import Outbox, Publisher
from schemas.codec import Event

log = logging.getLogger(__name__)

CONSUMER = "dialer"


class Dialer:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        publisher: Publisher,
        carrier: Carrier,
        concurrency: int,
        notice_after: float = 1.0,
        sms: SmsCarrier | None = None,
        sms_sender: str = "FlashCall",
    ) -> None:
        self._pool = pool
        self._publisher = publisher
        self._carrier = carrier
        self._sms = sms
        self._sms_sender = sms_sender
        self._slots = asyncio.Semaphore(concurrency)
        self._notice_after = notice_after
        self._tasks: set[asyncio.Task[None]] = set()
        self._claimed: list[Event] = []
        # The claims this worker holds, from their batch's commit until their outcome is
        # recorded: kept alive (keep_claims_alive) however long they queue for a slot or ring.
        self._held: set[Any] = set()
        self._outcomes: list[Event] = []
        self._writer: asyncio.Task[None] | None = None

    # The event types this consumer is delivered; a claim is keyed by its call and step, so a
    # copy of a command claims (and rings or sends) nothing.
    handles = frozenset({"PlaceCall", "SendSms"})
    deduplicated: frozenset[str] = frozenset()

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        """Batch handler: claim the call ids never claimed; they are dialled once the batch has
        committed."""
        # Called once per attempt at the batch: a rolled-back attempt's claims are forgotten.
        self._claimed = []
        self._claimed = await dial_records.claim(conn, events)

    async def start_claimed(self) -> None:
        """Start the dials claimed by the last committed batch, waiting for free slots."""
        claimed, self._claimed = self._claimed, []
        self._held.update(_claim_of(command) for command in claimed)
        for command in claimed:
            await self._slots.acquire()
            self._start(self._dial(command))

    async def _dial(self, command: Event) -> None:
        """Ask the carrier (a task of its own: lines logged meanwhile, the carrier's too, carry
        the call and its service); the slot is free again as soon as it answered (the outcome
        is recorded with the others that are waiting, by one writer). A dial still going on
        after `notice_after` seconds is told by a DialStarted (a timer, not a second task per
        dial: most dials end sooner)."""
        bind_task(call_id=command["call_id"], service_id=command["service_id"])
        notice = asyncio.get_running_loop().call_later(
            self._notice_after, self._notice_started, command
        )
        try:
            result: DialResult | None = await self._place(command)
        except Exception:
            log.exception("carrier failed on call %s", command["call_id"])
            result = None
        finally:
            notice.cancel()
            self._slots.release()
        self._outcome(command, result)
        if result is not None and result.answered is not None:
            await self._record_if_answered(command, result.answered)

    def _notice_started(self, command: Event) -> None:
        self._start(self._tell_started(command))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as a task of its own, kept until it ends (`drain` waits for it)."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _place(self, command: Event) -> DialResult:
        """Ring the phone (PlaceCall) or send the SMS (SendSms)."""
        if command["event_type"] == "SendSms":
            if self._sms is None:
                raise RuntimeError("this dialer has no SMS carrier")
            return await self._sms.send(command, self._sms_sender)
        return await self._carrier.dial(
            command["call_id"], command["phone"], command["caller_number"], command.get("trunk")
        )

    def _outcome(self, command: Event, result: DialResult | None) -> None:
        """Record the step's outcome with the others waiting (by one writer)."""
        outcome = dial_records.dial_outcome(command, result)
        count_outcome(outcome)
        self._outcomes.append(outcome)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._record_outcomes(), name="dial-outcomes")

    async def record_late(self, command: Event, result: DialResult) -> None:
        """An outcome that came after the worker that waited for it was gone (an SMS delivery
        report): recorded like any other, unless its claim already has one."""
        with bind(call_id=command["call_id"], service_id=command["service_id"]):
            self._outcome(command, result)

    async def _record_if_answered(self, command: Event, answered: asyncio.Future[bool]) -> None:
        """Once the dialog is over: a call someone picked up is recorded as answered (it costs
        money). The dial's slot is already free; this only waits."""
        if not await answered:
            return
        metrics.CALLS_ANSWERED.inc()
        outbox = Outbox()
        outbox.emit(dial_records.answered_event(command))

        async def write() -> None:
            async with self._pool.connection() as conn, conn.transaction():
                await outbox.write(conn)

        await until_back(write)
        await self._publisher.publish(outbox)

    async def _tell_started(self, command: Event) -> None:
        """Say that a long dial is under way (not recorded: if it is lost, the outcome tells)."""
        try:
            await self._publisher.producer.append(dial_records.started_event(command))
        except Exception as exc:
            log.warning("dialer: could not tell that call %s rings: %r", command["call_id"], exc)

    async def _record_outcomes(self) -> None:
        """Record every outcome waiting, a transaction at a time (those that came while one
        was written go in the next). While PostgreSQL is away it keeps trying: the phone rang,
        and that must not be lost; if the worker dies meanwhile, fail_abandoned ends the
        claims."""
        while self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            recorded = await self._recorded(outcomes)
            self._held.difference_update(_claim_of(outcome) for outcome in outcomes)
            for outbox in recorded:
                await self._publisher.publish(outbox)

    async def _recorded(self, outcomes: list[Event]) -> list[Outbox]:
        """The outcomes written (their outboxes), waiting out PostgreSQL while it is away. A
        batch it refuses for good is written one outcome at a time, so that an outcome that
        can never be recorded holds no other back: that one is logged with its call and
        counted (flashcall_dial_outcomes_unrecorded_total), and fail_abandoned ends its claim
        as carrier_error."""
        try:
            return [
                await until_back(
                    lambda: self._write_outcomes(outcomes),
                    lambda exc: log.warning(
                        "dialer: waiting to record %d outcomes: %r", len(outcomes), exc
                    ),
                )
            ]
        except Exception as exc:
            refused = exc
        if len(outcomes) > 1:
            return [o for outcome in outcomes for o in await self._recorded([outcome])]
        metrics.DIAL_OUTCOMES_UNRECORDED.inc()
        log.error(
            "dialer: the %s of call %s cannot be recorded; its claim ends as carrier_error",
            outcomes[0]["event_type"],
            outcomes[0]["call_id"],
            exc_info=refused,
        )
        return []

    async def _write_outcomes(self, outcomes: list[Event]) -> Outbox:
        outbox = Outbox()
        async with self._pool.connection() as conn, conn.transaction():
            await dial_records.write_outcomes(conn, outcomes, outbox)
            await outbox.write(conn)
        return outbox

    async def keep_claims_alive(self) -> None:
        """Say that this worker still holds its claims (nothing to say while it holds none)."""
        held = list(self._held)
        if held:
            async with self._pool.connection() as conn, conn.transaction():
                await dial_records.keep_alive(conn, held)

    async def fail_abandoned(self, older_than_seconds: float) -> int:
        """Calls claimed by a worker that died mid-dial (none kept them alive for
        `older_than_seconds`) get an outcome: carrier_error."""
        outbox = Outbox()
        async with self._pool.connection() as conn, conn.transaction():
            failed = await dial_records.fail_abandoned(conn, older_than_seconds, outbox)
            await outbox.write(conn)
        await self._publisher.publish(outbox)
        if failed:
            log.warning("dialer: failed %d dials abandoned by their workers", failed)
        return failed

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)


def _claim_of(step: Event) -> Any:
    """The claim of a command or of its outcome (both name the call and the step)."""
    return dial_records.claim_id(step["call_id"], step.get("step", 0))


def count_outcome(outcome: Event) -> None:
    delivered = outcome["event_type"] == "CallDelivered"
    kind = "delivered" if delivered else "failed"
    metrics.DIAL_OUTCOMES.labels(kind, "" if delivered else outcome["reason"]).inc()
    if outcome.get("dialed_at") is not None:
        seconds = (outcome["occurred_at"] - outcome["dialed_at"]).total_seconds()
        metrics.DIAL_TO_OUTCOME.labels(kind).observe(max(seconds, 0.0))
