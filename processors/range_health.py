"""The caller ranges' health, kept by the decisions with the dial outcomes (docs/ranges.md).

Each flash-call outcome from a range is counted once, in the transaction that applies it, in
proc_range_outcomes: per range, network and 10-second bucket, in a row of this database
session's own (so two workers never wait on each other's counts). Judging is kept off that
transaction: right after each batch commits (and from a timer, for what a failure left), the
decisions worker judges each range and network it counted since its last look
(`judge_counted`; the rule is core/caller_ranges.py `judge`), under an advisory lock of the
pair, so two workers judging it one after the other see each other's counts. A quarantine or
a release is written to proc_range_states and emitted (RangeQuarantined, RangeReleased) in the
same transaction, with an id fixed by the range, the network and when the quarantine began:
emitted once, whatever is replayed.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from core import metrics
from core.caller_ranges import (
    HealthRules,
    Quarantine,
    Tally,
    Verdict,
    bucket_of,
    counted_since,
)
from core.caller_ranges import judge as judge_pair
from core.ids import derived_id
from runtime.outbox import Outbox, Publisher
from schemas.codec import new_event

log = logging.getLogger(__name__)

Pair = tuple[uuid.UUID, str]  # (range id, network)


@dataclass(frozen=True)
class Dial:
    """One counted flash-call outcome."""

    range_id: uuid.UUID
    network: str
    at: datetime
    delivered: bool


async def count(conn: psycopg.AsyncConnection, dials: list[Dial]) -> None:
    counts: dict[tuple[Any, str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for d in dials:
        tally = counts[(d.range_id, d.network, bucket_of(d.at))]
        tally[0] += 1
        tally[1] += d.delivered
    keys = sorted(counts, key=lambda k: (str(k[0]), k[1], k[2]))
    await conn.execute(
        "INSERT INTO proc_range_outcomes AS o (range_id, network, bucket, slot, dialled,"
        " delivered) SELECT r, n, b, pg_backend_pid(), d, v FROM unnest(%b::uuid[], %b::text[],"
        " %b::timestamptz[], %b::int[], %b::int[]) AS t(r, n, b, d, v)"
        " ON CONFLICT (range_id, network, bucket, slot) DO UPDATE"
        " SET dialled = o.dialled + EXCLUDED.dialled, delivered = o.delivered + EXCLUDED.delivered",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [counts[k][0] for k in keys],
            [counts[k][1] for k in keys],
        ),
    )


# The pairs this process counted outcomes of since its last judgement (a batch rolled back
# after counting leaves a pair here: judging it again changes nothing).
COUNTED: set[Pair] = set()


async def count_outcomes(conn: psycopg.AsyncConnection, dials: list[Dial]) -> None:
    """Count these outcomes in the caller's transaction; their pairs are judged next tick."""
    if not dials:
        return
    await count(conn, dials)
    COUNTED.update((d.range_id, d.network) for d in dials)


async def judge_counted(
    pool: AsyncConnectionPool, publisher: Publisher, rules: HealthRules
) -> None:
    """Judge every pair counted here since the last call, and publish what that decided."""
    if not COUNTED:
        return
    pairs = sorted(COUNTED, key=lambda p: (str(p[0]), p[1]))
    COUNTED.clear()
    out = Outbox()
    try:
        # Pipeline mode: the lock and the two reads in one round trip, the writes in another.
        async with pool.connection() as conn, conn.transaction(), conn.pipeline():
            await judge(conn, pairs, out, rules)
            await out.write(conn)
    except BaseException:
        COUNTED.update(pairs)  # judged next time
        raise
    _count(out)
    await publisher.publish(out)


def _count(out: Outbox) -> None:
    """The quarantines and releases a committed judgement decided (a judgement whose
    transaction failed is made again, and counts then)."""
    for event in out.events:
        if event["event_type"] == "RangeQuarantined":
            metrics.RANGE_QUARANTINES.labels(event["network"]).inc()
        elif event["event_type"] == "RangeReleased":
            metrics.RANGE_RELEASES.labels(event["network"]).inc()


async def judge(
    conn: psycopg.AsyncConnection, pairs: list[Pair], out: Outbox, rules: HealthRules
) -> None:
    """Judge these pairs (sorted) in the caller's transaction."""
    now = datetime.now(UTC)
    mine = await _locked(conn, pairs)
    networks = {n for _, n in mine}
    states_asked = await _ask_states(conn, networks)
    window_asked = await _ask_window(conn, networks, now - timedelta(seconds=rules.window_seconds))
    states = _states(await states_asked.fetchall())
    buckets = _buckets(await window_asked.fetchall())
    for pair in mine:
        state = states.get(pair, State(None))
        current = state.quarantine
        since = counted_since(current, state.counted_from)
        own, others = _tallies(buckets, pair, since)
        verdict = judge_pair(current, own, others, now, rules)
        if verdict is not None:
            await _apply(conn, pair, current, verdict, own, now, states, buckets, out)


async def _locked(conn: psycopg.AsyncConnection, pairs: list[Pair]) -> list[Pair]:
    """Become the judge of these pairs, in order, waiting for a worker judging one of them to
    commit (its decision is then seen). A judgement takes its locks at one moment, in one
    order: two cannot each hold what the other waits for."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('range:' || r || ':' || n, 0))"
        " FROM unnest(%b::uuid[], %b::text[]) WITH ORDINALITY AS t(r, n, i) ORDER BY i",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    )
    return pairs


@dataclass(frozen=True)
class State:
    quarantine: Quarantine | None  # None: healthy
    counted_from: datetime | None = None  # released then: its own outcomes count from there


async def _ask_states(
    conn: psycopg.AsyncConnection, networks: set[str]
) -> psycopg.AsyncCursor[Any]:
    return await conn.execute(
        "SELECT range_id, network, since, until, strikes, counted_from FROM proc_range_states"
        " WHERE network = ANY(%b)",
        (sorted(networks),),
    )


def _states(rows: list[Any]) -> dict[Pair, State]:
    return {
        (r, n): State(Quarantine(since, until, strikes) if until else None, counted_from)
        for r, n, since, until, strikes, counted_from in rows
    }


Buckets = dict[str, list[tuple[uuid.UUID, datetime, int, int]]]  # network -> rows


async def _ask_window(
    conn: psycopg.AsyncConnection, networks: set[str], start: datetime
) -> psycopg.AsyncCursor[Any]:
    return await conn.execute(
        "SELECT network, range_id, bucket, sum(dialled), sum(delivered)"
        " FROM proc_range_outcomes WHERE network = ANY(%b) AND bucket >= %s"
        " GROUP BY network, range_id, bucket",
        (sorted(networks), bucket_of(start)),
    )


def _buckets(rows: list[Any]) -> Buckets:
    buckets: Buckets = defaultdict(list)
    for network, range_id, bucket, dialled, delivered in rows:
        buckets[network].append((range_id, bucket, int(dialled), int(delivered)))
    return buckets


def _tallies(buckets: Buckets, pair: Pair, since: datetime | None) -> tuple[Tally, Tally]:
    """The range's tally (from `since` if given) and every other range's, to the network."""
    own, others = Tally(), Tally()
    for range_id, bucket, dialled, delivered in buckets.get(pair[1], []):
        if range_id != pair[0]:
            others += Tally(dialled, delivered)
        elif since is None or bucket >= since:
            own += Tally(dialled, delivered)
    return own, others


async def _apply(
    conn: psycopg.AsyncConnection,
    pair: Pair,
    current: Quarantine | None,
    verdict: Verdict,
    own: Tally,
    now: datetime,
    states: dict[Pair, State],
    buckets: Buckets,
    out: Outbox,
) -> None:
    range_id, network = pair
    tally = {"dialled": own.dialled, "delivered": own.delivered}
    if not verdict.quarantine:
        assert current is not None
        await conn.execute(
            "UPDATE proc_range_states SET until = NULL, strikes = 0, counted_from = %s"
            " WHERE range_id = %s AND network = %s",
            (now, *pair),
        )
        out.emit(
            new_event(
                "RangeReleased",
                event_id=str(derived_id(range_id, network, current.since, "released")),
                range_id=range_id,
                network=network,
                baseline_ratio=verdict.baseline,
                **tally,
            )
        )
        log.info("range %s released for %s: %s", range_id, network, tally)
        return
    assert verdict.until is not None
    await conn.execute(
        "INSERT INTO proc_range_states (range_id, network, since, until, strikes)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (range_id, network) DO UPDATE"
        " SET since = EXCLUDED.since, until = EXCLUDED.until, strikes = EXCLUDED.strikes,"
        " counted_from = NULL",
        (range_id, network, now, verdict.until, verdict.strikes),
    )
    # The others that reach the network (dialled it in the window) and are not quarantined.
    healthy = {r for r, _, _, _ in buckets.get(network, []) if r != range_id} - {
        r for (r, n), state in states.items() if n == network and state.quarantine is not None
    }
    out.emit(
        new_event(
            "RangeQuarantined",
            event_id=str(derived_id(range_id, network, now, "quarantined")),
            occurred_at=now,
            range_id=range_id,
            network=network,
            until=verdict.until,
            strikes=verdict.strikes,
            baseline_ratio=verdict.baseline,
            last_for_network=not healthy,
            **tally,
        )
    )
    log.warning(
        "range %s quarantined for %s until %s (strike %d): %s against %.2f%s",
        range_id,
        network,
        verdict.until.isoformat(),
        verdict.strikes,
        tally,
        verdict.baseline,
        "; no other range reaches it" if not healthy else "",
    )


async def forget_old_outcomes(pool: AsyncConnectionPool, older_than_seconds: float) -> int:
    """Delete counts older than any window judges by, a bounded slice at a time."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM proc_range_outcomes WHERE ctid IN (SELECT ctid FROM proc_range_outcomes"
            " WHERE bucket < now() - make_interval(secs => %s) LIMIT 10000)",
            (older_than_seconds,),
        )
        return cur.rowcount
