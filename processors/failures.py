"""What a consumer does when a batch cannot be applied, as Kafka Connect's error handling has it:

- a **transient** failure (PostgreSQL restarting or unreachable, a deadlock, the broker away, an
  event of another topic not applied yet) is retried with backoff, without limit: the worker
  heals by itself when the dependency is back;
- a **deterministic** failure (a data error, a violated constraint, a record that does not
  decode, a bug) is retried a few times, then the batch is split until the failing record is
  alone, and that record is either **parked** (set aside in the dead-letter topic, counted and
  logged; the consumer goes on) or **stops** the consumer at it (where order is part of
  exactness: nothing after it is applied until it is), by the consumer's policy;
- a partition whose stored position is past its end (the broker lost or recreated it) always
  stops: its records would otherwise be taken for ones already applied.

Which consumer parks and which stops, and why: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from psycopg_pool import AsyncConnectionPool

from core.faults import is_transient
from core.positions import Position, PositionPastEnd, past_end
from processors.batches import (
    BatchResult,
    Consumed,
    Handler,
    PoisonRecord,
    RetryLater,
    apply_records,
    park_record,
)
from producers.event_producer import EventProducer

log = logging.getLogger(__name__)

# A deterministic failure is tried this often before the batch is split (a handful of tries
# also covers failures that are transient in a way no classification foresees).
DETERMINISTIC_TRIES = 3
BACKOFF_START = 0.05
BACKOFF_CAP = 5.0
# A consumer stopped at a record tries it again this often (a fix in the data may free it).
STOPPED_RETRY_SECONDS = 60.0
# A transient failure that lasts is logged again this often.
REMIND_EVERY = 30.0
# This many records parked in a row is no bad record but a systemic fault (a bad deploy, a
# missing table): the consumer stops instead of parking everything.
PARK_STREAK_LIMIT = 100


class Policy(StrEnum):
    PARK = "park"  # set the record aside in the dead-letter topic and go on
    STOP = "stop"  # hold at the record: what follows it depends on it


@dataclass
class Runner:
    """Applies one consumer's batches whatever happens (see the module's docstring)."""

    pool: AsyncConnectionPool
    producer: EventProducer | None
    consumer: str
    handler: Handler
    policy: Policy
    bootstrap: str
    after_commit: Callable[[], Awaitable[None]] | None = None
    # The high watermark the consuming client last saw for a partition, if it knows one.
    highwater: Callable[[str, int], int | None] = lambda _t, _p: None
    parked: int = 0
    stopped: dict[Position, str] = field(default_factory=dict)
    _park_streak: int = 0

    async def run(self, records: Sequence[Consumed]) -> None:
        """Apply `records` in order; returns once each is applied or parked (a stopped
        consumer does not return until its record applies)."""
        while records:
            try:
                await self._attempt(records)
                return
            except PoisonRecord as poison:
                at = records.index(poison.record)
                await self.run(records[:at])
                await self._set_aside(poison.record, poison.reason)
                records = records[at + 1 :]
            except Exception as exc:
                if len(records) == 1:
                    await self._set_aside(records[0], f"{type(exc).__name__}: {exc}")
                    return
                # Split until the failing record is alone; the halves keep their order.
                middle = len(records) // 2
                await self.run(records[:middle])
                records = records[middle:]

    async def _attempt(self, records: Sequence[Consumed]) -> None:
        """One transaction for `records`: transient failures are waited out, a deterministic
        one is tried DETERMINISTIC_TRIES times, then raised."""
        delay, tries, since = BACKOFF_START, 0, time.monotonic()
        reminded = 0.0
        while True:
            try:
                result = await apply_records(
                    self.pool, self.producer, self.consumer, records, self.handler
                )
            except PoisonRecord:
                raise
            except Exception as exc:
                waited = time.monotonic() - since
                if isinstance(exc, RetryLater) or is_transient(exc):
                    if waited - reminded >= REMIND_EVERY or reminded == 0.0:
                        reminded = max(waited, 1e-9)
                        log.warning(
                            "%s: waiting for a dependency (%.0f s so far): %r",
                            self.consumer,
                            waited,
                            exc,
                        )
                else:
                    tries += 1
                    log.warning(
                        "%s: batch of %d from %s failed (try %d of %d): %r",
                        self.consumer,
                        len(records),
                        records[0].where,
                        tries,
                        DETERMINISTIC_TRIES,
                        exc,
                    )
                    if tries >= DETERMINISTIC_TRIES:
                        raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)
                continue
            if reminded:
                log.warning("%s: going on after %.1f s", self.consumer, time.monotonic() - since)
            self._park_streak = 0
            await self._check_behind(result)
            if self.after_commit is not None:
                await self.after_commit()
            return

    async def _set_aside(self, record: Consumed, reason: str) -> None:
        if self.policy is Policy.PARK and self._park_streak < PARK_STREAK_LIMIT:
            if await self._park(record, reason):
                self.parked += 1
                self._park_streak += 1
                log.error(
                    "%s parked %s in %s: %s (parked so far: %d; re-drive with"
                    " `python -m processors.dlq redrive`)",
                    self.consumer,
                    record.where,
                    "flashcall.dead-letters",
                    reason,
                    self.parked,
                )
            return
        if self.policy is Policy.PARK:
            reason = f"{PARK_STREAK_LIMIT} records in a row could not be applied; last: {reason}"
        await self._stop_at(record, reason)

    async def _park(self, record: Consumed, reason: str) -> bool:
        delay = BACKOFF_START
        while True:
            try:
                return await park_record(self.pool, self.producer, self.consumer, record, reason)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("%s: waiting to park %s: %r", self.consumer, record.where, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)

    async def _stop_at(self, record: Consumed, reason: str) -> None:
        """Hold the consumer at `record` (order is part of exactness), trying it again now and
        then, until it applies."""
        where = (record.topic, record.partition)
        self.stopped[where] = reason
        while True:
            log.error(
                "%s STOPPED at %s: %s; nothing after it is applied until it is (tried again"
                " every %.0f s; fix the cause, see docs/reliability.md)",
                self.consumer,
                record.where,
                reason,
                STOPPED_RETRY_SECONDS,
            )
            await asyncio.sleep(STOPPED_RETRY_SECONDS)
            try:
                await self._attempt([record])
            except Exception as exc:
                reason = f"{type(exc).__name__}: {exc}"
                continue
            del self.stopped[where]
            log.warning("%s: %s applied; going on", self.consumer, record.where)
            return

    async def _check_behind(self, result: BatchResult) -> None:
        """Records below the stored offset were skipped: fine for a replay, fatal for a
        partition recreated under us. A watermark below the stored offset is the tell; the
        broker is then asked (a fetch, not the watermark a client cached), and if the stored
        position is really past the end the consumer stops here."""
        suspects = {
            where: stored
            for where, stored in result.behind.items()
            if (high := self.highwater(*where)) is not None and high < stored
        }
        while suspects:
            try:
                past = await asyncio.to_thread(past_end, self.bootstrap, suspects)
            except Exception as exc:  # the broker did not answer: ask again
                log.warning(
                    "%s: could not check %s against the broker: %r", self.consumer, suspects, exc
                )
                await asyncio.sleep(BACKOFF_CAP)
                continue
            for where in set(suspects) - set(past):
                self.stopped.pop(where, None)
            if not past:
                return
            error = PositionPastEnd(self.consumer, past)
            for where in past:
                self.stopped[where] = str(error)
            log.error("%s", error)
            await asyncio.sleep(STOPPED_RETRY_SECONDS)
            suspects = {where: stored for where, (stored, _) in past.items()}
