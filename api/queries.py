"""Reads of the projections (the API's only database reads)."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from api.paging import keyset, page
from core.credit import Credit

# A service's settings with its credit (a service without credit events has balance 0).
SERVICES = (
    "(SELECT s.id, s.account_id, s.name, s.code_length, s.code_ttl_minutes, s.return_code,"
    " s.status, COALESCE(c.cut_off, false) AS cut_off, COALESCE(c.balance, 0) AS balance,"
    " s.credit_limit, s.created_at FROM services s"
    " LEFT JOIN service_credit c ON c.service_id = s.id) AS services"
)
CALL_COLUMNS = (
    "id, service_id, account_id, key_id, phone, caller_number, code_length, attempt, retry_of,"
    " status, failure_reason, cost, verify_attempts, created_at, dialed_at, delivered_at,"
    " expires_at, verified_at, expired_at, reference"
)


async def fetch_one(
    pool: AsyncConnectionPool, sql: str, params: tuple[Any, ...]
) -> dict[str, Any] | None:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchone()


async def fetch_all(
    pool: AsyncConnectionPool, sql: str, params: tuple[Any, ...]
) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return await cur.fetchall()


async def fetch_page(
    pool: AsyncConnectionPool,
    sql: str,
    params: list[Any],
    cursor: str | None,
    limit: int,
    order: str = "created_at DESC, id DESC",
) -> tuple[list[dict[str, Any]], str | None]:
    sql += keyset(cursor, params)
    sql += f" ORDER BY {order} LIMIT %s"
    params.append(limit + 1)
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(sql, params)
        return page(await cur.fetchall(), limit)


async def account(pool: AsyncConnectionPool, account_id: uuid.UUID) -> dict[str, Any] | None:
    return await fetch_one(
        pool,
        "SELECT id, name, price_per_call, credit_limit, time_zone, created_at FROM accounts"
        " WHERE id = %s",
        (account_id,),
    )


async def service(pool: AsyncConnectionPool, service_id: uuid.UUID) -> dict[str, Any] | None:
    row = await fetch_one(pool, f"SELECT * FROM {SERVICES} WHERE id = %s", (service_id,))
    return public_service(row) if row is not None else None


def public_service(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's status (`cut_off` when credit stops calls) and the low-balance flag."""
    status = row["status"]
    if status == "active" and row["cut_off"]:
        status = "cut_off"
    credit = Credit(row["balance"], 0, row["credit_limit"])
    return {**row, "status": status, "low_balance": credit.low}


async def call(pool: AsyncConnectionPool, call_id: uuid.UUID) -> dict[str, Any] | None:
    """A call once its request is projected (stub rows from out-of-order events are hidden)."""
    return await fetch_one(
        pool,
        f"SELECT {CALL_COLUMNS} FROM calls WHERE id = %s AND service_id IS NOT NULL",
        (call_id,),
    )


async def retry_of(pool: AsyncConnectionPool, call_id: uuid.UUID) -> dict[str, Any] | None:
    return await fetch_one(
        pool,
        f"SELECT {CALL_COLUMNS} FROM calls WHERE retry_of = %s AND service_id IS NOT NULL",
        (call_id,),
    )
