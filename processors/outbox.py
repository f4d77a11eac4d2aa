"""Transactional outbox: events decided inside a transaction, published after it commits.

A transaction's events are one row (arrays, in order), written with its effects. Consumers
deduplicate by event id, so publishing a row twice (a crash between the publish and the delete,
or two workers flushing leftovers) is harmless; losing one is not possible: a row whose
publication failed (the broker away) stays and is published by `publish_leftovers`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.faults import is_transient
from producers.event_producer import EventProducer, Record, to_record
from schemas.codec import Event

log = logging.getLogger(__name__)


class Outbox:
    """Collects the events (and raw records, such as dead letters) of one transaction."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.raw: list[Record] = []
        self.records: list[Record] = []
        self.row: int | None = None

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def emit_record(self, record: Record) -> None:
        self.raw.append(record)

    async def write(self, conn: psycopg.AsyncConnection) -> None:
        """Insert the collected events in the caller's transaction (one row)."""
        if not self.events and not self.raw:
            return
        self.records = [to_record(e) for e in self.events] + self.raw
        row = await (
            await conn.execute(
                'INSERT INTO outbox_batches (topics, keys, "values", event_types, headers)'
                " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (
                    [r.topic for r in self.records],
                    [r.key for r in self.records],
                    [r.value for r in self.records],
                    [r.event_type for r in self.records],
                    Jsonb([[list(h) for h in r.headers] for r in self.records]),
                ),
            )
        ).fetchone()
        assert row is not None
        self.row = int(row[0])

    async def publish(self, pool: AsyncConnectionPool, producer: EventProducer) -> None:
        """After the transaction committed: append the events, then delete their row. If the
        broker or the database is away, the row stays for `publish_leftovers`: the effect is
        committed, so the batch that made it must not be applied again."""
        if self.row is None:
            return
        try:
            await producer.append_records(self.records)
            async with pool.connection() as conn:
                await conn.execute("DELETE FROM outbox_batches WHERE id = %s", (self.row,))
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "outbox: %d events wait for the broker or database: %r", len(self.records), exc
            )


def _records(
    topics: Sequence[str],
    keys: Sequence[bytes],
    values: Sequence[bytes],
    event_types: Sequence[str],
    headers: Sequence[Sequence[Sequence[str]]],
) -> list[Record]:
    return [
        Record(t, bytes(k), bytes(v), e, tuple((n, x) for n, x in h))
        for t, k, v, e, h in zip(topics, keys, values, event_types, headers, strict=True)
    ]


async def publish_leftovers(
    pool: AsyncConnectionPool, producer: EventProducer, older_than_seconds: float
) -> int:
    """Publish, in order, the rows a crashed worker committed but never published; returns
    how many events."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                'SELECT id, topics, keys, "values", event_types, headers FROM outbox_batches'
                " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
                " ORDER BY id LIMIT 100",
                (older_than_seconds,),
            )
        ).fetchall()
        # Rows of the one-row-per-event table an earlier build left.
        singles = await (
            await conn.execute(
                "SELECT id, topic, key, value, event_type, headers FROM outbox"
                " ORDER BY id LIMIT 1000"
            )
        ).fetchall()
    records = [r for _, *columns in rows for r in _records(*columns)]
    records += [
        Record(t, bytes(k), bytes(v), e, tuple((n, x) for n, x in h or ()))
        for _, t, k, v, e, h in singles
    ]
    if records:
        await producer.append_records(records)
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM outbox_batches WHERE id = ANY(%s)", ([r[0] for r in rows],)
            )
            await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", ([r[0] for r in singles],))
    return len(records)
