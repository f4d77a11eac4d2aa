"""The limits every replica shares, in PostgreSQL: one count however many replicas take."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool
from front_door.shared_limits import Connections, SharedLimits
from tests.support.limits import AwayPool
from tests.support.postgres import end_connection

pytestmark = pytest.mark.integration


def replica(pool: Any, key_rate: int = 20, phone_limit: int = 5, live: int = 1) -> SharedLimits:
    """One replica's limits (its settings and how many replicas it has seen live)."""
    settings = SimpleNamespace(key_calls_per_second=key_rate, phone_calls_per_hour=phone_limit)
    return SharedLimits(pool, settings, SimpleNamespace(live=live))  # type: ignore[arg-type]


def calls(n: int, phone: str | None = None) -> list[tuple[str, uuid.UUID]]:
    return [(phone or f"+98912{uuid.uuid4().int % 10**7:07d}", uuid.uuid4()) for _ in range(n)]


async def test_a_keys_rate_is_one_count_across_replicas(
    pool: AsyncConnectionPool, quiet_database_url: str
) -> None:
    other_pool = async_pool(quiet_database_url, max_size=4)
    await other_pool.open()
    try:
        a, b = replica(pool), replica(other_pool)
        key, service = uuid.uuid4(), uuid.uuid4()
        # 80 calls of one key at once, one by one, half through each replica.
        takes = await asyncio.gather(
            *((a if i % 2 else b).take_calls(key, service, calls(1)) for i in range(80))
        )
        assert sum(t.granted for t in takes) == 20
        refused = [t for t in takes if not t.granted]
        assert len(refused) == 60
        assert all(0 < t.key_wait <= 1.1 for t in refused)
        # Another key has its own second.
        other = await a.take_calls(uuid.uuid4(), service, calls(5))
        assert other.granted == 5 and other.phone_waits == [0, 0, 0, 0, 0]
    finally:
        await other_pool.close()


async def test_many_calls_asked_together_get_the_first_ones_granted(
    pool: AsyncConnectionPool,
) -> None:
    limits = replica(pool, key_rate=20)
    key, service = uuid.uuid4(), uuid.uuid4()
    first = await limits.take_calls(key, service, calls(12))
    second = await limits.take_calls(key, service, calls(12))
    assert (first.granted, first.key_wait) == (12, 0)
    assert second.granted == 8 and 0 < second.key_wait <= 1.1
    assert len(second.phone_waits) == 8


async def test_the_phone_rule_counts_the_calls_the_decisions_did_not_reject(
    pool: AsyncConnectionPool,
) -> None:
    limits = replica(pool, key_rate=1000, phone_limit=3)
    key, service = uuid.uuid4(), uuid.uuid4()
    phone = "+989121110000"
    first = await limits.take_calls(key, service, calls(3, phone))
    assert first.phone_waits == [0, 0, 0]
    fourth = await limits.take_calls(key, service, calls(1, phone))
    assert 3590 < fourth.phone_waits[0] <= 3600  # an hour after the oldest
    # The decisions rejected one of the three (for credit, say): the phone has room again.
    rejected_id = (await _calls_taken(pool, service, phone))[0]
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO proc_calls (id, service_id, phone, chain_root, attempt, caller_number,"
            " code_length, status, requested_at) VALUES (%s, %s, %s, %s, 1, '+1', 5,"
            " 'rejected', now())",
            (rejected_id, service, phone, rejected_id),
        )
    assert (await limits.take_calls(key, service, calls(1, phone))).phone_waits == [0]
    assert (await limits.take_calls(key, service, calls(1, phone))).phone_waits[0] > 0
    # Another service, or another phone, is counted apart.
    assert (await limits.take_calls(key, uuid.uuid4(), calls(1, phone))).phone_waits == [0]
    assert (await limits.take_calls(key, service, calls(1, "+989121110001"))).phone_waits == [0]


async def test_a_call_asked_for_again_counts_once_and_one_never_placed_is_given_back(
    pool: AsyncConnectionPool,
) -> None:
    limits = replica(pool, key_rate=1000, phone_limit=2)
    key, service, phone = uuid.uuid4(), uuid.uuid4(), "+989121110002"
    again = (phone, uuid.uuid4())
    assert (await limits.take_calls(key, service, [again])).phone_waits == [0]
    assert (await limits.take_calls(key, service, [again])).phone_waits == [0]
    not_placed = (phone, uuid.uuid4())
    assert (await limits.take_calls(key, service, [not_placed])).phone_waits == [0]
    assert (await limits.take_calls(key, service, calls(1, phone))).phone_waits[0] > 0
    await limits.give_back_calls([not_placed[1]])
    assert (await limits.take_calls(key, service, calls(1, phone))).phone_waits == [0]


async def test_the_same_phone_twice_in_one_request_is_counted_in_order(
    pool: AsyncConnectionPool,
) -> None:
    limits = replica(pool, key_rate=1000, phone_limit=2)
    takes = await limits.take_calls(uuid.uuid4(), uuid.uuid4(), calls(3, "+989121110003"))
    assert takes.granted == 3
    assert takes.phone_waits[:2] == [0, 0] and takes.phone_waits[2] > 0


async def test_sign_in_attempts_are_counted_for_the_platform_and_given_back(
    pool: AsyncConnectionPool, quiet_database_url: str
) -> None:
    other_pool = async_pool(quiet_database_url, max_size=2)
    await other_pool.open()
    try:
        a, b = replica(pool), replica(other_pool)
        email = f"{uuid.uuid4()}@example.com"
        waits = [await (a if i % 2 else b).take("signin-email", email, 4, 900) for i in range(6)]
        assert waits[:4] == [0, 0, 0, 0]
        assert all(850 < w <= 946 for w in waits[4:])
        await a.give_back("signin-email", email, 4, 900)
        assert await b.take("signin-email", email, 4, 900) == 0
        assert await b.take("signin-email", email, 4, 900) > 0
    finally:
        await other_pool.close()


async def test_while_postgresql_is_away_each_replica_grants_its_share() -> None:
    # Two replicas live: each may grant half the key's rate alone, so both together never
    # exceed it; the phone rule stays whole (the decisions hold it for the platform).
    limits = replica(AwayPool(), key_rate=20, phone_limit=2, live=2)
    key, service = uuid.uuid4(), uuid.uuid4()
    takes = await limits.take_calls(key, service, calls(15))
    assert takes.granted == 10 and takes.key_wait > 0
    phone = await limits.take_calls(uuid.uuid4(), service, calls(3, "+989121110004"))
    assert phone.granted == 3 and phone.phone_waits[:2] == [0, 0] and phone.phone_waits[2] > 0
    assert await limits.take("signin-email", "a@example.com", 4, 900) == 0


async def test_old_counts_are_swept(pool: AsyncConnectionPool) -> None:
    limits = replica(pool)
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO rate_slices (scope, name, slice, n, ends) VALUES ('t', 'old', 1, 1, 1)"
        )
        await conn.execute(
            "INSERT INTO phone_takes (service_id, phone, call_id, taken_at)"
            " VALUES (%s, '+1', %s, now() - interval '2 hours')",
            (uuid.uuid4(), uuid.uuid4()),
        )
    await limits.sweep()
    async with pool.connection() as conn:
        left = await (
            await conn.execute(
                "SELECT (SELECT count(*) FROM rate_slices WHERE name = 'old'),"
                " (SELECT count(*) FROM phone_takes WHERE taken_at < now() - interval '1 hour')"
            )
        ).fetchone()
    assert left == (0, 0)


async def _calls_taken(pool: AsyncConnectionPool, service: uuid.UUID, phone: str) -> list[Any]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT call_id FROM phone_takes WHERE service_id = %s AND phone = %s"
                " ORDER BY taken_at",
                (service, phone),
            )
        ).fetchall()
    return [r[0] for r in rows]


async def test_the_limits_own_connection_is_made_again_after_postgresql_ends_it(
    quiet_database_url: str,
) -> None:
    connections = Connections(quiet_database_url, size=1)
    try:
        limits = replica(connections)
        assert (await limits.take_calls(uuid.uuid4(), uuid.uuid4(), calls(1))).granted == 1
        pid = await end_connection(connections, quiet_database_url)
        with pytest.raises(psycopg.OperationalError):  # the ended one fails once...
            async with connections.connection() as conn:
                await conn.execute("SELECT 1")
        async with connections.connection() as conn:  # ...and the next use has a new one
            assert conn.info.backend_pid != pid
            assert await (await conn.execute("SELECT 1")).fetchone() == (1,)
    finally:
        await connections.close()


class Counting:
    """A pool that counts the connections taken from it (one per round trip of a take)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        self.taken = 0

    def connection(self, timeout: float | None = None) -> Any:
        self.taken += 1
        return self.pool.connection(timeout=timeout)


async def test_requests_of_one_key_waiting_together_go_in_one_round_trip(
    pool: AsyncConnectionPool,
) -> None:
    counting = Counting(pool)
    limits = replica(counting, key_rate=30)
    key, service = uuid.uuid4(), uuid.uuid4()
    takes = await asyncio.gather(*(limits.take_calls(key, service, calls(2)) for _ in range(20)))
    # Asked for at once: they go together, in order, in one round trip.
    assert counting.taken == 1
    assert [t.granted for t in takes] == [2] * 15 + [0] * 5
    assert all(t.phone_waits == [0, 0] for t in takes[:15])
    assert all(t.phone_waits == [] and t.key_wait > 0 for t in takes[15:])
    assert len({t.decided_at for t in takes}) == 1
    # Another key is not held up by this one's: its own round trip.
    other = await limits.take_calls(uuid.uuid4(), service, calls(1))
    assert counting.taken == 2 and other.granted == 1
