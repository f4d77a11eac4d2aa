"""The caller ranges' health in PostgreSQL (processors/range_health.py): outcomes counted once
with the transaction that applies them, one judge per range and network whatever the number of
workers, a quarantine and a release emitted once, and a released range judged afresh."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from core.caller_ranges import HealthRules
from processors import range_health
from processors.range_health import Dial, count_outcomes, forget_old_outcomes, judge
from producers.event_producer import EventProducer
from producers.topic_admin import ensure_topics
from runtime.outbox import Outbox, Publisher

pytestmark = pytest.mark.integration

RULES = HealthRules(
    window_seconds=60,
    min_sample=10,
    quarantine_below=0.5,
    release_at=0.8,
    baseline_floor=0.5,
    quarantine_seconds=1,
    max_quarantine_seconds=600,
    probe_share=0.1,
    probe_sample=3,
)
BLOCKED, HEALTHY = uuid.uuid4(), uuid.uuid4()


def dials(
    range_id: uuid.UUID,
    n: int,
    delivered: bool,
    network: str = "IR-MCI",
    at: datetime | None = None,
) -> list[Dial]:
    return [Dial(range_id, network, at or datetime.now(UTC), delivered) for _ in range(n)]


async def counted(pool: AsyncConnectionPool, batch: list[Dial]) -> None:
    async with pool.connection() as conn, conn.transaction():
        await count_outcomes(conn, batch)


async def judged(pool: AsyncConnectionPool, batch: list[Dial]) -> list[dict[str, object]]:
    """A batch counted, then its pairs judged (as the decisions' timer does)."""
    await counted(pool, batch)
    out = Outbox()
    pairs = sorted({(d.range_id, d.network) for d in batch}, key=lambda p: (str(p[0]), p[1]))
    async with pool.connection() as conn, conn.transaction():
        await judge(conn, pairs, out, RULES)
    return out.events


async def judged_pairs(
    pool: AsyncConnectionPool, pairs: list[tuple[uuid.UUID, str]]
) -> list[dict[str, object]]:
    out = Outbox()
    async with pool.connection() as conn, conn.transaction():
        await judge(conn, pairs, out, RULES)
    return out.events


async def tallies(pool: AsyncConnectionPool) -> dict[tuple[uuid.UUID, str], tuple[int, int]]:
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT range_id, network, sum(dialled), sum(delivered) FROM proc_range_outcomes"
                " GROUP BY range_id, network"
            )
        ).fetchall()
    return {(r, n): (int(d), int(v)) for r, n, d, v in rows}


async def test_a_blocked_range_is_quarantined_once_then_released_by_its_probes(
    pool: AsyncConnectionPool,
) -> None:
    # The healthy range delivers; the other fails to one network: two workers count six
    # failures each at once, then both judge at once: the quarantine is decided once.
    assert await judged(pool, dials(HEALTHY, 20, True)) == []
    await asyncio.gather(
        counted(pool, dials(BLOCKED, 6, False)), counted(pool, dials(BLOCKED, 6, False))
    )
    both = await asyncio.gather(judged(pool, []), judged(pool, dials(BLOCKED, 0, False)))
    assert both == [[], []]  # (nothing to judge without pairs)
    both = await asyncio.gather(
        judged_pairs(pool, [(BLOCKED, "IR-MCI")]), judged_pairs(pool, [(BLOCKED, "IR-MCI")])
    )
    quarantined = [e for events in both for e in events]
    assert [e["event_type"] for e in quarantined] == ["RangeQuarantined"]
    event = quarantined[0]
    assert (event["range_id"], event["network"], event["strikes"]) == (BLOCKED, "IR-MCI", 1)
    assert event["dialled"] == 12 and event["delivered"] == 0
    assert event["baseline_ratio"] == 1.0 and event["last_for_network"] is False
    # Counted once each, whatever judged them; the other network is another matter.
    assert (await tallies(pool))[(BLOCKED, "IR-MCI")] == (12, 0)
    assert await judged(pool, dials(BLOCKED, 12, False, "Irancell")) == []

    # A transaction that rolls back counts nothing.
    with pytest.raises(RuntimeError):
        async with pool.connection() as conn, conn.transaction():
            await count_outcomes(conn, dials(BLOCKED, 5, True))
            raise RuntimeError("the batch failed")
    assert (await tallies(pool))[(BLOCKED, "IR-MCI")] == (12, 0)

    # Quarantined for a second; probes count from the first whole bucket after it ends (their
    # outcomes are dated there): three that deliver release it.
    await asyncio.sleep(1.1)
    later = event["until"] + timedelta(seconds=10)  # type: ignore[operator]
    assert await judged(pool, dials(BLOCKED, 2, True, at=later)) == []  # too few probes yet
    [released] = await judged(pool, dials(BLOCKED, 1, True, at=later))
    assert released["event_type"] == "RangeReleased"
    assert (released["dialled"], released["delivered"]) == (3, 3)

    # Released: the failures of before do not quarantine it again; new ones must reach the
    # minimum sample again (counted from the first whole bucket after the release).
    assert await judged(pool, dials(BLOCKED, 9, False)) == []
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT until, strikes, counted_from IS NOT NULL FROM proc_range_states"
                " WHERE range_id = %s AND network = 'IR-MCI'",
                (BLOCKED,),
            )
        ).fetchone()
    assert row == (None, 0, True)


@pytest.fixture
def publisher(bootstrap: str, pool: AsyncConnectionPool) -> Iterator[Publisher]:
    ensure_topics(bootstrap, 2)
    producer = EventProducer(bootstrap, "test-range-health")
    yield Publisher(pool, producer)
    producer.close()


async def test_a_judgement_made_again_after_its_transaction_failed_counts_once(
    pool: AsyncConnectionPool, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = f"Net-{uuid.uuid4().hex[:8]}"  # a series of its own
    healthy, blocked = uuid.uuid4(), uuid.uuid4()
    range_health.COUNTED.clear()  # (what other tests counted is theirs)
    await counted(pool, dials(healthy, 20, True, network) + dials(blocked, 12, False, network))
    write, failures = Outbox.write, [psycopg.OperationalError("the connection was lost")]

    async def failing_once(self: Outbox, conn: psycopg.AsyncConnection) -> None:
        if failures:
            raise failures.pop()
        await write(self, conn)

    monkeypatch.setattr(Outbox, "write", failing_once)
    with pytest.raises(psycopg.OperationalError):
        await range_health.judge_counted(pool, publisher, RULES)
    await range_health.judge_counted(pool, publisher, RULES)  # judged again, and committed
    series = {"network": network}
    assert REGISTRY.get_sample_value("flashcall_range_quarantines_total", series) == 1.0
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT range_id, strikes FROM proc_range_states WHERE network = %s", (network,)
            )
        ).fetchall()
    assert rows == [(blocked, 1)]


async def test_no_quarantine_when_every_range_fails(pool: AsyncConnectionPool) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert await judged(pool, dials(a, 20, False, "Rightel") + dials(b, 20, False, "Rightel")) == []
    # One range of a network and nothing to compare it with: never quarantined either.
    assert await judged(pool, dials(uuid.uuid4(), 30, False, "MTN")) == []


async def test_counts_older_than_any_window_are_forgotten(pool: AsyncConnectionPool) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    await judged(pool, dials(old, 3, True, "Old", at=datetime.now(UTC) - timedelta(hours=2)))
    await judged(pool, dials(recent, 3, True, "Old"))
    assert await forget_old_outcomes(pool, 3600) == 1
    counted = await tallies(pool)
    assert (old, "Old") not in counted and counted[(recent, "Old")] == (3, 3)
