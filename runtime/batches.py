"""Exactly-once application of consumed records to PostgreSQL.

Each batch runs in one transaction that also moves the consumer's stored offsets; records
below the stored offset were applied before (faust replays on every rebalance) and are skipped,
and so are events whose id the consumer has applied before under another offset.
The offset rows are locked first, in partition order, so two workers that briefly own the same
partition during a rebalance apply each record once.

What happens when a batch cannot be applied (retry, park, stop) is runtime/failures.py.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import psycopg
from confluent_kafka import Message
from psycopg_pool import AsyncConnectionPool

from producers.event_producer import Record
from runtime.outbox import Outbox, Publisher
from schemas import topics
from schemas.codec import Event, Undecodable, decode

log = logging.getLogger(__name__)

# Applies, in the caller's transaction, the events of a batch seen for the first time (in order).
Handler = Callable[[psycopg.AsyncConnection, list[Event], Outbox], Awaitable[None]]


class Consumer(Protocol):
    """What a consumer applies: its explicit table of event types, and the batch handler.

    `deduplicated` are the types whose effect a second copy (the same event under another
    offset: a replayed topic, an outbox row published twice) would repeat: their event ids are
    remembered and a copy is not applied again. Every other type's effect is idempotent by
    construction (keyed upserts, statuses that only move up, credit that keeps the highest
    sequence, claims keyed by call): remembering its ids would cost a row per event for
    nothing.
    """

    @property
    def handles(self) -> frozenset[str]: ...

    @property
    def deduplicated(self) -> frozenset[str]: ...

    async def handle(
        self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox
    ) -> None: ...


@runtime_checkable
class ReadsRecords(Protocol):
    """A consumer that makes its events of records itself (the Kafka ingress: a tenant's
    record that does not decode is answered, not a poison record)."""

    def read(self, record: Consumed) -> Event: ...


@dataclass(frozen=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, str | bytes | None], ...] = ()

    @classmethod
    def of(cls, msg: Message) -> Consumed:
        """From a confluent-kafka message (one without an error)."""
        topic, partition, offset, value = msg.topic(), msg.partition(), msg.offset(), msg.value()
        assert topic is not None and partition is not None and offset is not None
        assert isinstance(value, bytes)
        headers = msg.headers()  # a consumed message's are a list of pairs, or None
        pairs = tuple(headers) if isinstance(headers, list) else ()
        return cls(topic, partition, offset, value, msg.key(), pairs)

    def header(self, name: str) -> str | None:
        """The last value of header `name`, as text (None if absent or not UTF-8)."""
        for key, value in reversed(self.headers):
            if key == name and value is not None:
                try:
                    return value.decode() if isinstance(value, bytes) else value
                except UnicodeDecodeError:
                    return None
        return None

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class RetryLater(Exception):
    """The batch depends on an event of another topic that has not been applied yet."""


class PoisonRecord(Exception):
    """This record can never be applied by this build: no schema it knows reads it, or it is an
    event type the consumer has no handler for (written by a newer build)."""

    def __init__(self, record: Consumed, reason: str) -> None:
        super().__init__(f"{record.where}: {reason}")
        self.record = record
        self.reason = reason


@dataclass
class BatchResult:
    applied: int = 0
    # Events applied by type, and the next offset stored for each partition of the batch.
    types: dict[str, int] = field(default_factory=dict)
    stored: dict[tuple[str, int], int] = field(default_factory=dict)
    emitted: list[Event] = field(default_factory=list)  # what the batch's outbox held
    # Partitions where records below the stored offset were skipped, with that offset: a replay,
    # or a partition recreated empty under a database that remembers more (see failures.py).
    behind: dict[tuple[str, int], int] = field(default_factory=dict)


async def apply_batch(
    pool: AsyncConnectionPool,
    publisher: Publisher | None,
    name: str,
    records: Sequence[Consumed],
    consumer: Consumer,
) -> int:
    """Apply the unseen records of a batch with `consumer` in one transaction; returns how many
    were applied. Errors propagate (runtime/failures.py decides what to do with them)."""
    return (await apply_records(pool, publisher, name, records, consumer)).applied


async def apply_records(
    pool: AsyncConnectionPool,
    publisher: Publisher | None,
    name: str,
    records: Sequence[Consumed],
    consumer: Consumer,
) -> BatchResult:
    result = BatchResult()
    if not records:
        return result
    outbox = Outbox()
    reader = consumer.read if isinstance(consumer, ReadsRecords) else None
    # Pipeline mode: statements whose results are not read go out without a round trip each,
    # the last of them (the outbox row among them) in the pipeline's last round trip. The
    # commit goes after it on its own: within the pipeline it cost psycopg's client more CPU
    # than the round trip it saves (docs/benchmarks-history.md).
    async with pool.connection() as conn, conn.transaction(), conn.pipeline():
        next_offsets = await _lock_offsets(conn, name, records)
        fresh: list[tuple[Consumed, Event]] = []
        for record in records:
            key = (record.topic, record.partition)
            if record.offset < next_offsets[key]:
                result.behind.setdefault(key, next_offsets[key])
                continue
            next_offsets[key] = record.offset + 1
            event = reader(record) if reader else _event(record, consumer.handles)
            if event is not None:
                fresh.append((record, event))
        events = await _first_sightings(conn, name, fresh, consumer.deduplicated)
        if events:
            await consumer.handle(conn, events, outbox)
        result.applied = len(events)
        for event in events:
            result.types[event["event_type"]] = result.types.get(event["event_type"], 0) + 1
        result.stored = next_offsets
        await _store_offsets(conn, name, next_offsets)
        await outbox.write(conn)
    result.emitted = outbox.events
    if await outbox.settle() is not None:
        assert publisher is not None, f"{name} emitted events but has no publisher"
        await publisher.publish(outbox)
    return result


def _event(record: Consumed, handles: frozenset[str]) -> Event | None:
    """The record's event, if the consumer handles it; None for a type that used to share the
    topic (schemas/topics.py RETIRED_ROUTES); PoisonRecord for anything else."""
    try:
        event = decode(record.value)
    except Undecodable as exc:
        raise PoisonRecord(record, str(exc)) from exc
    kind = event["event_type"]
    if kind in handles:
        return event
    if kind in topics.RETIRED_ROUTES.get(record.topic, ()):
        return None
    raise PoisonRecord(record, f"{kind} is no event type this consumer handles")


async def park_record(
    pool: AsyncConnectionPool,
    publisher: Publisher | None,
    consumer: str,
    record: Consumed,
    reason: str,
) -> bool:
    """Set `record` aside for `consumer`: in one transaction, index it in parked_records, copy
    it to the dead-letter topic (through the outbox) and move the stored offset past it.
    Returns False if the offset had already moved past it (parked or applied before)."""
    outbox = Outbox()
    event_type = _event_type(record)
    async with pool.connection() as conn, conn.transaction():
        next_offsets = await _lock_offsets(conn, consumer, [record])
        if record.offset < next_offsets[(record.topic, record.partition)]:
            return False
        await conn.execute(
            'INSERT INTO parked_records (consumer, topic, partition, "offset", key, value,'
            " event_type, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (
                consumer,
                record.topic,
                record.partition,
                record.offset,
                record.key,
                record.value,
                event_type,
                reason,
            ),
        )
        outbox.emit_record(dead_letter(consumer, record, event_type, reason))
        await _store_offsets(conn, consumer, {(record.topic, record.partition): record.offset + 1})
        await outbox.write(conn)
    if publisher is not None:
        await publisher.publish(outbox)
    return True


def dead_letter(consumer: str, record: Consumed, event_type: str | None, reason: str) -> Record:
    """The dead-letter copy of a record: its bytes as they were, where it came from and why."""
    return Record(
        topic=topics.DEAD_LETTERS.name,
        key=record.key or b"",
        value=record.value,
        event_type=event_type or "",
        headers=(
            ("dlq.consumer", consumer),
            ("dlq.topic", record.topic),
            ("dlq.partition", str(record.partition)),
            ("dlq.offset", str(record.offset)),
            ("dlq.reason", reason[:1000]),
        ),
    )


def _event_type(record: Consumed) -> str | None:
    try:
        kind: str = decode(record.value)["event_type"]
        return kind
    except Undecodable:
        return None


async def _lock_offsets(
    conn: psycopg.AsyncConnection, consumer: str, records: Sequence[Consumed]
) -> dict[tuple[str, int], int]:
    """Lock this consumer's offset row of every partition in the batch (creating missing ones,
    in one sorted statement) and return the next offset to apply for each."""
    keys = sorted({(r.topic, r.partition) for r in records})
    rows = await (
        await conn.execute(
            "INSERT INTO consumed_offsets (consumer, topic, partition, next_offset)"
            " SELECT %s, k.topic, k.partition, 0"
            " FROM unnest(%b::text[], %b::int[]) AS k(topic, partition)"
            " ORDER BY k.topic, k.partition"
            " ON CONFLICT (consumer, topic, partition)"
            " DO UPDATE SET next_offset = consumed_offsets.next_offset"
            " RETURNING topic, partition, next_offset",
            (consumer, [t for t, _ in keys], [p for _, p in keys]),
        )
    ).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


async def _store_offsets(
    conn: psycopg.AsyncConnection, consumer: str, next_offsets: dict[tuple[str, int], int]
) -> None:
    await conn.execute(
        "UPDATE consumed_offsets o SET next_offset = n.next_offset"
        " FROM unnest(%b::text[], %b::int[], %b::bigint[]) AS n(topic, partition, next_offset)"
        " WHERE o.consumer = %s AND o.topic = n.topic AND o.partition = n.partition",
        (
            [t for t, _ in next_offsets],
            [p for _, p in next_offsets],
            list(next_offsets.values()),
            consumer,
        ),
    )


async def _first_sightings(
    conn: psycopg.AsyncConnection,
    consumer: str,
    fresh: list[tuple[Consumed, Event]],
    deduplicated: frozenset[str],
) -> list[Event]:
    """The events to apply: of the deduplicated types, those whose id this consumer has never
    applied (marking them applied); of the others, all."""
    ids = [e["event_id"] for _, e in fresh if e["event_type"] in deduplicated]
    new_ids: set[Any] = set()
    if ids:
        rows = await (
            await conn.execute(
                "INSERT INTO applied_events (consumer, event_id)"
                " SELECT %s, unnest(%b::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
                (consumer, ids),
            )
        ).fetchall()
        new_ids = {row[0] for row in rows}
    first: list[Event] = []
    for _, event in fresh:
        if event["event_type"] not in deduplicated:
            first.append(event)
        elif event["event_id"] in new_ids:
            new_ids.discard(event["event_id"])  # a duplicate within the batch counts once
            first.append(event)
    return first


async def forget_applied_events(pool: AsyncConnectionPool, older_than_hours: float) -> int:
    """Prune the applied event ids past their retention, a bounded slice at a time."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM applied_events WHERE ctid IN (SELECT ctid FROM applied_events"
            # make_interval's hours are integers; seconds take the fractional setting.
            " WHERE applied_at < now() - make_interval(secs => %s) LIMIT 10000)",
            (older_than_hours * 3600,),
        )
        return cur.rowcount
