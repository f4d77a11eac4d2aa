"""A carrier's calls per second are the platform's, against the real database: two workers
pacing one trunk start no more calls a second than the trunk allows, together (each pacing
alone, they would start twice as many); a worker's own starts stay 1/rate apart; a connection
PostgreSQL ends is waited out."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import pytest
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool
from processors.sip.pacing import SharedPacer
from tests.support.postgres import end_connection

RATE = 20.0
STARTS = 30  # per worker
WAIT = "flashcall_carrier_pace_wait_seconds"


async def starts(pacer: SharedPacer, count: int) -> list[float]:
    """When each of `count` callers, all asking at once, was let start."""

    async def one() -> float:
        await pacer.wait()
        return time.monotonic()

    return sorted(await asyncio.gather(*(one() for _ in range(count))))


def busiest_second(times: list[float]) -> int:
    return max(sum(1 for t in times[i:] if t - start < 1.0) for i, start in enumerate(times))


async def test_two_workers_start_no_more_than_the_trunk_allows_together(
    pool: AsyncConnectionPool, second_pool: AsyncConnectionPool
) -> None:
    trunk = f"sip:trunk-{uuid.uuid4().hex[:8]}"
    first, second = SharedPacer(pool, trunk, RATE), SharedPacer(second_pool, trunk, RATE)
    mine, theirs = await asyncio.gather(starts(first, STARTS), starts(second, STARTS))
    together = sorted(mine + theirs)
    # 60 starts at 20 a second take 59/20 = 2.95 s at the soonest (never early); two workers
    # pacing alone would be done in half of that. A wake-up late by some milliseconds may come
    # that much closer to the other worker's next start: a start or two of slack in a second.
    assert together[-1] - together[0] >= (2 * STARTS - 1) / RATE - 0.05
    assert busiest_second(together) <= RATE + 2
    # Each worker's own starts: at least 1/rate apart (a millisecond for the clocks' reading).
    for own in (mine, theirs):
        assert min(b - a for a, b in itertools.pairwise(own)) >= 1 / RATE - 0.001
    # What the operators see (flashcall_carrier_pace_wait_seconds): every start's wait, the
    # last ones near three seconds; all of them together over a minute and a half (0.05 s ×
    # the 1,770 places ahead of them, summed).
    labels = {"pacer": trunk}
    assert REGISTRY.get_sample_value(f"{WAIT}_count", labels) == 2 * STARTS
    assert (REGISTRY.get_sample_value(f"{WAIT}_sum", labels) or 0) >= 80.0


async def test_a_quiet_trunk_starts_at_once_and_each_trunk_is_paced_apart(
    pool: AsyncConnectionPool, second_pool: AsyncConnectionPool
) -> None:
    one, other = f"sip:a-{uuid.uuid4().hex[:8]}", f"sip:b-{uuid.uuid4().hex[:8]}"
    asked = time.monotonic()
    # Two trunks do not share a schedule: both first starts go at once (one schedule at a
    # start each ten seconds would hold the second one ten seconds).
    await asyncio.gather(
        SharedPacer(pool, one, 0.1).wait(), SharedPacer(second_pool, other, 0.1).wait()
    )
    assert time.monotonic() - asked < 5.0


async def test_a_start_waits_out_a_connection_postgresql_ended(
    quiet_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A transient failure (here the pacer's connection ended by PostgreSQL) is waited out:
    the start is scheduled once the database answers again, never made unscheduled."""
    async with async_pool(quiet_database_url, max_size=1) as pool:
        pacer = SharedPacer(pool, f"sip:c-{uuid.uuid4().hex[:8]}", 100.0)
        await pacer.wait()
        pid = await end_connection(pool, quiet_database_url)
        await asyncio.wait_for(pacer.wait(), 20)
        assert "waiting for PostgreSQL" in caplog.text
        async with pool.connection() as conn:
            assert conn.info.backend_pid != pid
