"""Operator: the caller ranges, their status and their health (docs/ranges.md). The API and
the operator console both call these."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row

from core.caller_ranges import RangeStatus, bucket_of
from core.number_pool import overlaps, parse_range
from front_door.context import Context
from front_door.drawn import Drawn, draw
from front_door.idempotency import remembered_drawn
from front_door.problems import ApiError, not_found
from front_door.queries import fetch_page
from schemas.codec import new_event

# Adding a range checks it against every other one: one at a time, for the whole platform.
ADD_LOCK = "caller-ranges:add"

RANGES = "SELECT id, pattern, trunk, destinations, status, created_at FROM caller_ranges WHERE true"


async def seed(ctx: Context) -> None:
    """On the first start (no range known), add FLASHCALL_NUMBER_POOL's ranges. Their ids and
    events' are fixed by their patterns, so replicas starting together add each once."""
    if ctx.directory.ranges:
        return
    for r in ctx.settings.seeded_ranges:
        event = new_event(
            "RangeAdded",
            event_id=str(r.id),
            range_id=r.id,
            pattern=r.pattern,
            trunk=None,
            destinations=[],
        )
        await ctx.append(event)
        ctx.directory.apply_own(event)


async def add(
    ctx: Context, pattern: str, trunk: str | None, destinations: list[str], key: str | None
) -> tuple[dict[str, Any], bool]:
    body = {"pattern": pattern, "trunk": trunk, "destinations": destinations}

    async def make(drawn: Drawn) -> dict[str, Any]:
        new = parse_range(pattern)
        async with ctx.pool.connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (ADD_LOCK,))
            try:
                for r in ctx.directory.ranges.values():
                    if r.id == drawn.id:  # this key's, added by an earlier try
                        continue
                    if r.pattern == pattern or overlaps(r.number_range, new):
                        raise ApiError(
                            "range_overlaps",
                            f"{pattern} shares numbers with range {r.id} ({r.pattern})",
                        )
                event = new_event(
                    "RangeAdded",
                    **drawn.envelope(),
                    range_id=drawn.id,
                    pattern=pattern,
                    trunk=trunk,
                    destinations=destinations,
                )
                # Every replica has it before the lock is let go: the next add sees it.
                await ctx.append_and_wait(event)
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (ADD_LOCK,)
                )
        return await get(ctx, drawn.id)

    return await remembered_drawn(ctx, "ranges", key, body, draw, make)


async def set_status(ctx: Context, range_id: uuid.UUID, status: str) -> dict[str, Any]:
    current = ctx.directory.ranges.get(range_id)
    if current is None:
        raise not_found("caller range")
    if current.status != status:
        await ctx.append_and_wait(
            new_event("RangeStatusChanged", range_id=range_id, status=RangeStatus(status).value)
        )
    return await get(ctx, range_id)


async def get(ctx: Context, range_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(RANGES + " AND id = %s", (range_id,))
        row = await cur.fetchone()
    if row is None:
        raise not_found("caller range")
    return (await _with_health(ctx, [row]))[0]


async def page(ctx: Context, limit: int, cursor: str | None) -> dict[str, Any]:
    rows, next_cursor = await fetch_page(ctx.pool, RANGES, [], cursor, limit)
    return {"items": await _with_health(ctx, rows), "next_cursor": next_cursor}


async def _with_health(ctx: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each range with its delivery per network over the health rule's window (what the
    decisions judge it by) and its quarantines in force."""
    ids = [r["id"] for r in rows]
    window = ctx.settings.range_window_seconds
    since = bucket_of(datetime.now(UTC) - timedelta(seconds=window))
    async with ctx.pool.connection() as conn:
        tallies = await (
            await conn.execute(
                "SELECT range_id, network, sum(dialled), sum(delivered) FROM proc_range_outcomes"
                " WHERE range_id = ANY(%s) AND bucket >= %s GROUP BY range_id, network",
                (ids, since),
            )
        ).fetchall()
        quarantines = await (
            await conn.execute(
                "SELECT range_id, network, until FROM caller_range_quarantines"
                " WHERE range_id = ANY(%s) AND released_at IS NULL",
                (ids,),
            )
        ).fetchall()
    health: dict[Any, dict[str, dict[str, Any]]] = {i: {} for i in ids}
    for range_id, network, dialled, delivered in tallies:
        health[range_id][network] = {
            "dialled": int(dialled),
            "delivered": int(delivered),
            "ratio": round(int(delivered) / int(dialled), 4) if dialled else None,
            "quarantined_until": None,
        }
    for range_id, network, until in quarantines:
        entry = health[range_id].setdefault(
            network, {"dialled": 0, "delivered": 0, "ratio": None, "quarantined_until": None}
        )
        entry["quarantined_until"] = until
    for row in rows:
        by_network = health[row["id"]]
        ends = [h["quarantined_until"] for h in by_network.values() if h["quarantined_until"]]
        row["destinations"] = list(row["destinations"] or [])
        row["health"] = {"window_seconds": window, "by_network": by_network}
        row["quarantined_until"] = max(ends, default=None)
    return rows


async def recent_quarantines(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
    """The latest quarantines, open or released, newest first (the console's rows)."""
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT q.range_id, r.pattern, q.network, q.since, q.until, q.strikes, q.dialled,"
            " q.delivered, q.baseline_ratio, q.last_for_network, q.released_at"
            " FROM caller_range_quarantines q JOIN caller_ranges r ON r.id = q.range_id"
            " ORDER BY q.since DESC LIMIT %s",
            (limit,),
        )
        return await cur.fetchall()
