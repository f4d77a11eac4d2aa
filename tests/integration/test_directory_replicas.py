"""The registry of directory holders, and the waits that make replicas one (front_door/fleet.py)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from front_door.fleet import Fleet

pytestmark = pytest.mark.integration

TOPIC = "flashcall.access-keys"


def fleet(pool: AsyncConnectionPool, positions: dict[tuple[str, int], int]) -> Fleet:
    feed = SimpleNamespace(positions=positions, on_change=None)
    return Fleet(pool, feed)  # type: ignore[arg-type]


async def other(pool: AsyncConnectionPool, offset: int, seen_seconds_ago: float) -> uuid.UUID:
    """Another replica, which read TOPIC's partition 0 up to `offset`."""
    replica = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO directory_replicas (id, seen_at, positions)"
            " VALUES (%s, clock_timestamp() - make_interval(secs => %s), %s)",
            (replica, seen_seconds_ago, Jsonb({f"{TOPIC}:0": offset})),
        )
    return replica


async def forget(pool: AsyncConnectionPool, *replicas: uuid.UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM directory_replicas WHERE id = ANY(%s)", (list(replicas),))


async def test_a_write_waits_for_every_live_replica_and_not_for_a_dead_one(
    pool: AsyncConnectionPool,
) -> None:
    me = fleet(pool, {})
    behind = await other(pool, 7, seen_seconds_ago=0)
    dead = await other(pool, 0, seen_seconds_ago=30)  # killed: no longer reports
    try:
        assert await me.wait_for(TOPIC, 0, 7, within=0.2)  # it has read up to 7
        assert not await me.wait_for(TOPIC, 0, 8, within=0.2)  # but not the 8th
        assert await me.wait_for(TOPIC, 1, 0, within=0.2)  # a partition nothing was written to
        async with pool.connection() as conn:
            await conn.execute(
                "UPDATE directory_replicas SET positions = %s WHERE id = %s",
                (Jsonb({f"{TOPIC}:0": 8}), behind),
            )
        assert await me.wait_for(TOPIC, 0, 8, within=0.2)
    finally:
        await forget(pool, behind, dead)


async def test_a_replica_reports_itself_and_counts_the_live_ones(
    pool: AsyncConnectionPool,
) -> None:
    me = fleet(pool, {(TOPIC, 0): 3})
    live, dead = await other(pool, 0, 0), await other(pool, 0, 30)
    try:
        await me.report()
        assert me.live >= 2  # itself and the live one (tests beside it may add their own)
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT positions FROM directory_replicas WHERE id = %s", (me.id,)
                )
            ).fetchone()
        assert row == ({f"{TOPIC}:0": 3},)
        await me.leave()
        async with pool.connection() as conn:
            gone = await (
                await conn.execute(
                    "SELECT count(*) FROM directory_replicas WHERE id = %s", (me.id,)
                )
            ).fetchone()
        assert gone == (0,)
    finally:
        await forget(pool, live, dead)


async def test_a_replica_catches_up_with_the_projection_before_it_says_unknown(
    pool: AsyncConnectionPool,
) -> None:
    positions: dict[tuple[str, int], int] = {}
    me = fleet(pool, positions)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO consumed_offsets (consumer, topic, partition, next_offset)"
            " VALUES ('projection', %s, 0, 5) ON CONFLICT (consumer, topic, partition)"
            " DO UPDATE SET next_offset = 5",
            (TOPIC,),
        )
    try:
        assert not await me.caught_up(within=0.1)
        positions[(TOPIC, 0)] = 5
        assert await me.caught_up(within=0.1)
    finally:
        async with pool.connection() as conn:
            await conn.execute(
                "DELETE FROM consumed_offsets WHERE consumer = 'projection' AND topic = %s",
                (TOPIC,),
            )
