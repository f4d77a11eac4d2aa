"""Webhook endpoints of an account: their rows, the checks on them, test events and re-sends
(docs/webhooks.md). The routers and the panel call this; the deliveries themselves are the
webhooks worker's (processors/webhooks.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api import webhook_queries as sql
from core.webhooks import TEST_EVENT, RefusedTarget, check_url, new_secret
from front_door.context import Context
from front_door.problems import invalid, not_found

# A rotated secret still signs deliveries this long (both signatures are sent meanwhile).
ROTATION_OVERLAP = timedelta(hours=24)


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
    row = await sql.insert_endpoint(
        ctx.pool, account_id, service_id, url, sorted(set(events)), secret
    )
    return {**row, "secret": secret}


async def listing(ctx: Context, account_id: uuid.UUID) -> list[dict[str, Any]]:
    return await sql.endpoints(ctx.pool, account_id)


async def page(
    ctx: Context, account_id: uuid.UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The account's endpoints, newest first, a page at a time."""
    items, next_cursor = await sql.endpoints_page(ctx.pool, account_id, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def one(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict[str, Any]:
    row = await sql.endpoint(ctx.pool, account_id, endpoint_id)
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
        await sql.update_endpoint(ctx.pool, endpoint_id, changes)
    return await one(ctx, account_id, endpoint_id)


async def delete(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    await one(ctx, account_id, endpoint_id)
    await sql.delete_endpoint(ctx.pool, endpoint_id)


async def rotate(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> dict[str, str]:
    """A new secret; the old one goes on signing too for ROTATION_OVERLAP."""
    await one(ctx, account_id, endpoint_id)
    secret = new_secret()
    await sql.rotate_secret(ctx.pool, endpoint_id, secret, datetime.now(UTC) + ROTATION_OVERLAP)
    return {"secret": secret}


async def send_test(ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    endpoint = await one(ctx, account_id, endpoint_id)
    payload = {
        "type": TEST_EVENT,
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"webhook_id": str(endpoint["id"]), "url": endpoint["url"]},
    }
    await sql.queue_delivery(ctx.pool, endpoint_id, TEST_EVENT, payload)


async def deliveries(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, limit: int = 100
) -> list[dict[str, Any]]:
    await one(ctx, account_id, endpoint_id)
    return await sql.deliveries(ctx.pool, endpoint_id, limit)


async def deliveries_page(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """An endpoint's deliveries, newest first, a page at a time."""
    await one(ctx, account_id, endpoint_id)
    items, next_cursor = await sql.deliveries_page(ctx.pool, endpoint_id, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def resend(
    ctx: Context, account_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> None:
    """Send a delivery again now (same webhook-id), whatever became of it."""
    await one(ctx, account_id, endpoint_id)
    if not await sql.requeue_delivery(ctx.pool, endpoint_id, delivery_id):
        raise not_found("delivery")
