"""Transactional outbox: events decided inside a transaction, published after it commits.

Consumers deduplicate by event id, so publishing a row twice (a crash between the publish and
the delete, or two workers flushing leftovers) is harmless; losing one is not possible: a row
whose publication failed (the broker away) stays and is published by `publish_leftovers`.
"""

from __future__ import annotations

import logging

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
        self.ids: list[int] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def emit_record(self, record: Record) -> None:
        self.raw.append(record)

    async def write(self, conn: psycopg.AsyncConnection) -> None:
        """Insert the collected events in the caller's transaction (one statement)."""
        if not self.events and not self.raw:
            return
        self.records = [to_record(e) for e in self.events] + self.raw
        rows = await (
            await conn.execute(
                "INSERT INTO outbox (topic, key, value, event_type, headers)"
                " SELECT topic, key, value, event_type, headers"
                " FROM unnest(%s::text[], %s::bytea[], %s::bytea[], %s::text[], %s::jsonb[])"
                " WITH ORDINALITY AS r(topic, key, value, event_type, headers, n) ORDER BY n"
                " RETURNING id",
                (
                    [r.topic for r in self.records],
                    [r.key for r in self.records],
                    [r.value for r in self.records],
                    [r.event_type for r in self.records],
                    [
                        Jsonb([list(h) for h in r.headers]) if r.headers else None
                        for r in self.records
                    ],
                ),
            )
        ).fetchall()
        self.ids = [int(row[0]) for row in rows]

    async def publish(self, pool: AsyncConnectionPool, producer: EventProducer) -> None:
        """After the transaction committed: append the events, then delete their rows. If the
        broker or the database is away, the rows stay for `publish_leftovers`: the effect is
        committed, so the batch that made them must not be applied again."""
        if not self.ids:
            return
        try:
            await producer.append_records(self.records)
            async with pool.connection() as conn:
                await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (self.ids,))
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("outbox: %d events wait for the broker or database: %r", len(self.ids), exc)


async def publish_leftovers(
    pool: AsyncConnectionPool, producer: EventProducer, older_than_seconds: float
) -> int:
    """Publish rows a crashed worker committed but never published, in order."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id, topic, key, value, event_type, headers FROM outbox"
                " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
                " ORDER BY id LIMIT 1000",
                (older_than_seconds,),
            )
        ).fetchall()
    if rows:
        await producer.append_records(
            Record(t, bytes(k), bytes(v), e, tuple((n, x) for n, x in h or ()))
            for _, t, k, v, e, h in rows
        )
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", ([r[0] for r in rows],))
    return len(rows)
