"""Transactional outbox: events decided inside a transaction, published after it commits.

Consumers deduplicate by event id, so publishing a row twice (a crash between the publish and
the delete, or two workers flushing leftovers) is harmless; losing one is not possible.
"""

from __future__ import annotations

import psycopg
from psycopg_pool import AsyncConnectionPool

from producers.event_producer import EventProducer, Record, to_record
from schemas.codec import Event


class Outbox:
    """Collects the events of one transaction."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.records: list[Record] = []
        self.ids: list[int] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def write(self, conn: psycopg.AsyncConnection) -> None:
        """Insert the collected events in the caller's transaction (one statement)."""
        if not self.events:
            return
        self.records = [to_record(e) for e in self.events]
        rows = await (
            await conn.execute(
                "INSERT INTO outbox (topic, key, value, event_type)"
                " SELECT topic, key, value, event_type"
                " FROM unnest(%s::text[], %s::bytea[], %s::bytea[], %s::text[])"
                " WITH ORDINALITY AS r(topic, key, value, event_type, n) ORDER BY n"
                " RETURNING id",
                (
                    [r.topic for r in self.records],
                    [r.key for r in self.records],
                    [r.value for r in self.records],
                    [r.event_type for r in self.records],
                ),
            )
        ).fetchall()
        self.ids = [int(row[0]) for row in rows]

    async def publish(self, pool: AsyncConnectionPool, producer: EventProducer) -> None:
        """After the transaction committed: append the events, then delete their rows."""
        if not self.ids:
            return
        await producer.append_records(self.records)
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (self.ids,))


async def publish_leftovers(
    pool: AsyncConnectionPool, producer: EventProducer, older_than_seconds: float
) -> int:
    """Publish rows a crashed worker committed but never published, in order."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id, topic, key, value, event_type FROM outbox"
                " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
                " ORDER BY id LIMIT 1000",
                (older_than_seconds,),
            )
        ).fetchall()
    if rows:
        await producer.append_records(Record(t, bytes(k), bytes(v), e) for _, t, k, v, e in rows)
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", ([r[0] for r in rows],))
    return len(rows)
