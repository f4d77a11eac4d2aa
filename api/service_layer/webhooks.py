"""Webhook endpoints of an account: their rows, the checks on them, test events and re-sends
(docs/webhooks.md). The routers and the panel call this; the deliveries themselves are the
webhooks worker's (processors/webhooks.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from api import queries
from api.context import Context
from api.errors import invalid, not_found
from core.webhooks import TEST_EVENT, RefusedTarget, check_url, new_secret

# A rotated secret still signs deliveries this long (both signatures are sent meanwhile).
ROTATION_OVERLAP = timedelta(hours=24)
PUBLIC = "id, url, events, service_id, status, created_at"


async def checked_url(ctx: Context, url: str) -> str:
    try:
        await asyncio.to_thread(check_url, url, ctx.settings.webhook_allow_private)
    except RefusedTarget as exc:
        raise invalid(f"url: {exc}") from exc
    return url


def check_service(ctx: Context, account_id: uuid.UUID, service_id: uuid.UUID | None) -> None:
    if service_id is None:
        return
    service = ctx.directory.services.get(service_id)
    if service is None or service.account_id != account_id:
        raise not_found("service")


async def create(
    ctx: Context,
    account_id: uuid.UUID,
    url: str,
    events: list[str],
    service_id: uuid.UUID | None,
) -> dict[str, Any]:
    check_service(ctx, account_id, service_id)
    await checked_url(ctx, url)
    secret = new_secret()
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "INSERT INTO webhook_endpoints (id, account_id, service_id, url, events, status,"
            f" secret) VALUES (%s, %s, %s, %s, %s, 'enabled', %s) RETURNING {PUBLIC}",
            (uuid.uuid4(), account_id, service_id, url, sorted(set(events)), secret),
        )
        row = await cur.fetchone()
    assert row is not None
    return {**row, "secret": secret}


async def listing(ctx: Context, account_id: uuid.UUID) -> list[dict[str, Any]]:
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {PUBLIC} FROM webhook_endpoints WHERE account_id = %s ORDER BY created_at",
            (account_id,),
        )
        return await cur.fetchall()


async def page(
    ctx: Context, account_id: uuid.UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The account's endpoints, newest first, a page at a time."""
    sql = f"SELECT {PUBLIC} FROM webhook_endpoints WHERE account_id = %s"
    items, next_cursor = await queries.fetch_page(ctx.pool, sql, [account_id], cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def one(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            f"SELECT {PUBLIC} FROM webhook_endpoints WHERE id = %s AND account_id = %s",
            (endpoint_id, account_id),
        )
        row = await cur.fetchone()
    if row is None:
        raise not_found("webhook endpoint")
    return row


async def update(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> dict[str, Any]:
    await one(ctx, account_id, endpoint_id)
    if "url" in changes:
        await checked_url(ctx, changes["url"])
    if "events" in changes:
        changes["events"] = sorted(set(changes["events"]))
    if changes.get("status") == "enabled":
        changes.update(failing_since=None, disabled_reason=None)
    if changes:
        columns = ", ".join(f"{name} = %s" for name in changes)
        async with ctx.pool.connection() as conn:
            await conn.execute(
                f"UPDATE webhook_endpoints SET {columns}, updated_at = now() WHERE id = %s",
                (*changes.values(), endpoint_id),
            )
    return await one(ctx, account_id, endpoint_id)


async def delete(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    await one(ctx, account_id, endpoint_id)
    async with ctx.pool.connection() as conn:
        await conn.execute("DELETE FROM webhook_endpoints WHERE id = %s", (endpoint_id,))


async def rotate(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict[str, str]:
    """A new secret; the old one goes on signing too for ROTATION_OVERLAP."""
    await one(ctx, account_id, endpoint_id)
    secret = new_secret()
    async with ctx.pool.connection() as conn:
        await conn.execute(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = %s,"
            " secret = %s, updated_at = now() WHERE id = %s",
            (datetime.now(UTC) + ROTATION_OVERLAP, secret, endpoint_id),
        )
    return {"secret": secret}


async def send_test(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    endpoint = await one(ctx, account_id, endpoint_id)
    now = datetime.now(UTC)
    payload = {
        "type": TEST_EVENT,
        "timestamp": now.isoformat(),
        "data": {"webhook_id": str(endpoint["id"]), "url": endpoint["url"]},
    }
    async with ctx.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_type, payload, status)"
            " VALUES (%s, %s, %s, %s, 'pending')",
            (uuid.uuid4(), endpoint_id, TEST_EVENT, Jsonb(payload)),
        )
        await conn.execute("NOTIFY flashcall_webhooks")


async def deliveries(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, limit: int = 100
) -> list[dict[str, Any]]:
    await one(ctx, account_id, endpoint_id)
    async with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT id, event_type, status, attempts, response_status, latency_ms, last_error,"
            " created_at, delivered_at FROM webhook_deliveries WHERE endpoint_id = %s"
            " ORDER BY created_at DESC, id LIMIT %s",
            (endpoint_id, limit),
        )
        return await cur.fetchall()


async def deliveries_page(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """An endpoint's deliveries, newest first, a page at a time."""
    await one(ctx, account_id, endpoint_id)
    sql = (
        "SELECT id, event_type, status, attempts, response_status, latency_ms, last_error,"
        " created_at, delivered_at FROM webhook_deliveries WHERE endpoint_id = %s"
    )
    items, next_cursor = await queries.fetch_page(ctx.pool, sql, [endpoint_id], cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def resend(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> None:
    """Send a delivery again now (same webhook-id), whatever became of it."""
    await one(ctx, account_id, endpoint_id)
    async with ctx.pool.connection() as conn:
        row = await (
            await conn.execute(
                "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()"
                " WHERE id = %s AND endpoint_id = %s RETURNING id",
                (delivery_id, endpoint_id),
            )
        ).fetchone()
        await conn.execute("NOTIFY flashcall_webhooks")
    if row is None:
        raise not_found("delivery")
