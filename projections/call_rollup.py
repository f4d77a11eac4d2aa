"""The rolled-up call report: the calls requested in each quarter hour, per service and key,
and for each status how many are in it, how many of those were delivered, what they cost and
how many are at an SMS step (table call_rollup: a row per quarter hour and key, a column per
status and measure).

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

from core.call_rules import CallStatus
from projections.call_report import REPORT, ReportFilter, utc
from runtime.batches import RetryLater

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
    sms: int  # calls whose step in progress, or last, is an SMS (docs/workflows.md)


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
    sms = int(row.get("channel") == "sms")
    return key, Counts(1, int(row["delivered_at"] is not None), int(row["cost"]), sms)


def moves(
    before: Mapping[Any, Mapping[str, Any]], after: Iterable[Mapping[str, Any]]
) -> dict[RollupKey, Counts]:
    """What the rollup gains (or loses: negative counts) when the calls `before` (by id) become
    the rows `after`; keys whose counts cancel out are left out."""
    total: dict[RollupKey, Counts] = {}

    def add(entry: tuple[RollupKey, Counts] | None, sign: int) -> None:
        if entry is not None:
            key, counts = entry
            old = total.get(key, Counts(0, 0, 0, 0))
            total[key] = Counts(*(o + sign * c for o, c in zip(old, counts, strict=True)))

    for row in after:
        add(counted_as(before.get(row["id"])), -1)
        add(counted_as(row), +1)
    return {key: counts for key, counts in total.items() if any(counts)}


# ------------------------------------------------------------------------ the projection's side
COUNTED_COLUMNS = (
    "id, account_id, service_id, key_id, status, created_at, delivered_at, cost, channel"
)


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


MEASURES = ("calls", "delivered", "cost", "sms")
STATUSES = tuple(CallStatus)
# The rollup's columns: each status's calls, delivered calls, their cost and those by SMS.
COLUMNS = tuple(f"{status}_{measure}" for status in STATUSES for measure in MEASURES)
COLUMN_TYPES = ("int", "int", "bigint", "int") * len(STATUSES)


def pivoted(gains: Mapping[RollupKey, Counts]) -> dict[tuple[Any, ...], list[int]]:
    """The moves as rollup rows: a row per quarter hour and key, the status's columns set."""
    rows: dict[tuple[Any, ...], list[int]] = {}
    for key, counts in gains.items():
        row = rows.setdefault(key[:4], [0] * len(COLUMNS))
        at = STATUSES.index(CallStatus(key.status)) * len(MEASURES)
        row[at : at + len(MEASURES)] = counts
    return rows


async def roll_up(conn: psycopg.AsyncConnection, gains: Mapping[RollupKey, Counts]) -> None:
    """Add the batch's moves to the rollup (in key order: concurrent batches cannot deadlock)."""
    rows = pivoted(gains)
    if not rows:
        return
    keys = sorted(rows)
    key_types = ("uuid", "timestamptz", "uuid", "uuid")
    await conn.execute(
        "INSERT INTO call_rollup (account_id, slot, service_id, key_id, "
        + ", ".join(COLUMNS)
        + ") SELECT * FROM unnest("
        + ", ".join(f"%b::{t}[]" for t in key_types + COLUMN_TYPES)
        + ") ON CONFLICT (account_id, slot, service_id, key_id) DO UPDATE SET "
        + ", ".join(f"{c} = call_rollup.{c} + EXCLUDED.{c}" for c in COLUMNS),
        (
            *([k[i] for k in keys] for i in range(len(key_types))),
            *([rows[k][i] for k in keys] for i in range(len(COLUMNS))),
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


# A summary's figures, in the order of its buckets.
FIGURES = (
    "requested", "delivered", "failed", "rejected", "verified", "expired", "cost", "verified_sms",
)  # fmt: skip
# Each slot's sums first (a timestamp to hash per row), then each bucket's: the zone's
# date_trunc is the costly part, and it runs once a slot rather than once a row. Sums of
# bigint are numeric in PostgreSQL: cast back, so that every reader gets integers.
SLOT_SUMS = ", ".join(f"sum({name}) AS {name}" for name in FIGURES)
BUCKET_SUMS = ", ".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name in FIGURES)
# A call of the report, shaped as a rollup row's figures of its own.
AS_ROLLUP = (
    "SELECT created_at AS slot, 1 AS requested, (delivered_at IS NOT NULL)::int AS delivered, "
    + ", ".join(f"(status = '{s}')::int AS {s}" for s in FIGURES[2:6])
    + ", cost, (status = 'verified' AND channel = 'sms')::int AS verified_sms"
    + f" FROM {REPORT}"
)


def rolled_figures(status: str | None) -> str:
    """A rollup row's figures, of one status or of all."""
    chosen = STATUSES if status is None else (CallStatus(status),)

    def total(measure: str) -> str:
        return " + ".join(f"{s}_{measure}" for s in chosen)

    counted = [total("calls"), total("delivered")]
    counted += [f"{s}_calls" if CallStatus(s) in chosen else "0" for s in FIGURES[2:6]]
    counted.append(total("cost"))
    counted.append("verified_sms" if CallStatus.VERIFIED in chosen else "0")
    return ", ".join(f"{value} AS {name}" for value, name in zip(counted, FIGURES, strict=True))


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
            ("slot >= %s", whole.start),
            ("slot < %s", whole.end),
        )
        for clause, value in conditions:
            if value is not None:
                clauses.append(clause)
                params.append(value)
        parts.append(
            f"SELECT slot, {rolled_figures(report.status)} FROM call_rollup WHERE "
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


# What each rollup row is, counted from the calls (migration 015 fills the rollup with it).
COUNTED_FROM_CALLS = ", ".join(
    template.format(f"WHERE status = '{status}'")
    for status in STATUSES
    for template in (
        "count(*) FILTER ({})::int",
        "count(delivered_at) FILTER ({})::int",
        "coalesce(sum(cost) FILTER ({}), 0)::bigint",
        "count(*) FILTER ({} AND channel = 'sms')::int",
    )
)


def count_calls_sql(schema: str = "public", only: str = "") -> str:
    """The rollup's rows as counted from the calls of `schema` (and `only` those)."""
    return (
        "SELECT account_id, date_bin('15 minutes', created_at, "
        f"{_epoch()}) AS slot, service_id, key_id, {COUNTED_FROM_CALLS}"
        f" FROM {schema}.calls WHERE service_id IS NOT NULL{only} GROUP BY 1, 2, 3, 4"
    )


def differences_sql(schema: str = "public", services: bool = True) -> str:
    """The rollup rows that differ from the calls they count, either way, read in one snapshot
    (of `schema`; of the services `%(services)s` only, if `services`): none, always. Rows all
    of whose calls moved out (every column 0) are not rows: a rebuild in other batches has
    other ones. Checked by the tests, bench/chaos.py after every fault, and replay-check."""
    only = " AND service_id = ANY(%(services)s)" if services else ""
    return (
        f"WITH kept AS (SELECT account_id, slot, service_id, key_id, {', '.join(COLUMNS)}"
        f" FROM {schema}.call_rollup WHERE ({', '.join(COLUMNS)}) <> ({NONE}){only}),"
        f" counted AS ({count_calls_sql(schema, only)})"
        " (TABLE kept EXCEPT ALL TABLE counted) UNION ALL (TABLE counted EXCEPT ALL TABLE kept)"
    )


NONE = ", ".join("0" for _ in COLUMNS)


def _epoch() -> str:
    return f"'{EPOCH.isoformat()}'::timestamptz"


async def differences(conn: psycopg.AsyncConnection, services: list[Any]) -> list[tuple[Any, ...]]:
    cur = await conn.execute(differences_sql(), {"services": services})
    return await cur.fetchall()
