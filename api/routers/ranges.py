"""Operator: the caller ranges calls draw their numbers from, their status and their health
per network (docs/ranges.md; the service layer: api/service_layer/ranges.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import Ctx, Operator
from api.http_params import Cursor, IdempotencyKey, Limit, created
from api.models import Page, RangeCreate, RangeOut, RangePatch
from api.openapi import problems
from api.service_layer import ranges

router = APIRouter(prefix="/v1/operator/ranges", tags=["operator"])


@router.post(
    "",
    status_code=201,
    response_model=RangeOut,
    responses=problems(
        "unauthorized", "forbidden", "invalid_request", "range_overlaps", "idempotency_key_in_use"
    ),
)
async def add_range(
    body: RangeCreate, ctx: Ctx, _: Operator, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return created(
        *await ranges.add(ctx, body.pattern, body.trunk, body.destinations, idempotency_key)
    )


@router.get(
    "",
    response_model=Page[RangeOut],
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def list_ranges(
    ctx: Ctx, _: Operator, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await ranges.page(ctx, limit, cursor)


@router.patch(
    "/{range_id}",
    response_model=RangeOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def patch_range(
    range_id: uuid.UUID, body: RangePatch, ctx: Ctx, _: Operator
) -> dict[str, Any]:
    return await ranges.set_status(ctx, range_id, body.status)
