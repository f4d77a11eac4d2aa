"""The API's SQL: reads of the projections and of the decisions' credit flags, the answers kept
for Idempotency-Keys, how far the projection has applied each topic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from core.credit import Credit
from core.destinations import Destinations
from core.settings import get_settings
from core.workflow import DEFAULT_SMS_TEMPLATE, as_records, workflow_of
from front_door.paging import keyset, page

# A service's settings with its credit (a service without credit events has balance 0).
SERVICES = (
    "(SELECT s.id, s.account_id, s.name, s.code_length, s.code_ttl_minutes, s.return_code,"
    " s.status, COALESCE(c.cut_off, false) AS cut_off, COALESCE(c.balance, 0) AS balance,"
    " s.credit_limit, s.allowed_regions, s.blocked_number_types, s.workflow, s.sms_template,"
    " s.created_at FROM services s"
    " LEFT JOIN service_credit c ON c.service_id = s.id) AS services"
)
CALL_COLUMNS = (
    "id, service_id, account_id, key_id, phone, caller_number, code_length, attempt, retry_of,"
    " status, failure_reason, cost, verify_attempts, created_at, dialed_at, delivered_at,"
    " expires_at, verified_at, expired_at, reference, COALESCE(test, false) AS test,"
    " steps, channel, step, step_count, network"
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
        "SELECT a.id, a.name, a.price_per_call, a.price_per_sms, a.credit_limit,"
        " a.total_credit_limit,"
        " a.time_zone, a.created_at, coalesce(c.cut_off, false) AS cut_off FROM accounts a"
        " LEFT JOIN account_credit c ON c.account_id = a.id WHERE a.id = %s",
        (account_id,),
    )


async def service(pool: AsyncConnectionPool, service_id: uuid.UUID) -> dict[str, Any] | None:
    row = await fetch_one(pool, f"SELECT * FROM {SERVICES} WHERE id = %s", (service_id,))
    return public_service(row) if row is not None else None


def public_service(row: dict[str, Any]) -> dict[str, Any]:
    """The contract's status (`cut_off` when credit stops calls), the low-balance flag and the
    destinations with the platform's defaults filled in."""
    status = row["status"]
    if status == "active" and row["cut_off"]:
        status = "cut_off"
    credit = Credit(row["balance"], 0, row["credit_limit"])
    rule = Destinations.of(
        row.get("allowed_regions"),
        row.get("blocked_number_types"),
        get_settings().default_region,
    )
    return {
        **row,
        "status": status,
        "low_balance": credit.low,
        "allowed_regions": list(rule.allowed_regions),
        "blocked_number_types": list(rule.blocked_number_types),
        "workflow": as_records(workflow_of(row.get("workflow"))),
        "sms_template": row.get("sms_template") or DEFAULT_SMS_TEMPLATE,
    }


async def credit_cut_off(
    pool: AsyncConnectionPool, service_id: uuid.UUID
) -> tuple[bool, bool] | None:
    """Whether the service, and its account, are cut off as the decisions hold it now (None
    for a service they have not applied yet)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT s.cut_off, coalesce(a.cut_off, false) FROM proc_services s"
                " LEFT JOIN proc_accounts a ON a.id = s.account_id WHERE s.id = %s",
                (service_id,),
            )
        ).fetchone()
    return (bool(row[0]), bool(row[1])) if row is not None else None


async def credit_flags_projected(pool: AsyncConnectionPool, service_id: uuid.UUID) -> bool:
    """Whether the read models show the service and its account cut off (or not) as the
    decisions hold them now."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT coalesce(sc.cut_off, false) = p.cut_off"
                " AND coalesce(ac.cut_off, false) = coalesce(pa.cut_off, false)"
                " FROM proc_services p"
                " LEFT JOIN service_credit sc ON sc.service_id = p.id"
                " LEFT JOIN proc_accounts pa ON pa.id = p.account_id"
                " LEFT JOIN account_credit ac ON ac.account_id = p.account_id"
                " WHERE p.id = %s",
                (service_id,),
            )
        ).fetchone()
    return row is None or bool(row[0])


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


async def services_page(
    pool: AsyncConnectionPool, account_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    return await fetch_page(
        pool, f"SELECT * FROM {SERVICES} WHERE account_id = %s", [account_id], cursor, limit
    )


async def services_of(pool: AsyncConnectionPool, account_id: uuid.UUID) -> list[dict[str, Any]]:
    return await fetch_all(
        pool,
        f"SELECT * FROM {SERVICES} WHERE account_id = %s ORDER BY created_at, id",
        (account_id,),
    )


async def keys_page(
    pool: AsyncConnectionPool, service_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    return await fetch_page(
        pool,
        # Last use is derived from the calls (index calls_key_created), never stored twice.
        "SELECT k.id, k.label, k.prefix, k.created_at, k.revoked_at,"
        " (SELECT max(c.created_at) FROM calls c WHERE c.key_id = k.id) AS last_used_at"
        " FROM access_keys k WHERE k.service_id = %s",
        [service_id],
        cursor,
        limit,
    )


async def ledger_page(
    pool: AsyncConnectionPool, service_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    return await fetch_page(
        pool,
        "SELECT id, type, amount, balance_after, call_id, reference, created_at FROM ledger"
        " WHERE service_id = %s",
        [service_id],
        cursor,
        limit,
    )


async def keys_with_services(
    pool: AsyncConnectionPool, account_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The account's keys, each with its service's name (the reports' key filter)."""
    return await fetch_all(
        pool,
        "SELECT k.id, k.label, k.prefix, s.name AS service FROM access_keys k"
        " JOIN services s ON s.id = k.service_id WHERE k.account_id = %s"
        " ORDER BY s.name, k.created_at",
        (account_id,),
    )


async def service_names(pool: AsyncConnectionPool, account_id: uuid.UUID) -> list[dict[str, Any]]:
    return await fetch_all(
        pool,
        "SELECT id, name FROM services WHERE account_id = %s ORDER BY created_at",
        (account_id,),
    )


async def accounts_overview(pool: AsyncConnectionPool) -> list[dict[str, Any]]:
    """The operator's list: the newest 500 accounts with their sign-in email, number of
    services and total balance."""
    return await fetch_all(
        pool,
        "SELECT a.id, a.name, a.price_per_call, a.credit_limit, a.created_at, u.email,"
        " count(s.id) AS services, coalesce(sum(c.balance), 0) AS balance"
        " FROM accounts a LEFT JOIN panel_users u ON u.account_id = a.id"
        " LEFT JOIN services s ON s.account_id = a.id"
        " LEFT JOIN service_credit c ON c.service_id = s.id"
        " GROUP BY a.id, u.email ORDER BY a.created_at DESC LIMIT 500",
        (),
    )


async def streams_enabled(pool: AsyncConnectionPool, account_id: uuid.UUID) -> bool:
    row = await fetch_one(pool, "SELECT streams_enabled FROM accounts WHERE id = %s", (account_id,))
    return bool(row and row["streams_enabled"])


async def handset_calls(
    pool: AsyncConnectionPool,
    phone: str,
    cursor: str | None,
    limit: int,
    call_id: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """What a simulated handset showed, newest first; only one call's rings if `call_id`."""
    sql = (
        "SELECT * FROM (SELECT call_id AS id, call_id, caller_number, rang_at,"
        " rang_at AS created_at FROM sim_handset_calls WHERE phone = %s) handset WHERE true"
    )
    params: list[Any] = [phone]
    if call_id is not None:
        sql += " AND call_id = %s"
        params.append(call_id)
    return await fetch_page(pool, sql, params, cursor, limit)


async def handset_messages(
    pool: AsyncConnectionPool, phone: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """What a simulated handset received by SMS, newest first."""
    sql = (
        "SELECT * FROM (SELECT sender, text, received_at, received_at AS created_at,"
        " md5(message_id::text)::uuid AS id"
        " FROM sim_handset_messages WHERE phone = %s) handset WHERE true"
    )
    return await fetch_page(pool, sql, [phone], cursor, limit)


async def active_fraud_blocks(
    pool: AsyncConnectionPool, service_id: uuid.UUID
) -> list[dict[str, Any]]:
    """Blocks not lifted and not past their cool-off, newest first."""
    return await fetch_all(
        pool,
        "SELECT prefix, blocked_at, until, requests, verified FROM fraud_blocks"
        " WHERE service_id = %s AND lifted_at IS NULL AND until > now()"
        " ORDER BY blocked_at DESC",
        (service_id,),
    )


async def applied_positions(
    pool: AsyncConnectionPool, consumer: str, topics: list[str]
) -> dict[tuple[str, int], int]:
    """How far `consumer` has applied each partition of `topics`: (topic, partition) → next
    offset."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT topic, partition, next_offset FROM consumed_offsets"
                " WHERE consumer = %s AND topic = ANY(%s)",
                (consumer, topics),
            )
        ).fetchall()
    return {(str(t), int(p)): int(o) for t, p, o in rows}


async def projection_positions(
    pool: AsyncConnectionPool, consumer: str, topic: str
) -> dict[int, int]:
    """How far `consumer` has applied each partition of `topic` (partition → next offset)."""
    positions = await applied_positions(pool, consumer, [topic])
    return {partition: offset for (_, partition), offset in positions.items()}


async def test_numbers_page(
    pool: AsyncConnectionPool, service_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    return await fetch_page(
        pool,
        "SELECT id, phone, code, created_at FROM test_numbers WHERE service_id = %s",
        [service_id],
        cursor,
        limit,
    )


@asynccontextmanager
async def service_test_numbers(
    pool: AsyncConnectionPool, service_id: uuid.UUID
) -> AsyncIterator[int]:
    """How many test numbers the service has, held still (one writer of them at a time, on
    whatever replica) until the block ends."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"test-numbers:{service_id}",)
        )
        row = await (
            await conn.execute(
                "SELECT count(*) FROM test_numbers WHERE service_id = %s", (service_id,)
            )
        ).fetchone()
        yield int(row[0]) if row else 0


class ReferencedCall(NamedTuple):
    id: uuid.UUID
    phone: str
    status: str
    created_at: datetime
    caller_number: str | None
    code_length: int
    channel: str


async def latest_calls_by_reference(
    pool: AsyncConnectionPool, service_id: uuid.UUID, references: list[str]
) -> dict[str, ReferencedCall]:
    """Each reference's newest call of the service."""
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT DISTINCT ON (reference) reference, id, phone, status, created_at,"
                " caller_number, code_length, COALESCE(channel, 'flash_call')"
                " FROM calls WHERE service_id = %s AND reference = ANY(%s)"
                " ORDER BY reference, created_at DESC",
                (service_id, references),
            )
        ).fetchall()
    return {row[0]: ReferencedCall(*row[1:]) for row in rows}


async def handset_ring(pool: AsyncConnectionPool, call_id: uuid.UUID) -> dict[str, Any] | None:
    """What the simulated handset showed of one call, if it rang."""
    return await fetch_one(
        pool, "SELECT caller_number, rang_at FROM sim_handset_calls WHERE call_id = %s", (call_id,)
    )


@dataclass(frozen=True)
class KeptAnswer:
    body_hash: str
    status: int  # CLAIMED: no answer yet, the claim of a request still making it
    response: Any


# The status of an Idempotency-Key claimed and not answered yet (migration 023).
CLAIMED = 0


@dataclass(frozen=True)
class Claim:
    claimed_at: datetime
    drawn: Any  # what the create drew (front_door/drawn.py), or None if it draws nothing


async def claim_key(
    pool: AsyncConnectionPool,
    scope: str,
    key: str,
    digest: str,
    hours: int,
    stale: float,
    drawn: Any = None,
) -> Claim | None:
    """Claim an Idempotency-Key in `scope` for a request with body hash `digest`, or None if
    it holds an answer of the last `hours` or a claim younger than `stale` seconds (another
    request's). A released or stale claim of the same body keeps what it drew (migration
    025); a new claim keeps `drawn`."""
    row = await fetch_one(
        pool,
        "INSERT INTO idempotency_keys AS k"
        " (scope, key, body_hash, status, response, created_at, claimed_at, drawn)"
        " VALUES (%s, %s, %s, %s, 'null', '-infinity', clock_timestamp(), %s)"
        " ON CONFLICT (scope, key) DO UPDATE SET body_hash = EXCLUDED.body_hash,"
        " status = EXCLUDED.status, response = EXCLUDED.response,"
        " created_at = EXCLUDED.created_at, claimed_at = EXCLUDED.claimed_at, released_at = NULL,"
        " drawn = CASE WHEN k.status = %s AND k.body_hash = EXCLUDED.body_hash"
        " THEN coalesce(k.drawn, EXCLUDED.drawn) ELSE EXCLUDED.drawn END"
        " WHERE (k.status <> %s AND k.created_at <= now() - make_interval(hours => %s))"
        " OR (k.status = %s AND k.claimed_at <= now() - make_interval(secs => %s))"
        " RETURNING claimed_at, drawn",
        (
            scope,
            key,
            digest,
            CLAIMED,
            None if drawn is None else Jsonb(drawn),
            CLAIMED,
            CLAIMED,
            hours,
            CLAIMED,
            stale,
        ),
    )
    return Claim(row["claimed_at"], row["drawn"]) if row is not None else None


async def kept_answer(pool: AsyncConnectionPool, scope: str, key: str) -> KeptAnswer | None:
    """What an Idempotency-Key that could not be claimed holds: an answer or another's claim
    (or one released since; None if a replica older than migration 025 released it since:
    those delete the row)."""
    row = await fetch_one(
        pool,
        "SELECT body_hash, status, response FROM idempotency_keys WHERE scope = %s AND key = %s",
        (scope, key),
    )
    return KeptAnswer(**row) if row is not None else None


async def keep_answer(
    pool: AsyncConnectionPool,
    scope: str,
    key: str,
    claimed_at: datetime,
    status: int,
    response: Any,
) -> None:
    """The answer to the request that claimed the key at `claimed_at`, kept from now."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET status = %s, response = %s, created_at = now()"
            " WHERE scope = %s AND key = %s AND status = %s AND claimed_at = %s",
            (status, Jsonb(response), scope, key, CLAIMED, claimed_at),
        )


async def release_key(
    pool: AsyncConnectionPool, scope: str, key: str, claimed_at: datetime
) -> None:
    """Give up the claim of a request that failed: the key is free again at once, and what it
    drew is kept for a retry with the same body (the failure may have left its event durable)."""
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE idempotency_keys SET claimed_at = '-infinity', released_at = clock_timestamp()"
            " WHERE scope = %s AND key = %s AND status = %s AND claimed_at = %s",
            (scope, key, CLAIMED, claimed_at),
        )


async def forget_idempotency_keys(pool: AsyncConnectionPool, hours: int, limit: int) -> int:
    """Remove up to `limit` answers kept longer than `hours` and as many claims made or
    released that long ago (the claim of a request still being made is younger); how many.
    A claim released by a replica older than migration 026 does not say when: it is dated
    now, and removed `hours` from now."""
    # The status as a literal: the indexes of migration 026 are partial on it.
    claims = f"status = {CLAIMED}"
    since = "greatest(claimed_at, released_at)"  # of a claim: made, or released
    async with pool.connection() as conn:
        await conn.execute(
            f"UPDATE idempotency_keys SET released_at = clock_timestamp()"
            f" WHERE {claims} AND {since} = '-infinity'"
        )
        # By ctid: a key claimed again meanwhile is a new row version, and is not removed.
        cur = await conn.execute(
            "DELETE FROM idempotency_keys WHERE ctid IN ("
            f"(SELECT ctid FROM idempotency_keys WHERE status <> {CLAIMED}"
            " AND created_at < now() - make_interval(hours => %s) LIMIT %s)"
            f" UNION ALL (SELECT ctid FROM idempotency_keys WHERE {claims}"
            f" AND {since} > '-infinity' AND {since} < now() - make_interval(hours => %s)"
            " LIMIT %s))",
            (hours, limit, hours, limit),
        )
        return cur.rowcount
