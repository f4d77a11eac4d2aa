"""One consumer (decisions, dialer or projection) reading its topics in batches with
confluent-kafka, positioned from PostgreSQL.

The consumer joins its group (`flashcall-<name>`; librdkafka does the rebalancing) and, on
every assignment, starts each partition at the offset PostgreSQL stored with the effects of
the last record applied: never at an offset the broker remembers, so nothing is skipped
whatever was committed, acknowledged or lost elsewhere. Records are applied through the
Runner (runtime/failures.py). A partition the Runner stops or holds is paused here, other
partitions go on, and it is offered again from its stopped record when its time comes
(failures.STOPPED_RETRY_SECONDS for a stop; a moment for a record that waits for another topic).

The group is the consumer's current generation's (runtime/consumer_groups.py): a consumer
that waits longer than `stuck_seconds` for its partitions moves to the next one, and one
that finds its consumer moved follows. A pattern's consumer (the tenants' ingress) counts its
wait from when a topic it matches is first seen: while none exists, it has nothing to wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from core import metrics
from core.faults import is_transient, until_back
from core.logs import bind
from core.positions import Position, PositionPastEnd, past_end, stored_positions
from runtime import consumer_groups
from runtime.batches import Consumed
from runtime.failures import Runner, Stopped

log = logging.getLogger(__name__)

# How often a consumer looks up the group its workers are in: while it waits for partitions,
# and while it holds them (another worker may have moved while this one was given some).
GROUP_CHECK_WAITING = 2.0
GROUP_CHECK_HOLDING = 30.0
# How often a pattern's consumer that waits asks the broker for a topic it matches (the ingress
# with no tenant topic: it joins no group, so it waits for as long as none exists).
GROUP_CHECK_UNMATCHED = 10.0


@dataclass(frozen=True)
class ConsumerConfig:
    bootstrap: str
    database_url: str
    group: str  # the group of generation 0 (runtime/consumer_groups.py)
    topics: tuple[str, ...]
    batch_size: int
    fetch_wait_ms: int
    session_timeout_ms: int
    # For a pattern subscription: how often librdkafka looks for new matching topics.
    metadata_refresh_ms: int | None = None
    # Waiting this long for partitions, the consumer moves to a new group (None: never).
    stuck_seconds: float | None = None


@dataclass
class PartitionedConsumer:
    config: ConsumerConfig
    runner: Runner
    # Set once the consumer holds its first assignment (the worker's readiness).
    assigned: threading.Event = field(default_factory=threading.Event)
    _paused: dict[Position, float] = field(default_factory=dict)  # -> when to offer again
    _closing: threading.Event = field(default_factory=threading.Event)
    _held: set[Position] = field(default_factory=set)  # partitions assigned
    _measured: float = 0.0
    last_poll: float = field(default_factory=time.monotonic)
    _generation: int = 0  # of the group it joins
    _waiting_since: float | None = None  # for an assignment (None: it has one)
    _matched_since: float | None = None  # while waiting: since a topic the pattern matches is seen
    _group_checked: float = 0.0

    def __post_init__(self) -> None:
        self._consumer = self._new_consumer()

    def _new_consumer(self) -> Consumer:
        session = self.config.session_timeout_ms
        return Consumer(
            {
                "bootstrap.servers": self.config.bootstrap,
                "group.id": consumer_groups.group_name(self.config.group, self._generation),
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # A position the broker does not have is an error here, never a reset.
                "auto.offset.reset": "error",
                "session.timeout.ms": session,
                "heartbeat.interval.ms": max(100, session // 3),  # Kafka's own ratio
                "fetch.wait.max.ms": self.config.fetch_wait_ms,
                **(
                    {"topic.metadata.refresh.interval.ms": self.config.metadata_refresh_ms}
                    if self.config.metadata_refresh_ms
                    else {}
                ),
            }
        )

    @property
    def name(self) -> str:
        return self.runner.name

    @property
    def _by_pattern(self) -> bool:
        return any(t.startswith("^") for t in self.config.topics)

    def highwater(self, topic: str, partition: int) -> int | None:
        """The high watermark of the partition's last Fetch response, if there was one."""
        _, high = self._consumer.get_watermark_offsets(
            TopicPartition(topic, partition), cached=True
        )
        return int(high) if high >= 0 else None

    async def run(self) -> None:
        """Consume until cancelled."""
        with bind(consumer=self.name):
            if self._moves_groups:
                generation = await until_back(
                    lambda: consumer_groups.generation(self.runner.pool, self.name)
                )
                if generation != self._generation:
                    await asyncio.to_thread(self._rejoin, generation)
            self._subscribe()
            await self._consume()

    @property
    def _moves_groups(self) -> bool:
        return self.config.stuck_seconds is not None

    def _subscribe(self) -> None:
        self._waiting_since = time.monotonic()
        self._consumer.subscribe(
            list(self.config.topics), on_assign=self._on_assign, on_revoke=self._on_revoke
        )

    async def _consume(self) -> None:
        if self._by_pattern:
            # A pattern may match no topic yet (no tenant streams): the group is joined, and
            # partitions come when topics do.
            self.assigned.set()
        try:
            while True:
                messages = await asyncio.to_thread(self._fetch)
                records = self._records(messages)
                if records:
                    await self.runner.run(records)
                self._pause_stopped()
                self._offer_again()
                self._measure()
                await self._watch_group()
        finally:
            self._closing.set()
            await asyncio.to_thread(self._consumer.close)

    # ------------------------------------------------------------------ in the consumer thread
    def _fetch(self) -> list[Message]:
        """Wait for a record (up to a second), then take what else is already fetched."""
        self.last_poll = time.monotonic()
        first = self._consumer.poll(1.0)
        if first is None:
            return []
        return [first, *self._consumer.consume(self.config.batch_size - 1, 0)]

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start every partition where PostgreSQL says this consumer is."""
        wanted = {(p.topic, p.partition) for p in partitions}
        stored = self._stored(wanted)
        consumer.assign(
            [TopicPartition(t, p, stored.get((t, p), OFFSET_BEGINNING)) for t, p in sorted(wanted)]
        )
        self._held = wanted
        for where in wanted:
            self.runner.positions[where] = stored.get(where, 0)
        past = self._past_end({where: stored[where] for where in wanted if where in stored})
        if past:
            reason = str(PositionPastEnd(self.name, past))
            log.error("%s", reason)
            for where, (offset, _) in past.items():
                self.runner.stopped[where] = Stopped(offset, reason)
        log.info("%s assigned %d partitions", self.name, len(wanted))
        self._waiting_since = self._matched_since = None
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._waiting_since = time.monotonic()
        self._give_up({(p.topic, p.partition) for p in partitions})
        consumer.unassign()

    def _give_up(self, partitions: set[Position]) -> None:
        for where in partitions:
            self._held.discard(where)
            self.runner.positions.pop(where, None)
            with contextlib.suppress(KeyError):
                metrics.CONSUMER_LAG.remove(self.name, where[0], str(where[1]))
            self.runner.stopped.pop(where, None)
            self._paused.pop(where, None)

    def _rejoin(self, generation: int) -> None:
        """Leave the group (giving up any partitions held) for a client of `generation`'s,
        to subscribe."""
        self._consumer.close()
        self._give_up(set(self._held))  # if closing did not revoke them
        self._generation = generation
        self._consumer = self._new_consumer()

    def _stored(self, wanted: set[Position]) -> dict[Position, int]:
        """The stored offsets, waiting for PostgreSQL while it is away."""
        delay = 0.1
        while True:
            try:
                stored = stored_positions(
                    self.config.database_url, self.name, sorted({t for t, _ in wanted})
                )
                return {where: offset for where, offset in stored.items() if where in wanted}
            except psycopg.Error as exc:
                if not is_transient(exc) or self._closing.is_set():
                    raise
                log.warning("%s: waiting for PostgreSQL to learn its positions: %r", self.name, exc)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _past_end(self, stored: dict[Position, int]) -> dict[Position, tuple[int, int | None]]:
        try:
            return past_end(self.config.bootstrap, stored)
        except Exception as exc:  # the broker did not say: the consumer finds out when it reads
            log.warning("%s: could not check its positions against the broker: %r", self.name, exc)
            return {}

    # -------------------------------------------------------------------- in the event loop
    def _records(self, messages: Sequence[Message]) -> list[Consumed]:
        records = []
        for msg in messages:
            err = msg.error()
            if err is None:
                records.append(Consumed.of(msg))
            elif err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                # Apache Kafka's answer to a position past the end of the partition.
                where = (str(msg.topic()), int(msg.partition() or 0))
                reason = str(PositionPastEnd(self.name, {where: (msg.offset() or 0, None)}))
                log.error("%s", reason)
                self.runner.stopped[where] = Stopped(int(msg.offset() or 0), reason)
            elif err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART and self._by_pattern:
                log.debug("%s: %s", self.name, err)  # no topic matches the pattern yet
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: %s", self.name, err)
        return records

    def _measure(self) -> None:
        """Lag per partition held (the high watermark of the last fetch minus the stored
        offset), at most once a second."""
        now = time.monotonic()
        if now - self._measured < 1.0:
            return
        self._measured = now
        metrics.PARTITIONS_STOPPED.labels(self.name).set(
            sum(not s.waiting for s in self.runner.stopped.values())
        )
        for topic, partition in list(self._held):
            high = self.highwater(topic, partition)
            stored = self.runner.positions.get((topic, partition))
            if high is not None and stored is not None:
                lag = max(high - stored, 0)
                metrics.CONSUMER_LAG.labels(self.name, topic, str(partition)).set(lag)

    async def _watch_group(self) -> None:
        """Follow the consumer to the group another worker moved it to; move it when this
        one has waited too long for partitions in its group (runtime/consumer_groups.py)."""
        now = time.monotonic()
        waiting = self._waiting_since
        if not self._moves_groups or now - self._group_checked < self._check_every(waiting):
            return
        self._group_checked = now
        assert self.config.stuck_seconds is not None
        try:
            waited = None if waiting is None else now - await self._waiting_from(waiting, now)
            if self._by_pattern and waiting is not None and self._matched_since is None:
                return  # no topic to wait for: no group to move from, nor to follow
            generation = await consumer_groups.generation(self.runner.pool, self.name)
            if (
                generation == self._generation
                and waited is not None
                and waited > self.config.stuck_seconds
            ):
                generation = await consumer_groups.move_on(
                    self.runner.pool, self.name, self._generation
                )
                metrics.CONSUMER_GROUP_MOVES.labels(self.name).inc()
                log.error(
                    "%s has waited %.0f s for its partitions in %s: the group is stuck;"
                    " the consumer moves to %s",
                    self.name,
                    waited,
                    consumer_groups.group_name(self.config.group, self._generation),
                    consumer_groups.group_name(self.config.group, generation),
                )
        except Exception as exc:  # PostgreSQL or the broker away: looked at again next time
            log.warning("%s could not look at its consumer group: %r", self.name, exc)
            return
        if generation != self._generation:
            log.info(
                "%s joins %s", self.name, consumer_groups.group_name(self.config.group, generation)
            )
            await asyncio.to_thread(self._rejoin, generation)
            self._subscribe()

    def _check_every(self, waiting: float | None) -> float:
        if waiting is None:
            return GROUP_CHECK_HOLDING
        if self._by_pattern and self._matched_since is None:
            return GROUP_CHECK_UNMATCHED
        return GROUP_CHECK_WAITING

    async def _waiting_from(self, waiting: float, now: float) -> float:
        """Since when the consumer has waited for partitions it could have: for a pattern,
        not before a topic it matches was seen (`now` while none is)."""
        if not self._by_pattern:
            return waiting
        if self._matched_since is None:
            if not await asyncio.to_thread(self._pattern_matches):
                return now
            self._matched_since = now
        return max(waiting, self._matched_since)

    def _pattern_matches(self) -> bool:
        """Whether the broker has a topic the subscription's pattern matches."""
        patterns = [re.compile(t) for t in self.config.topics]
        names = self._consumer.list_topics(timeout=5).topics
        return any(p.search(name) for p in patterns for name in names)

    def poll_age(self) -> float:
        """Seconds since this consumer last asked the broker for records."""
        return time.monotonic() - self.last_poll

    def _pause_stopped(self) -> None:
        newly = [where for where in self.runner.stopped if where not in self._paused]
        if newly:
            self._consumer.pause([TopicPartition(t, p) for t, p in newly])
            for where in newly:
                self._paused[where] = time.monotonic() + self.runner.stopped[where].retry_in

    def _offer_again(self) -> None:
        """Stopped partitions whose time has come start again at their stopped record."""
        now = time.monotonic()
        for where, due in list(self._paused.items()):
            if due > now:
                continue
            stopped = self.runner.stopped.pop(where, None)
            del self._paused[where]
            if stopped is None:
                continue
            tp = TopicPartition(where[0], where[1], stopped.offset)
            self._consumer.seek(tp)
            self._consumer.resume([tp])
