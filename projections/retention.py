"""The retention of call rows (FLASHCALL_CALL_RETENTION_DAYS): calls requested longer ago are
deleted from the calls read model, a bounded slice at a time; the rolled-up report
(projections/call_rollup.py) keeps counting them, so summaries outlive the rows."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

SLICE = 10_000


async def forget_old_calls(pool: AsyncConnectionPool, older_than_days: float) -> int:
    """Delete up to SLICE calls requested before the retention, oldest first, through each
    account's (account_id, created_at) index; returns how many."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM calls WHERE ctid IN (SELECT old.ctid FROM accounts a CROSS JOIN LATERAL"
            " (SELECT ctid FROM calls WHERE account_id = a.id"
            "  AND created_at < now() - make_interval(secs => %s)"
            "  ORDER BY created_at LIMIT %s) AS old LIMIT %s)",
            (older_than_days * 86400, SLICE, SLICE),
        )
        return cur.rowcount
