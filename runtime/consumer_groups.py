"""The Kafka consumer group each consumer's workers join, one generation at a time, kept in
PostgreSQL so that every worker of a consumer joins the same one (migration 027).

A group only shares the partitions out: where each partition is read from is PostgreSQL's
(runtime/partitioned.py), so a consumer may move to another group without skipping or repeating
a record. Should two workers read one partition while they move, each record is still applied
once: a batch locks its partitions' positions and leaves what is already applied.

Why a consumer moves: the embedded broker (Tansu 0.6.0) can leave a group without a working
leader for good. A member chosen to lead a forming generation that leaves before it has handed
the partitions out stays the group's leader, and every later member waits for its assignment
(docs/events.md, "Consumer groups"). A consumer that has waited FLASHCALL_KAFKA_GROUP_STUCK_SECONDS
for its partitions moves the consumer to the next generation's group, and the other workers
follow. Apache Kafka gives such a group a new leader itself: the setting is unset there.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool


def group_name(base: str, generation: int) -> str:
    """The group of `generation` (0: `base`, the group builds before migration 027 join)."""
    return base if generation == 0 else f"{base}.g{generation}"


async def generation(pool: AsyncConnectionPool, consumer: str) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT generation FROM consumer_groups WHERE consumer = %s", (consumer,)
        )
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def move_on(pool: AsyncConnectionPool, consumer: str, stuck: int) -> int:
    """The generation after `stuck`: made by this call, or by a worker of the consumer that
    found the same group stuck first (then this one follows it)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO consumer_groups AS g (consumer, generation, moved_at)"
            " VALUES (%s, %s, now()) ON CONFLICT (consumer) DO UPDATE"
            " SET generation = g.generation + 1, moved_at = now() WHERE g.generation = %s"
            " RETURNING generation",
            (consumer, stuck + 1, stuck),
        )
        row = await cur.fetchone()
    return int(row[0]) if row else await generation(pool, consumer)
