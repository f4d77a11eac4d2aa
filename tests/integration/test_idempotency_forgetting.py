"""Idempotency-Keys are forgotten once past their 24 h (migration 026): answers kept that long,
claims made or released that long ago; the rest stays, the claim of a request still being made
and what a released claim drew for a retry included."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from psycopg_pool import AsyncConnectionPool

from core.db import async_pool
from front_door import idempotency, queries
from tests.conftest import own_database

HOURS = 24
STALE = 30.0
DAY_AND_AN_HOUR = 25 * 3600
ALMOST_A_DAY = 23 * 3600


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """Of this module alone: forgetting removes old keys of every scope."""
    with own_database() as url:
        yield url


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool]:
    async with async_pool(database, max_size=2) as p:
        yield p


async def claimed(pool: AsyncConnectionPool, scope: str, key: str) -> queries.Claim:
    claim = await queries.claim_key(pool, scope, key, "hash", HOURS, STALE, {"id": key})
    assert claim is not None
    return claim


async def answered(pool: AsyncConnectionPool, scope: str, key: str) -> None:
    claim = await claimed(pool, scope, key)
    await queries.keep_answer(pool, scope, key, claim.claimed_at, 201, {"id": key})


async def released(pool: AsyncConnectionPool, scope: str, key: str) -> None:
    claim = await claimed(pool, scope, key)
    await queries.release_key(pool, scope, key, claim.claimed_at)


async def age(pool: AsyncConnectionPool, scope: str, key: str, column: str, seconds: float) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            f"UPDATE idempotency_keys SET {column} = {column} - make_interval(secs => %s)"
            " WHERE scope = %s AND key = %s",
            (seconds, scope, key),
        )


async def keys(pool: AsyncConnectionPool, scope: str) -> set[str]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT key FROM idempotency_keys WHERE scope = %s", (scope,))
        return {str(row[0]) for row in await cur.fetchall()}


async def test_keys_past_their_day_are_forgotten_and_the_rest_kept(
    pool: AsyncConnectionPool,
) -> None:
    for key in ("answer-new", "answer-23h", "answer-25h", "answer-25h-claimed-again"):
        await answered(pool, "day", key)
    await age(pool, "day", "answer-23h", "created_at", ALMOST_A_DAY)
    await age(pool, "day", "answer-25h", "created_at", DAY_AND_AN_HOUR)
    await age(pool, "day", "answer-25h-claimed-again", "created_at", DAY_AND_AN_HOUR)
    # Past its hours, the key is anyone's again: a new request with it claims it now.
    await claimed(pool, "day", "answer-25h-claimed-again")

    await claimed(pool, "day", "claim-in-flight")
    await claimed(pool, "day", "claim-25h")  # its process died while making, nobody retried
    await age(pool, "day", "claim-25h", "claimed_at", DAY_AND_AN_HOUR)

    await released(pool, "day", "released-now")
    await released(pool, "day", "released-25h")
    await age(pool, "day", "released-25h", "released_at", DAY_AND_AN_HOUR)

    assert await idempotency.forget(pool) == 3
    assert await keys(pool, "day") == {
        "answer-new",
        "answer-23h",
        "answer-25h-claimed-again",
        "claim-in-flight",
        "released-now",
    }
    assert await idempotency.forget(pool) == 0

    # A released claim still keeps what it drew for a retry of the same body.
    retry = await queries.claim_key(pool, "day", "released-now", "hash", HOURS, STALE, {"id": "x"})
    assert retry is not None and retry.drawn == {"id": "released-now"}


async def test_a_claim_released_by_an_older_replica_is_kept_a_day_from_when_it_is_seen(
    pool: AsyncConnectionPool,
) -> None:
    await claimed(pool, "older", "released-old-way")
    async with pool.connection() as conn:  # as replicas before migration 026 release
        await conn.execute(
            "UPDATE idempotency_keys SET claimed_at = '-infinity'"
            " WHERE scope = 'older' AND key = 'released-old-way'"
        )
    assert await idempotency.forget(pool) == 0
    assert await keys(pool, "older") == {"released-old-way"}
    await age(pool, "older", "released-old-way", "released_at", ALMOST_A_DAY)
    assert await idempotency.forget(pool) == 0
    await age(pool, "older", "released-old-way", "released_at", 2 * 3600)
    assert await idempotency.forget(pool) == 1
    assert await keys(pool, "older") == set()


async def test_forgetting_goes_on_slice_after_slice(
    pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idempotency, "FORGET_SLICE", 4)
    for n in range(11):
        await answered(pool, "slices", f"old-{n}")
        await age(pool, "slices", f"old-{n}", "created_at", DAY_AND_AN_HOUR)
    await answered(pool, "slices", "new")
    assert await idempotency.forget(pool) == 11
    assert await keys(pool, "slices") == {"new"}
