"""Access key: place, read, retry and verify calls (an account may also read its calls). The
use case is api/service_layer/calls.py; these routes translate HTTP."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import AccessKey, Ctx, KeyOrAccount
from api.http_params import IdempotencyKey, created_as
from api.models import CallCreate, CallOut, VerifyIn, VerifyOut
from api.openapi import problems
from api.service_layer import calls
from front_door.call_checks import PLACING_PROBLEMS

router = APIRouter(prefix="/v1/calls", tags=["access key"])


@router.post(
    "",
    status_code=201,
    response_model=CallOut,
    responses=problems(*PLACING_PROBLEMS, "idempotency_key_in_use"),
)
async def create_call(
    body: CallCreate,
    ctx: Ctx,
    key: AccessKey,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    answer, replayed = await calls.place(ctx, key, body.phone, body.reference, idempotency_key)
    # Through the response model, as the first answer and its replay alike (and as
    # api/fast_calls.py answers an ordinary request).
    return created_as(CallOut, answer, replayed)


@router.get(
    "/{call_id}",
    response_model=CallOut,
    responses=problems("unauthorized", "not_found", "invalid_request"),
)
async def get_call(call_id: uuid.UUID, ctx: Ctx, caller: KeyOrAccount) -> dict[str, Any]:
    return await calls.read(ctx, caller, call_id)


@router.post(
    "/{call_id}/retry",
    status_code=201,
    response_model=CallOut,
    responses=problems(
        "unauthorized",
        "credit_limit_reached",
        "service_disabled",
        "not_found",
        "code_still_valid",
        "retry_limit_reached",
        "invalid_request",
        "rate_limited",
    ),
)
async def retry_call(call_id: uuid.UUID, ctx: Ctx, key: AccessKey) -> dict[str, Any]:
    return await calls.retry(ctx, key, call_id)


@router.post(
    "/{call_id}/next-channel",
    status_code=202,
    response_model=CallOut,
    responses=problems("unauthorized", "not_found", "no_next_channel", "invalid_request"),
)
async def next_channel(call_id: uuid.UUID, ctx: Ctx, key: AccessKey) -> dict[str, Any]:
    return await calls.next_channel(ctx, key, call_id)


@router.post(
    "/{call_id}/verify",
    response_model=VerifyOut,
    responses=problems("unauthorized", "not_found", "invalid_request"),
)
async def verify_call(
    call_id: uuid.UUID, body: VerifyIn, ctx: Ctx, key: AccessKey
) -> dict[str, Any]:
    return await calls.verify(ctx, key, call_id, body.code)
