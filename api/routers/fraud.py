"""Account or operator: the pumping blocks of a service's number prefixes (docs/fraud.md).
The service layer: api/service_layer/fraud.py."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response

from api.auth import Ctx, OperatorOrAccount
from api.models import FraudAllow, FraudAllowed, FraudBlock, Page
from api.openapi import problems
from api.service_layer import fraud

router = APIRouter(prefix="/v1/services/{service_id}/fraud", tags=["account"])


@router.get(
    "/blocks",
    response_model=Page[FraudBlock],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def list_blocks(service_id: uuid.UUID, ctx: Ctx, caller: OperatorOrAccount) -> dict[str, Any]:
    # Blocks in force are few (each ends with its cool-off): one page, never a next one.
    return {"items": await fraud.blocks(ctx, caller, service_id), "next_cursor": None}


@router.delete(
    "/blocks/{prefix}",
    status_code=204,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def lift_block(
    service_id: uuid.UUID, prefix: str, ctx: Ctx, caller: OperatorOrAccount
) -> Response:
    await fraud.lift(ctx, caller, service_id, prefix)
    return Response(status_code=204)


@router.post(
    "/allowlist",
    status_code=201,
    response_model=FraudAllowed,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def allow_prefix(
    service_id: uuid.UUID, body: FraudAllow, ctx: Ctx, caller: OperatorOrAccount
) -> dict[str, Any]:
    return await fraud.allow(ctx, caller, service_id, body.prefix)
