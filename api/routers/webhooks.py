"""Account: webhook endpoints, their secrets, test events and delivery logs (api/webhooks.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from api.auth import Account, Ctx
from api.http_params import Cursor, Limit
from api.models import (
    Page,
    WebhookCreate,
    WebhookCreated,
    WebhookDelivery,
    WebhookOut,
    WebhookPatch,
    WebhookSecret,
)
from api.openapi import problems
from api.service_layer import webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["account"])
ONE = problems("unauthorized", "forbidden", "not_found", "invalid_request")


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def create_webhook(body: WebhookCreate, ctx: Ctx, account: Account) -> dict[str, Any]:
    """Targets on private, loopback or link-local addresses are refused (422)."""
    return await webhooks.create(ctx, account.id, body.url, list(body.events), body.service_id)


@router.get(
    "",
    response_model=Page[WebhookOut],
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def list_webhooks(
    ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await webhooks.page(ctx, account.id, cursor, limit)


@router.get("/{webhook_id}", response_model=WebhookOut, responses=ONE)
async def get_webhook(webhook_id: uuid.UUID, ctx: Ctx, account: Account) -> dict[str, Any]:
    return await webhooks.one(ctx, account.id, webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookOut, responses=ONE)
async def patch_webhook(
    webhook_id: uuid.UUID, body: WebhookPatch, ctx: Ctx, account: Account
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    return await webhooks.update(ctx, account.id, webhook_id, changes)


@router.delete("/{webhook_id}", status_code=204, responses=ONE)
async def delete_webhook(webhook_id: uuid.UUID, ctx: Ctx, account: Account) -> Response:
    await webhooks.delete(ctx, account.id, webhook_id)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookSecret, responses=ONE)
async def rotate_secret(webhook_id: uuid.UUID, ctx: Ctx, account: Account) -> dict[str, str]:
    """A new secret; the old one stays valid (deliveries carry both signatures) for 24 h."""
    return await webhooks.rotate(ctx, account.id, webhook_id)


@router.post("/{webhook_id}/test", status_code=202, responses=ONE)
async def send_test(webhook_id: uuid.UUID, ctx: Ctx, account: Account) -> Response:
    """Send a `webhook.test` event to the endpoint."""
    await webhooks.send_test(ctx, account.id, webhook_id)
    return Response(status_code=202)


@router.get("/{webhook_id}/deliveries", response_model=Page[WebhookDelivery], responses=ONE)
async def list_deliveries(
    webhook_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await webhooks.deliveries_page(ctx, account.id, webhook_id, cursor, limit)


@router.post("/{webhook_id}/deliveries/{delivery_id}/resend", status_code=202, responses=ONE)
async def resend(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, ctx: Ctx, account: Account
) -> Response:
    await webhooks.resend(ctx, account.id, webhook_id, delivery_id)
    return Response(status_code=202)
