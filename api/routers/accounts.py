"""Operator: accounts (the service layer: api/service_layer/accounts.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.auth import Account, Ctx, Operator
from api.http_params import IdempotencyKey, created
from api.models import (
    AccountCreate,
    AccountCreated,
    AccountOut,
    AccountPatch,
    StreamsOut,
    TokenOut,
)
from api.openapi import problems
from api.service_layer import accounts, streams

router = APIRouter(prefix="/v1/accounts", tags=["operator"])
own = APIRouter(prefix="/v1/account", tags=["account"])


@router.post(
    "",
    status_code=201,
    response_model=AccountCreated,
    responses=problems("unauthorized", "forbidden", "invalid_request", "idempotency_key_in_use"),
)
async def create_account(
    body: AccountCreate,
    ctx: Ctx,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(*await accounts.create(ctx, body, idempotency_key))


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def get_account(account_id: uuid.UUID, ctx: Ctx, _: Operator) -> dict[str, Any]:
    return await accounts.get(ctx, account_id)


@router.patch(
    "/{account_id}",
    response_model=AccountOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def patch_account(
    account_id: uuid.UUID, body: AccountPatch, ctx: Ctx, _: Operator
) -> dict[str, Any]:
    return await accounts.update(ctx, account_id, body)


@router.post(
    "/{account_id}/streams",
    status_code=201,
    response_model=StreamsOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def enable_streams(account_id: uuid.UUID, ctx: Ctx, _: Operator) -> dict[str, Any]:
    """Create the account's ingress and results topics (docs/streaming.md); asking again
    answers the same topics."""
    return await streams.enable(ctx, account_id)


@own.get("", response_model=AccountOut, responses=problems("unauthorized", "forbidden"))
async def own_account(ctx: Ctx, account: Account) -> dict[str, Any]:
    """The calling account itself: its id (for the Kafka way in and the operator) and
    settings."""
    return await accounts.get(ctx, account.id)


@own.post(
    "/token",
    status_code=201,
    response_model=TokenOut,
    responses=problems("unauthorized", "forbidden"),
)
async def rotate_token(ctx: Ctx, account: Account) -> dict[str, Any]:
    """A new API token for the calling account, shown only here; the old one stops working."""
    return await accounts.rotate_token(ctx, account)
