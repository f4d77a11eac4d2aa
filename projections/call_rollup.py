"""The rolled-up call report: the calls requested in each quarter hour, per service, key and
current status, with how many were delivered and what they cost (table call_rollup).

The projection keeps it in the transaction that changes the calls: it reads the rows a batch
touches as they were (locking them), upserts them, and moves each changed call from what its
old row counted as to what its new row counts as. A copy or a replay of an event changes no
row and so moves nothing; a late event moves a call from one status to another; a rebuild
from the topics gives the same sums. Summaries read these rows (thousands a month) instead
of the calls (millions), and they outlive the calls' retention.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import dict_row

from processors.batches import RetryLater
from projections.call_report import REPORT, ReportFilter, utc

# Every zone's offset from UTC is a whole number of quarter hours: an hour or a day of any
# zone is a whole number of slots.
SLOT = timedelta(minutes=15)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # date_bin's origin in the migration
BUCKETS = ("hour", "day")


class RollupKey(NamedTuple):
    account_id: Any
    slot: datetime
    service_id: Any
    key_id: Any
    status: str


class Counts(NamedTuple):
    calls: int
    delivered: int
    cost: int


def slot_of(at: datetime) -> datetime:
    """The quarter hour (UTC) `at` falls in."""
    return at - (at - EPOCH) % SLOT


def counted_as(row: Mapping[str, Any] | None) -> tuple[RollupKey, Counts] | None:
    """Where a calls row counts, and what; a stub (events of a call whose request is not
    projected yet) counts nowhere, as the reports do not show it."""
    if row is None or row["service_id"] is None or row["created_at"] is None:
        return None
    slot = slot_of(row["created_at"])
    key = RollupKey(row["account_id"], slot, row["service_id"], row["key_id"], row["status"])
    return key, Counts(1, int(row["delivered_at"] is not None), int(row["cost"]))


def moves(
    before: Mapping[Any, Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> dict[RollupKey, Counts]:
    """What the rollup gains (or loses: negative counts) when the calls `before` (by id) become
    the rows `after`; keys whose counts cancel out are left out."""
    total: dict[RollupKey, Counts] = {}

    def add(entry: tuple[RollupKey, Counts] | None, sign: int) -> None:
        if entry is not None:
            key, counts = entry
            old = total.get(key, Counts(0, 0, 0))
            total[key] = Counts(*(o + sign * c for o, c in zip(old, counts, strict=True)))

    for row in after:
        add(counted_as(before.get(row["id"])), -1)
        add(counted_as(row), +1)
    return {key: counts for key, counts in total.items() if any(counts)}


# ------------------------------------------------------------------------ the projection's side
COUNTED_COLUMNS = "id, account_id, service_id, key_id, status, created_at, delivered_at, cost"


async def lock_calls(conn: psycopg.AsyncConnection, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    """The existing rows of these calls as they are, locked (in id order, as every writer of
    calls locks them) until the batch commits."""
    cur = conn.cursor(row_factory=dict_row)
    await cur.execute(
        f"SELECT {COUNTED_COLUMNS} FROM calls WHERE id = ANY(%b) ORDER BY id FOR UPDATE",
        (sorted(ids),),
    )
    return {row["id"]: row for row in await cur.fetchall()}


def check_inserted(before: Mapping[Any, Any], changed: Iterable[Mapping[str, Any]]) -> None:
    """A call the batch did not find but did not insert either was inserted by another batch
    since: what it counted as is unknown, so the batch is tried again (it will find it)."""
    for row in changed:
        if row["id"] not in before and not row["inserted"]:
            raise RetryLater(f"call {row['id']} was inserted by another batch meanwhile")


async def roll_up(conn: psycopg.AsyncConnection, gains: Mapping[RollupKey, Counts]) -> None:
    """Add the batch's moves to the rollup (in key order: concurrent batches cannot deadlock)."""
    if not gains:
        return
    keys = sorted(gains)
    await conn.execute(
        "INSERT INTO call_rollup (account_id, slot, service_id, key_id, status, calls,"
        " delivered, cost) SELECT * FROM unnest(%b::uuid[], %b::timestamptz[], %b::uuid[],"
        " %b::uuid[], %b::text[], %b::int[], %b::int[], %b::bigint[])"
        " ON CONFLICT (account_id, slot, service_id, key_id, status) DO UPDATE SET"
        " calls = call_rollup.calls + EXCLUDED.calls,"
        " delivered = call_rollup.delivered + EXCLUDED.delivered,"
        " cost = call_rollup.cost + EXCLUDED.cost",
        (
            *([k[i] for k in keys] for i in range(len(RollupKey._fields))),
            *([gains[k][i] for k in keys] for i in range(len(Counts._fields))),
        ),
    )


# ------------------------------------------------------------------------------- summaries
class Span(NamedTuple):
    start: datetime | None
    end: datetime | None


def split(start: datetime | None, end: datetime | None) -> tuple[Span | None, list[Span]]:
    """[start, end) as the whole slots the rollup answers and the partial slots at its edges
    that are read from the calls."""
    first = start if start is None or slot_of(start) == start else slot_of(start) + SLOT
    last = end if end is None else slot_of(end)
    if first is not None and last is not None and first >= last:
        return None, [Span(start, end)]
    edges = []
    if start is not None and first != start:
        edges.append(Span(start, first))
    if end is not None and last != end:
        edges.append(Span(last, end))
    return Span(first, last), edges


# Each slot's sums first (a timestamp to hash per row), then each bucket's: the zone's
# date_trunc is the costly part, and it runs once a slot rather than once a row. Sums of
# bigint are numeric in PostgreSQL: cast back, so that every reader gets integers.
SLOT_SUMS = (
    "sum(calls) AS requested, sum(delivered) AS delivered,"
    " sum(calls) FILTER (WHERE status = 'failed') AS failed,"
    " sum(calls) FILTER (WHERE status = 'rejected') AS rejected,"
    " sum(calls) FILTER (WHERE status = 'verified') AS verified,"
    " sum(calls) FILTER (WHERE status = 'expired') AS expired,"
    " sum(cost) AS cost"
)
BUCKET_SUMS = ", ".join(
    f"coalesce(sum({name}), 0)::bigint AS {name}"
    for name in ("requested", "delivered", "failed", "rejected", "verified", "expired", "cost")
)
# A call of the report, shaped as a rollup row of its own.
AS_ROLLUP = (
    "SELECT created_at AS slot, status, 1 AS calls, (delivered_at IS NOT NULL)::int AS delivered,"
    f" cost FROM {REPORT}"
)


def summary_query(report: ReportFilter, bucket: str, zone: str) -> tuple[str, list[Any]]:
    """The summary's SQL: buckets of `bucket` in `zone`, summed from the rollup, the edges of
    the time range that are not whole slots, and from the calls alone where the filter is on
    what the rollup does not keep (a phone, a reference)."""
    assert bucket in BUCKETS
    parts: list[str] = []
    params: list[Any] = []
    if report.phone is None and report.reference is None:
        whole, edges = split(report.start and utc(report.start), report.end and utc(report.end))
    else:
        whole, edges = None, [Span(report.start, report.end)]
    if whole is not None:
        clauses = ["account_id = %s"]
        params.append(report.account_id)
        conditions: tuple[tuple[str, Any], ...] = (
            ("service_id = %s", report.service_id),
            ("key_id = %s", report.key_id),
            ("status = %s", report.status),
            ("slot >= %s", whole.start),
            ("slot < %s", whole.end),
        )
        for clause, value in conditions:
            if value is not None:
                clauses.append(clause)
                params.append(value)
        parts.append(
            "SELECT slot, status, calls, delivered, cost FROM call_rollup WHERE "
            + " AND ".join(clauses)
        )
    for edge in edges:
        where, edge_params = replace(report, start=edge.start, end=edge.end).where()
        parts.append(AS_ROLLUP + where)
        params += edge_params
    sql = (
        f"SELECT date_trunc(%s, slot, %s) AS start, {BUCKET_SUMS} FROM (SELECT slot, {SLOT_SUMS}"
        " FROM ("
        + " UNION ALL ".join(parts)
        + ") AS counted GROUP BY slot) AS slots GROUP BY 1 HAVING sum(requested) > 0 ORDER BY 1"
    )
    return sql, [bucket, zone, *params]


def differences_sql(schema: str = "public", services: bool = True) -> str:
    """The rollup rows that differ from the calls they count, either way, read in one snapshot
    (of `schema`; of the services `%(services)s` only, if `services`): none, always. Rows a
    call moved out of (all counts 0) are not rows: a rebuild in other batches has other ones.
    Checked by the tests, bench/chaos.py after every fault, and `flashcall replay-check`."""
    only = " AND service_id = ANY(%(services)s)" if services else ""
    return (
        "WITH kept AS (SELECT account_id, slot, service_id, key_id, status, calls, delivered,"
        f" cost FROM {schema}.call_rollup WHERE (calls, delivered, cost) <> (0, 0, 0){only}),"
        " counted AS (SELECT account_id,"
        f" date_bin('15 minutes', created_at, {_epoch()}) AS slot, service_id, key_id, status,"
        " count(*)::int AS calls, count(delivered_at)::int AS delivered, sum(cost)::bigint AS cost"
        f" FROM {schema}.calls WHERE service_id IS NOT NULL{only} GROUP BY 1, 2, 3, 4, 5)"
        " (TABLE kept EXCEPT ALL TABLE counted) UNION ALL (TABLE counted EXCEPT ALL TABLE kept)"
    )


def _epoch() -> str:
    return f"'{EPOCH.isoformat()}'::timestamptz"


async def differences(conn: psycopg.AsyncConnection, services: list[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(differences_sql(), {"services": services})
    return await cur.fetchall()
