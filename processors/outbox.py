"""Transactional outbox: events decided inside a transaction, published after it commits.

Consumers deduplicate by event id, so publishing a row twice (a crash between the publish and
the delete, or two workers flushing leftovers) is harmless; losing one is not possible.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from producers.event_producer import EventProducer, Record, to_record
from schemas.codec import Event

log = logging.getLogger(__name__)
_confirming: set[asyncio.Task[None]] = set()  # keeps background confirmations alive


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
        if self.ids:
            await self.publish_in_background(pool, producer)

    def publish_in_background(
        self, pool: AsyncConnectionPool, producer: EventProducer
    ) -> asyncio.Task[None]:
        """Hand the events to the producer now (so later batches follow them in order) and
        delete their rows once the broker has them, without holding up the caller. Rows of a
        publish that failed stay, and the leftover publisher sends them again."""
        sent = producer.send_records(self.records)
        ids = self.ids

        async def confirm() -> None:
            try:
                await sent
                async with pool.connection() as conn:
                    await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (ids,))
            except Exception:
                log.exception("publishing %d outbox rows failed; they will be sent again", len(ids))

        task = asyncio.create_task(confirm())
        _confirming.add(task)
        task.add_done_callback(_confirming.discard)
        return task


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
