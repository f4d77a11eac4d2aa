"""The SQL of webhook endpoints and their deliveries, as the API reads and writes them (the
service layer, api/service_layer/webhooks.py, holds the rules; the worker's own SQL is in
processors/webhooks.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from front_door.queries import fetch_all, fetch_one, fetch_page

PUBLIC = "id, url, events, service_id, status, created_at"
DELIVERY = (
    "id, event_type, status, attempts, response_status, latency_ms, last_error, created_at,"
    " delivered_at"
)


async def insert_endpoint(
    pool: AsyncConnectionPool,
    account_id: uuid.UUID,
    service_id: uuid.UUID | None,
    url: str,
    events: list[str],
    secret: str,
) -> dict[str, Any]:
    row = await fetch_one(
        pool,
        "INSERT INTO webhook_endpoints (id, account_id, service_id, url, events, status,"
        f" secret) VALUES (%s, %s, %s, %s, %s, 'enabled', %s) RETURNING {PUBLIC}",
        (uuid.uuid4(), account_id, service_id, url, events, secret),
    )
    assert row is not None
    return row


async def endpoints(pool: AsyncConnectionPool, account_id: uuid.UUID) -> list[dict[str, Any]]:
    return await fetch_all(
        pool,
        f"SELECT {PUBLIC} FROM webhook_endpoints WHERE account_id = %s ORDER BY created_at",
        (account_id,),
    )


async def endpoints_page(
    pool: AsyncConnectionPool, account_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    sql = f"SELECT {PUBLIC} FROM webhook_endpoints WHERE account_id = %s"
    return await fetch_page(pool, sql, [account_id], cursor, limit)


async def endpoint(
    pool: AsyncConnectionPool, account_id: uuid.UUID, endpoint_id: uuid.UUID
) -> dict[str, Any] | None:
    return await fetch_one(
        pool,
        f"SELECT {PUBLIC} FROM webhook_endpoints WHERE id = %s AND account_id = %s",
        (endpoint_id, account_id),
    )


async def update_endpoint(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> None:
    """`changes`: column → value, of the columns the service layer allows."""
    columns = ", ".join(f"{name} = %s" for name in changes)
    async with pool.connection() as conn:
        await conn.execute(
            f"UPDATE webhook_endpoints SET {columns}, updated_at = now() WHERE id = %s",
            (*changes.values(), endpoint_id),
        )


async def delete_endpoint(pool: AsyncConnectionPool, endpoint_id: uuid.UUID) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


async def rotate_secret(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, secret: str, previous_until: datetime
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = %s,"
            " secret = %s, updated_at = now() WHERE id = %s",
            (previous_until, secret, endpoint_id),
        )


async def queue_delivery(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, event_type: str, payload: dict[str, Any]
) -> None:
    """A delivery the sender picks up at once (it listens on flashcall_webhooks)."""
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, status)"
            " VALUES (%s, %s, %s, %s, 'pending')",
            (uuid.uuid4(), endpoint_id, event_type, Jsonb(payload)),
        )
        await conn.execute("NOTIFY flashcall_webhooks")


async def deliveries(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, limit: int
) -> list[dict[str, Any]]:
    return await fetch_all(
        pool,
        f"SELECT {DELIVERY} FROM webhook_deliveries WHERE endpoint_id = %s"
        " ORDER BY created_at DESC, id LIMIT %s",
        (endpoint_id, limit),
    )


async def deliveries_page(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    sql = f"SELECT {DELIVERY} FROM webhook_deliveries WHERE endpoint_id = %s"
    return await fetch_page(pool, sql, [endpoint_id], cursor, limit)


async def requeue_delivery(
    pool: AsyncConnectionPool, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> bool:
    """Whether the endpoint had the delivery (queued again now, whatever became of it)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()"
                " WHERE id = %s AND endpoint_id = %s RETURNING id",
                (delivery_id, endpoint_id),
            )
        ).fetchone()
        await conn.execute("NOTIFY flashcall_webhooks")
    return row is not None
