"""What a consumer does when a batch cannot be applied, as Kafka Connect's error handling has it:

- a **transient** failure (PostgreSQL restarting or unreachable, a deadlock, the broker away) is
  retried with backoff, without limit: the worker heals by itself when the dependency is back;
- a record that **waits for an event of another topic** not applied yet (RetryLater) is retried
  for a moment; if it still waits, its partition is **held** at it for a short while and the
  other partitions go on: the event it waits for may be in one of them, on this very consumer;
- a **deterministic** failure (a data error, a violated constraint, a bug) is retried a few
  times, then the batch is split until the failing record is alone, and that record is either
  **parked** (set aside in the dead-letter topic, counted and logged; the consumer goes on) or
  **stops its partition** (where order is part of exactness: nothing after it in the partition
  is applied until it is), by the consumer's policy;
- a record no known schema can read (written by a newer build, or broken) stops its
  partition, whatever the policy, unless the operator chose to park such records
  (FLASHCALL_PARK_UNDECODABLE): it is never skipped;
- a partition whose stored position is past its end (the broker lost or recreated it) always
  stops: its records would otherwise be taken for ones already applied.

A stopped partition is the caller's to pause and to offer again later (runtime/partitioned.py);
other partitions go on. Which consumer parks and which stops, and why: docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.faults import is_transient, until_back
from core.positions import Position, PositionPastEnd, past_end
from runtime.batches import (
    BatchResult,
    Consumed,
    Consumer,
    PoisonRecord,
    RetryLater,
    apply_records,
    park_record,
)
from runtime.outbox import Publisher
from schemas.codec import Event

log = logging.getLogger(__name__)

# A deterministic failure is tried this often before the batch is split (a handful of tries
# also covers failures that are transient in a way no classification foresees).
DETERMINISTIC_TRIES = 3
BACKOFF_START = 0.05
BACKOFF_CAP = 5.0
# A transient failure that lasts is logged again this often.
REMIND_EVERY = 30.0
# This many records parked in a row is no bad record but a systemic fault (a bad deploy, a
# missing table): the partition stops instead of parking everything.
PARK_STREAK_LIMIT = 100
# A batch that waits for an event of another topic is retried whole this long (the other
# topic's consumer, maybe another worker, is usually about to apply it); then the waiting
# record's partition is held for HOLD_SECONDS while the others go on.
RETRY_LATER_PATIENCE = 0.2
HOLD_SECONDS = 0.25
# A stopped partition is tried again this often (a fix in the data, or a build that reads
# the record, frees it).
STOPPED_RETRY_SECONDS = 60.0


# What the decisions' committed events count (once the transaction holding them committed).
COUNTED_WHEN_EMITTED: dict[str, Callable[[Event], None]] = {
    "PlaceCall": lambda e: metrics.CALLS_DECIDED.labels("admitted", "").inc(),
    "CallRejected": lambda e: metrics.CALLS_DECIDED.labels("rejected", e["reason"]).inc(),
    "ServiceCutOff": lambda e: metrics.CREDIT_EVENTS.labels("cut_off").inc(),
    "ServiceRestored": lambda e: metrics.CREDIT_EVENTS.labels("restored").inc(),
    "CreditLow": lambda e: metrics.CREDIT_EVENTS.labels("low").inc(),
    "AccountCutOff": lambda e: metrics.CREDIT_EVENTS.labels("account_cut_off").inc(),
    "AccountRestored": lambda e: metrics.CREDIT_EVENTS.labels("account_restored").inc(),
    "AccountCreditLow": lambda e: metrics.CREDIT_EVENTS.labels("account_low").inc(),
    "FraudSuspected": lambda e: metrics.FRAUD_BLOCKS.inc(),
}


class Policy(StrEnum):
    PARK = "park"  # set the record aside in the dead-letter topic and go on
    STOP = "stop"  # hold the partition at the record: what follows it depends on it


@dataclass(frozen=True)
class Stopped:
    """A partition held at `offset` (the next record to apply), and why; offered again after
    `retry_in` seconds. A `waiting` one waits for another topic (no fault of its own)."""

    offset: int
    reason: str
    retry_in: float = STOPPED_RETRY_SECONDS
    waiting: bool = False


@dataclass
class Runner:
    """Applies one consumer's batches whatever happens (see the module's docstring)."""

    pool: AsyncConnectionPool
    publisher: Publisher | None
    name: str
    consumer: Consumer
    policy: Policy
    bootstrap: str
    after_commit: Callable[[], Awaitable[None]] | None = None
    # The high watermark the consuming client last saw for a partition, if it knows one.
    highwater: Callable[[str, int], int | None] = lambda _t, _p: None
    park_undecodable: bool = False
    parked: int = 0
    stopped: dict[Position, Stopped] = field(default_factory=dict)
    # The next offset stored for each partition this runner applied (for the lag).
    positions: dict[Position, int] = field(default_factory=dict)
    _park_streak: int = 0
    # How long a batch that waits for another topic is retried whole before its waiting record
    # is looked for and held.
    _patience: float = RETRY_LATER_PATIENCE
    _held_logged: dict[Position, float] = field(default_factory=dict)

    async def run(self, records: Sequence[Consumed]) -> None:
        """Apply `records` in order; returns once each is applied, parked, or held in a
        stopped partition (`stopped`; records of a stopped partition are left alone)."""
        records = self._not_stopped(records)
        while records:
            try:
                await self._attempt(records)
                return
            except RetryLater as exc:
                # Still waiting after a moment: find the record that waits, hold its partition
                # and let the others go on (the event it waits for may be among them).
                if len(records) == 1:
                    self.hold(records[0], exc)
                    return
                middle = len(records) // 2
                await self._run_impatient(records[:middle])
                await self._run_impatient(self._not_stopped(records[middle:]))
                return
            except PoisonRecord as poison:
                at = records.index(poison.record)
                await self.run(records[:at])
                if self.park_undecodable:
                    await self._set_aside(poison.record, poison.reason, Policy.PARK)
                else:
                    self.stop(poison.record, f"no known schema reads it: {poison.reason}")
                records = self._not_stopped(records[at + 1 :])
            except Exception as exc:
                if len(records) == 1:
                    await self._set_aside(records[0], f"{type(exc).__name__}: {exc}", self.policy)
                    return
                # Split until the failing record is alone; the halves keep their order.
                middle = len(records) // 2
                await self.run(records[:middle])
                records = self._not_stopped(records[middle:])

    async def _run_impatient(self, records: Sequence[Consumed]) -> None:
        """`run` without the moment's patience for RetryLater (the search for the record that
        waits costs a rolled-back transaction per halving, not a wait)."""
        patience, self._patience = self._patience, 0.0
        try:
            await self.run(records)
        finally:
            self._patience = patience

    def hold(self, record: Consumed, exc: RetryLater) -> None:
        """Hold `record`'s partition at it for HOLD_SECONDS: it waits for another topic."""
        where = (record.topic, record.partition)
        self.stopped[where] = Stopped(record.offset, repr(exc), HOLD_SECONDS, waiting=True)
        now = time.monotonic()
        if now - self._held_logged.get(where, -REMIND_EVERY) >= REMIND_EVERY:
            self._held_logged[where] = now
            log.warning("%s holds %s a moment: it waits for %r", self.name, record.where, exc)

    def stop(self, record: Consumed, reason: str) -> None:
        """Hold `record`'s partition at it (order is part of exactness)."""
        self.stopped[(record.topic, record.partition)] = Stopped(record.offset, reason)
        log.error(
            "%s STOPPED at %s: %s; nothing after it in the partition is applied until it is"
            " (other partitions go on; it is tried again now and then; docs/reliability.md)",
            self.name,
            record.where,
            reason,
        )

    def _not_stopped(self, records: Sequence[Consumed]) -> list[Consumed]:
        return [r for r in records if (r.topic, r.partition) not in self.stopped]

    async def _attempt(self, records: Sequence[Consumed]) -> None:
        """One transaction for `records`: transient failures are waited out, a deterministic
        one is tried DETERMINISTIC_TRIES times, then raised."""
        delay, tries, since = BACKOFF_START, 0, time.monotonic()
        started = since
        reminded = 0.0
        while True:
            try:
                result = await apply_records(
                    self.pool, self.publisher, self.name, records, self.consumer
                )
            except PoisonRecord:
                raise
            except Exception as exc:
                waited = time.monotonic() - since
                if isinstance(exc, RetryLater) and waited >= self._patience:
                    raise
                if isinstance(exc, RetryLater) or is_transient(exc):
                    if waited - reminded >= REMIND_EVERY or reminded == 0.0:
                        reminded = max(waited, 1e-9)
                        log.warning(
                            "%s: waiting for a dependency (%.0f s so far): %r",
                            self.name,
                            waited,
                            exc,
                        )
                else:
                    tries += 1
                    log.warning(
                        "%s: batch of %d from %s failed (try %d of %d): %r",
                        self.name,
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
                log.warning("%s: going on after %.1f s", self.name, time.monotonic() - since)
            self._park_streak = 0
            self._count(len(records), time.monotonic() - started, result)
            await self._check_behind(result)
            if self.after_commit is not None:
                await self.after_commit()
            return

    def _count(self, records: int, seconds: float, result: BatchResult) -> None:
        metrics.BATCH_SIZE.labels(self.name).observe(records)
        metrics.BATCH_DURATION.labels(self.name).observe(seconds)
        for event_type, n in result.types.items():
            metrics.EVENTS_APPLIED.labels(self.name, event_type).inc(n)
        for event in result.emitted:
            count = COUNTED_WHEN_EMITTED.get(event["event_type"])
            if count is not None:
                count(event)
        self.positions.update(result.stored)

    async def _set_aside(self, record: Consumed, reason: str, policy: Policy) -> None:
        if policy is Policy.STOP:
            self.stop(record, reason)
        elif self._park_streak >= PARK_STREAK_LIMIT:
            self.stop(
                record, f"{PARK_STREAK_LIMIT} records in a row could not be applied: {reason}"
            )
        elif await self._park(record, reason):
            self.parked += 1
            metrics.RECORDS_PARKED.labels(self.name).inc()
            self.positions[(record.topic, record.partition)] = record.offset + 1
            self._park_streak += 1
            log.error(
                "%s parked %s in flashcall.dead-letters: %s (parked so far: %d; re-drive with"
                " `python -m processors.dlq redrive`)",
                self.name,
                record.where,
                reason,
                self.parked,
            )

    async def _park(self, record: Consumed, reason: str) -> bool:
        return await until_back(
            lambda: park_record(self.pool, self.publisher, self.name, record, reason),
            lambda exc: log.warning("%s: waiting to park %s: %r", self.name, record.where, exc),
            BACKOFF_START,
            BACKOFF_CAP,
        )

    async def _check_behind(self, result: BatchResult) -> None:
        """Records below the stored offset were skipped: fine for a replay or two workers
        overlapping in a rebalance, fatal for a partition recreated under us. A watermark
        below the stored offset is the tell; the broker is then asked (a fetch, not the
        watermark a client cached), and a stored position past the end stops the partition."""
        suspects = {
            where: stored
            for where, stored in result.behind.items()
            if (high := self.highwater(*where)) is not None and high < stored
        }
        if not suspects:
            return
        delay = BACKOFF_START
        while True:
            try:
                past = await asyncio.to_thread(past_end, self.bootstrap, suspects)
                break
            except Exception as exc:  # the broker did not answer: ask again
                log.warning("%s: could not check %s: %r", self.name, suspects, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_CAP)
        if past:
            reason = str(PositionPastEnd(self.name, past))
            for where, (stored, _) in past.items():
                self.stopped[where] = Stopped(stored, reason)
            log.error("%s", reason)
