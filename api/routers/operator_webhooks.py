"""Operator: webhook endpoints for the operator's own events — a caller range quarantined for a
network, or released (docs/ranges.md). The same endpoints, signatures, retries and delivery
logs as an account's (api/service_layer/webhooks.py), kept under OPERATOR_ACCOUNT."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from api.auth import Ctx, Operator
from api.http_params import Cursor, Limit
from api.models import OperatorWebhookCreate, Page, WebhookCreated, WebhookDelivery, WebhookOut
from api.openapi import problems
from api.service_layer import webhooks
from core.webhooks import OPERATOR_ACCOUNT

router = APIRouter(prefix="/v1/operator/webhooks", tags=["operator"])
ONE = problems("unauthorized", "forbidden", "not_found", "invalid_request")


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def create_operator_webhook(
    body: OperatorWebhookCreate, ctx: Ctx, _: Operator
) -> dict[str, Any]:
    return await webhooks.create(ctx, OPERATOR_ACCOUNT, body.url, list(body.events), None)


@router.get(
    "",
    response_model=Page[WebhookOut],
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def list_operator_webhooks(
    ctx: Ctx, _: Operator, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await webhooks.page(ctx, OPERATOR_ACCOUNT, cursor, limit)


@router.delete("/{webhook_id}", status_code=204, responses=ONE)
async def delete_operator_webhook(webhook_id: uuid.UUID, ctx: Ctx, _: Operator) -> Response:
    await webhooks.delete(ctx, OPERATOR_ACCOUNT, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=Page[WebhookDelivery], responses=ONE)
async def list_operator_deliveries(
    webhook_id: uuid.UUID, ctx: Ctx, _: Operator, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await webhooks.deliveries_page(ctx, OPERATOR_ACCOUNT, webhook_id, cursor, limit)
