"""An Idempotency-Key's claim against PostgreSQL: one request holds it; a claim older than the
stale bound, or an answer older than the kept hours, is claimed again; a released claim frees
the key; an answer is kept only by the request that holds the claim; what a claim drew is kept
for the next claim of the same body (migration 025)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from front_door import queries

HOURS = 24
STALE = 30.0


async def age(pool: AsyncConnectionPool, key: str, column: str, seconds: float) -> None:
    """Move a key's claim or answer `seconds` into the past."""
    async with pool.connection() as conn:
        await conn.execute(
            f"UPDATE idempotency_keys SET {column} = {column} - make_interval(secs => %s)"
            " WHERE key = %s",
            (seconds, key),
        )


async def test_one_request_holds_a_key_until_it_answers(pool: AsyncConnectionPool) -> None:
    first = await queries.claim_key(pool, "s", "k1", "hash-a", HOURS, STALE)
    assert first is not None
    assert await queries.claim_key(pool, "s", "k1", "hash-a", HOURS, STALE) is None
    assert await queries.claim_key(pool, "s", "k1", "hash-b", HOURS, STALE) is None
    assert await queries.kept_answer(pool, "s", "k1") == queries.KeptAnswer(
        "hash-a", queries.CLAIMED, None
    )
    # Another scope is another key.
    assert await queries.claim_key(pool, "t", "k1", "hash-a", HOURS, STALE) is not None
    await queries.keep_answer(pool, "s", "k1", first.claimed_at, 201, {"id": "one"})
    assert await queries.kept_answer(pool, "s", "k1") == queries.KeptAnswer(
        "hash-a", 201, {"id": "one"}
    )
    assert await queries.claim_key(pool, "s", "k1", "hash-a", HOURS, STALE) is None


async def test_a_released_claim_frees_the_key(pool: AsyncConnectionPool) -> None:
    claimed = await queries.claim_key(pool, "s", "k2", "hash-a", HOURS, STALE)
    assert claimed is not None
    await queries.release_key(pool, "s", "k2", claimed.claimed_at)
    again = await queries.claim_key(pool, "s", "k2", "hash-b", HOURS, STALE)
    assert again is not None and again.claimed_at > claimed.claimed_at


async def test_a_retry_of_the_same_body_gets_what_the_first_claim_drew(
    pool: AsyncConnectionPool,
) -> None:
    first = await queries.claim_key(pool, "s", "k5", "hash-a", HOURS, STALE, {"id": "one"})
    assert first is not None and first.drawn == {"id": "one"}
    await queries.release_key(pool, "s", "k5", first.claimed_at)
    retry = await queries.claim_key(pool, "s", "k5", "hash-a", HOURS, STALE, {"id": "two"})
    assert retry is not None and retry.drawn == {"id": "one"}
    # A claim left by a process that died, taken over: the same.
    await age(pool, "k5", "claimed_at", STALE + 1)
    taken = await queries.claim_key(pool, "s", "k5", "hash-a", HOURS, STALE, {"id": "three"})
    assert taken is not None and taken.drawn == {"id": "one"}
    # Another body is another request: it draws anew.
    await queries.release_key(pool, "s", "k5", taken.claimed_at)
    other = await queries.claim_key(pool, "s", "k5", "hash-b", HOURS, STALE, {"id": "four"})
    assert other is not None and other.drawn == {"id": "four"}
    await queries.keep_answer(pool, "s", "k5", other.claimed_at, 201, {"id": "four"})
    # A kept answer past its hours is claimed as new.
    await age(pool, "k5", "created_at", HOURS * 3600 + 60)
    later = await queries.claim_key(pool, "s", "k5", "hash-b", HOURS, STALE, {"id": "five"})
    assert later is not None and later.drawn == {"id": "five"}


async def test_a_stale_claim_is_taken_over_and_its_late_answer_not_kept(
    pool: AsyncConnectionPool,
) -> None:
    dead = await queries.claim_key(pool, "s", "k3", "hash-a", HOURS, STALE)
    assert dead is not None
    await age(pool, "k3", "claimed_at", STALE - 5)
    assert await queries.claim_key(pool, "s", "k3", "hash-a", HOURS, STALE) is None
    await age(pool, "k3", "claimed_at", 10)
    taken = await queries.claim_key(pool, "s", "k3", "hash-a", HOURS, STALE)
    assert taken is not None
    # The first holder, late, neither keeps its answer nor frees the new holder's claim.
    await queries.keep_answer(pool, "s", "k3", dead.claimed_at, 201, {"id": "late"})
    await queries.release_key(pool, "s", "k3", dead.claimed_at)
    assert await queries.kept_answer(pool, "s", "k3") == queries.KeptAnswer(
        "hash-a", queries.CLAIMED, None
    )
    await queries.keep_answer(pool, "s", "k3", taken.claimed_at, 201, {"id": "new"})
    assert await queries.kept_answer(pool, "s", "k3") == queries.KeptAnswer(
        "hash-a", 201, {"id": "new"}
    )


async def test_an_answer_past_its_hours_is_claimed_again(pool: AsyncConnectionPool) -> None:
    claimed = await queries.claim_key(pool, "s", "k4", "hash-a", HOURS, STALE)
    assert claimed is not None
    await queries.keep_answer(pool, "s", "k4", claimed.claimed_at, 201, {"id": "old"})
    await age(pool, "k4", "created_at", HOURS * 3600 - 60)
    assert await queries.claim_key(pool, "s", "k4", "hash-b", HOURS, STALE) is None
    await age(pool, "k4", "created_at", 120)
    assert await queries.claim_key(pool, "s", "k4", "hash-b", HOURS, STALE) is not None
