"""The rolled-up report fed through the projection's handler against the real database: in
every order a consumer may see the events, copied, replayed and raced by a second batch, it
counts each call once where its row says; and every summary the contract allows, read from
it, is the summary of the calls themselves."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from core.call_rules import CallStatus
from projections.call_report import REPORT, ReportFilter
from projections.call_rollup import COLUMNS, MEASURES, STATUSES, differences, summary_query
from projections.read_models import Projector
from projections.retention import forget_old_calls
from runtime.batches import RetryLater
from runtime.outbox import Outbox
from schemas.codec import Event, decode, encode, new_event
from tests.integration.test_handlers import PRICE, apply, orders, phone

# Mid-month, so that every zone's day around it is whole in the data.
T0 = datetime(2026, 11, 14, 12, 0, tzinfo=UTC)
OUTCOMES = ("verified", "expired", "delivered", "failed", "rejected", "queued", "dialing")


class Account:
    def __init__(self) -> None:
        self.account_id = uuid.uuid4()
        self.services = [uuid.uuid4(), uuid.uuid4()]
        self.keys = {s: [uuid.uuid4(), uuid.uuid4()] for s in self.services}

    def call(self, outcome: str, at: datetime, rng: random.Random) -> list[Event]:
        """Every event of one call that ends as `outcome`, in the order they happen."""
        service_id = rng.choice(self.services)
        ids = {"call_id": uuid.uuid4(), "service_id": service_id}
        ring = at + timedelta(seconds=2)
        events = [
            new_event(
                "CallRequested",
                occurred_at=at,
                account_id=self.account_id,
                key_id=rng.choice(self.keys[service_id]),
                phone=phone(),
                caller_number=f"+9821{rng.randrange(10**8):08d}",
                code_length=5,
                code_ttl_minutes=2,
                attempt=1,
                retry_of=None,
                price_per_call=PRICE,
                reference=f"ref-{rng.randrange(3)}",
                **ids,
            )
        ]
        if outcome == "rejected":
            return [*events, new_event("CallRejected", reason="rate_limited", **ids)]
        if outcome == "queued":
            return events
        events.append(new_event("DialStarted", occurred_at=at + timedelta(seconds=1), **ids))
        if outcome == "failed":
            return [*events, new_event("CallFailed", occurred_at=ring, reason="busy", **ids)]
        if outcome == "dialing":
            return events
        expires = ring + timedelta(minutes=2)
        events.append(new_event("CallDelivered", occurred_at=ring, expires_at=expires, **ids))
        if outcome == "verified":
            events.append(new_event("CodeVerified", occurred_at=ring, verify_attempts=1, **ids))
        if outcome == "expired":
            events.append(new_event("CodeExpired", occurred_at=expires, **ids))
        return events

    def history(self, calls: int, seed: int, spread: timedelta) -> list[Event]:
        rng = random.Random(seed)
        events: list[Event] = []
        for _ in range(calls):
            at = T0 + timedelta(seconds=rng.uniform(-1, 1) * spread.total_seconds())
            events += self.call(rng.choice(OUTCOMES), at, rng)
        return events


async def rollup_differences(pool: AsyncConnectionPool, account: Account) -> list[Any]:
    async with pool.connection() as conn:
        return await differences(conn, account.services)


async def by_status(pool: AsyncConnectionPool, account: Account) -> dict[str, tuple[int, ...]]:
    """The account's (calls, delivered, cost, by SMS) of each status that has any."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            f"SELECT {', '.join(f'sum({c})' for c in COLUMNS)} FROM call_rollup"
            " WHERE account_id = %s",
            (account.account_id,),
        )
        row = await cur.fetchone()
    sums = [int(v or 0) for v in row or ()]
    found = {
        status.value: tuple(sums[i * len(MEASURES) : (i + 1) * len(MEASURES)])
        for i, status in enumerate(STATUSES)
    }
    return {status: sums for status, sums in found.items() if any(sums)}


async def totals(pool: AsyncConnectionPool, account: Account) -> tuple[int, ...]:
    """The account's calls, delivered calls, cost and calls by SMS, all statuses."""
    counted = (await by_status(pool, account)).values()
    return tuple(sum(column) for column in zip(*counted, strict=True)) or (0, 0, 0, 0)


@pytest.mark.parametrize("order", list(orders([])))
async def test_each_call_counts_once_where_its_row_says_however_its_events_arrive(
    pool: AsyncConnectionPool, order: str
) -> None:
    projector = Projector(publish_reports=False)
    account = Account()
    history = account.history(calls=12, seed=3, spread=timedelta(hours=1))
    for batch in orders(history)[order]:
        await apply(pool, projector, batch)
    assert await rollup_differences(pool, account) == []
    calls, delivered, cost, by_sms = await totals(pool, account)
    outcomes = [e for e in history if e["event_type"] == "CallRequested"]
    assert calls == len(outcomes) == 12
    delivered_calls = {e["call_id"] for e in history if e["event_type"] == "CallDelivered"}
    assert (delivered, cost, by_sms) == (len(delivered_calls), len(delivered_calls) * PRICE, 0)


async def test_a_late_event_moves_a_call_between_statuses_without_counting_it_twice(
    pool: AsyncConnectionPool,
) -> None:
    projector = Projector(publish_reports=False)
    account = Account()
    requested, dial, delivered, verified = account.call("verified", T0, random.Random(1))
    call_id = requested["call_id"]

    await apply(pool, projector, [delivered])  # a stub: counted nowhere
    assert await by_status(pool, account) == {}
    await apply(pool, projector, [requested])
    assert await by_status(pool, account) == {"delivered": (1, 1, PRICE, 0)}
    await apply(pool, projector, [dial])  # late and lower: moves nothing
    assert await by_status(pool, account) == {"delivered": (1, 1, PRICE, 0)}
    await apply(pool, projector, [verified])
    assert await by_status(pool, account) == {"verified": (1, 1, PRICE, 0)}
    expired = new_event("CodeExpired", call_id=call_id, service_id=requested["service_id"])
    await apply(pool, projector, [expired, {**verified, "event_id": str(uuid.uuid4())}])
    assert await by_status(pool, account) == {"verified": (1, 1, PRICE, 0)}
    assert await rollup_differences(pool, account) == []


async def test_a_batch_racing_another_for_a_new_call_is_tried_again_and_counts_once(
    pool: AsyncConnectionPool,
) -> None:
    """Two batches about the same new call at once (two topics, two agents): the second finds
    no row, then meets the first's insert; it cannot know what the row counted as, so it is
    retried, and then the call is counted once, as delivered."""
    projector = Projector(publish_reports=False)
    account = Account()
    requested, _, delivered, _ = account.call("verified", T0, random.Random(2))
    first = await pool.getconn()
    second = await pool.getconn()
    try:
        await first.execute("BEGIN")
        await projector.handle(first, [decode(encode(requested))], Outbox())
        pid = (await (await first.execute("SELECT pg_backend_pid()")).fetchone() or [0])[0]
        assert pid
        blocked_pid = second.info.backend_pid

        async def second_batch() -> None:
            async with second.transaction():
                await projector.handle(second, [decode(encode(delivered))], Outbox())

        racing = asyncio.create_task(second_batch())

        async def waiting_on_the_first() -> bool:
            cur = await first.execute("SELECT %s = ANY(pg_blocking_pids(%s))", (pid, blocked_pid))
            return bool((await cur.fetchone() or [False])[0])

        deadline = asyncio.get_running_loop().time() + 20
        while not await waiting_on_the_first():
            assert asyncio.get_running_loop().time() < deadline, "the second batch never waited"
            await asyncio.sleep(0.02)
        await first.execute("COMMIT")
        with pytest.raises(RetryLater):
            await racing
        await apply(pool, projector, [delivered])  # the retry
    finally:
        await pool.putconn(first)
        await pool.putconn(second)
    assert await totals(pool, account) == (1, 1, PRICE, 0)
    assert await rollup_differences(pool, account) == []


# ------------------------------------------------------------------------------- summaries
def scanned(report: ReportFilter, bucket: str, zone: str) -> tuple[str, list[Any]]:
    """The summary counted from the calls themselves (what the rollup must always equal)."""
    where, params = report.where()
    return (
        "SELECT date_trunc(%s, created_at, %s) AS start, count(*) AS requested,"
        " count(delivered_at) AS delivered,"
        " count(*) FILTER (WHERE status = 'failed') AS failed,"
        " count(*) FILTER (WHERE status = 'rejected') AS rejected,"
        " count(*) FILTER (WHERE status = 'verified') AS verified,"
        " count(*) FILTER (WHERE status = 'expired') AS expired,"
        " coalesce(sum(cost), 0)::bigint AS cost,"
        " count(*) FILTER (WHERE status = 'verified' AND channel = 'sms') AS verified_sms"
        f" FROM {REPORT}{where} GROUP BY 1 ORDER BY 1",
        [bucket, zone, *params],
    )


@pytest.fixture(scope="module")
def busy_account() -> Account:
    return Account()


@pytest.fixture
async def projected(pool: AsyncConnectionPool, busy_account: Account) -> Account:
    """600 calls over two days, projected once for the module's tests."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM calls WHERE account_id = %s", (busy_account.account_id,)
        )
        if (await cur.fetchone() or [0])[0] == 0:
            history = busy_account.history(calls=600, seed=11, spread=timedelta(days=1))
            await apply(pool, Projector(publish_reports=False), history)
    return busy_account


def filters(account: Account, rng: random.Random) -> list[ReportFilter]:
    service, key = account.services[0], account.keys[account.services[0]][1]
    odd = T0 - timedelta(hours=5, minutes=7, seconds=3, microseconds=17)
    found: list[ReportFilter] = [
        ReportFilter(account.account_id),
        ReportFilter(account.account_id, service_id=service),
        ReportFilter(account.account_id, key_id=key),
        ReportFilter(account.account_id, status=CallStatus.VERIFIED),
        ReportFilter(account.account_id, service_id=service, status=CallStatus.FAILED),
        ReportFilter(account.account_id, reference="ref-1"),
        # Counted from the calls alone, within the range.
        ReportFilter(account.account_id, reference="ref-1", start=odd),
        ReportFilter(account.account_id, reference="ref-2", end=odd + timedelta(hours=20)),
        ReportFilter(account.account_id, start=odd),
        ReportFilter(account.account_id, end=odd),
        ReportFilter(account.account_id, start=odd, end=odd + timedelta(hours=20, minutes=1)),
        ReportFilter(account.account_id, start=odd, end=odd + timedelta(minutes=20)),
        ReportFilter(account.account_id, start=T0 - timedelta(hours=6), end=T0),
        ReportFilter(
            account.account_id,
            key_id=key,
            status=CallStatus.EXPIRED,
            start=odd,
            end=T0 + timedelta(hours=3, seconds=1),
        ),
    ]
    for _ in range(8):  # arbitrary instants, to the microsecond
        a = T0 + timedelta(seconds=rng.uniform(-0.9, 0.5) * 86400)
        b = a + timedelta(seconds=rng.uniform(0, 86400))
        found.append(ReportFilter(account.account_id, start=a, end=b))
    return found


@pytest.mark.parametrize("zone", ["Asia/Tehran", "UTC", "Asia/Kathmandu", "America/St_Johns"])
@pytest.mark.parametrize("bucket", ["day", "hour"])
async def test_every_summary_is_the_summary_of_the_calls_themselves(
    pool: AsyncConnectionPool, projected: Account, zone: str, bucket: str
) -> None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        phone_of_a_call = await (
            await conn.execute(
                "SELECT phone FROM calls WHERE account_id = %s LIMIT 1", (projected.account_id,)
            )
        ).fetchone()
        assert phone_of_a_call is not None
        cases = filters(projected, random.Random(zone + bucket))
        cases.append(ReportFilter(projected.account_id, phone=phone_of_a_call[0]))
        nonempty = 0
        for report in cases:
            await cur.execute(*summary_query(report, bucket, zone))
            rolled = await cur.fetchall()
            await cur.execute(*scanned(report, bucket, zone))
            assert rolled == await cur.fetchall(), report
            # Integers, not numeric: the panel writes them into JSON for its chart.
            assert all(type(v) is int for b in rolled for k, v in b.items() if k != "start")
            nonempty += bool(rolled)
        assert nonempty == len(cases)  # every filter selects calls


async def test_day_buckets_are_the_days_of_the_zone(
    pool: AsyncConnectionPool, projected: Account
) -> None:
    """In Tehran a day starts at 20:30 UTC the evening before: a call at 21:00 UTC is counted
    on the next day there, and on its own day in UTC."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        report = ReportFilter(projected.account_id)
        await cur.execute(*summary_query(report, "day", "Asia/Tehran"))
        starts = [b["start"] for b in await cur.fetchall()]
    utc = [s.astimezone(UTC) for s in starts]
    assert utc and all((s.hour, s.minute) == (20, 30) for s in utc), utc


async def test_calls_past_their_retention_are_deleted_and_the_summary_keeps_them(
    pool: AsyncConnectionPool,
) -> None:
    """Ten years back, so that no other test's calls are that old."""
    projector = Projector(publish_reports=False)
    account = Account()
    rng = random.Random(5)
    old = datetime.now(UTC) - timedelta(days=3650)
    opened = new_event(
        "AccountCreated",
        occurred_at=old,
        account_id=account.account_id,
        name="old",
        token_hash="x",
        price_per_call=PRICE,
        credit_limit=10_000,
    )
    history = [opened, *(e for _ in range(30) for e in account.call("verified", old, rng))]
    history += account.call("failed", datetime.now(UTC) - timedelta(days=1), rng)
    await apply(pool, projector, history)
    report = ReportFilter(account.account_id)

    async def summed() -> list[tuple[Any, ...]]:
        async with pool.connection() as conn:
            cur = await conn.execute(*summary_query(report, "day", "Asia/Tehran"))
            return [tuple(row[1:]) for row in await cur.fetchall()]

    before = await summed()
    assert before == [(30, 30, 0, 0, 30, 0, 30 * PRICE, 0), (1, 0, 1, 0, 0, 0, 0, 0)]
    while await forget_old_calls(pool, older_than_days=3000):
        pass
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT status FROM calls WHERE account_id = %s", (account.account_id,)
        )
        assert await cur.fetchall() == [("failed",)]
    assert await summed() == before
    # A late event of a deleted call makes a stub, which counts nowhere.
    late = next(e for e in history if e["event_type"] == "CodeVerified")
    await apply(pool, projector, [{**late, "event_id": str(uuid.uuid4())}])
    assert await summed() == before


async def test_the_check_sees_a_rollup_that_is_not_the_calls_sums(
    pool: AsyncConnectionPool,
) -> None:
    """The check every fault and replay test leans on can fail: one count off is seen."""
    projector = Projector(publish_reports=False)
    account = Account()
    await apply(pool, projector, account.history(calls=5, seed=8, spread=timedelta(hours=1)))
    assert await rollup_differences(pool, account) == []
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE call_rollup SET verified_calls = verified_calls + 1 WHERE ctid ="
            " (SELECT ctid FROM call_rollup WHERE account_id = %s LIMIT 1)",
            (account.account_id,),
        )
    assert len(await rollup_differences(pool, account)) == 2  # the row kept, the row counted
