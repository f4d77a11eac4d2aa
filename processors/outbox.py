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

    def emit(self, event: Event) -> None:
        self.events.append(event)

    async def write(self, conn: psycopg.AsyncConnection) -> list[int]:
        """Insert the collected events in the caller's transaction; returns their row ids."""
        if not self.events:
            return []
        records = [to_record(e) for e in self.events]
        ids = []
        async with conn.cursor() as cur:
            for r in records:
                await cur.execute(
                    "INSERT INTO outbox (topic, key, value, event_type)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (r.topic, r.key, r.value, r.event_type),
                )
                row = await cur.fetchone()
                assert row is not None
                ids.append(int(row[0]))
        return ids


async def publish(pool: AsyncConnectionPool, producer: EventProducer, ids: list[int]) -> None:
    """Publish committed outbox rows, in order, then delete them."""
    if not ids:
        return
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT topic, key, value, event_type FROM outbox WHERE id = ANY(%s) ORDER BY id",
                (ids,),
            )
        ).fetchall()
        await producer.append_records(Record(t, bytes(k), bytes(v), e) for t, k, v, e in rows)
        await conn.execute("DELETE FROM outbox WHERE id = ANY(%s)", (ids,))


async def publish_leftovers(
    pool: AsyncConnectionPool, producer: EventProducer, older_than_seconds: float
) -> int:
    """Publish rows a crashed worker committed but never published."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT id FROM outbox WHERE created_at < clock_timestamp() - make_interval("
                "secs => %s) ORDER BY id LIMIT 1000",
                (older_than_seconds,),
            )
        ).fetchall()
    ids = [int(r[0]) for r in rows]
    await publish(pool, producer, ids)
    return len(ids)
