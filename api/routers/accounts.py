"""Operator: accounts."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse

from api import queries
from api.auth import Ctx, Operator
from api.errors import not_found
from api.idempotency import once
from api.models import AccountCreate, AccountCreated, AccountOut, AccountPatch
from api.secrets import hash_secret, new_account_token
from schemas.codec import new_event

router = APIRouter(prefix="/v1/accounts", tags=["operator"])


@router.post("", status_code=201, response_model=AccountCreated)
async def create_account(
    body: AccountCreate,
    ctx: Ctx,
    _: Operator,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    async def make() -> dict[str, Any]:
        token = new_account_token()
        event = new_event(
            "AccountCreated",
            account_id=uuid.uuid4(),
            name=body.name,
            token_hash=hash_secret(token),
            price_per_call=_default(body.price_per_call, ctx.settings.price_per_call),
            credit_limit=_default(body.credit_limit, ctx.settings.default_credit_limit),
        )
        await ctx.append_and_wait(event)
        row = await queries.account(ctx.pool, event["account_id"])
        assert row is not None
        return {**row, "token": token}

    return await once(ctx, "accounts", idempotency_key, body, make)


@router.get("/{account_id}", response_model=AccountOut)
async def get_account(account_id: uuid.UUID, ctx: Ctx, _: Operator) -> dict[str, Any]:
    row = await queries.account(ctx.pool, account_id)
    if row is None:
        raise not_found("account")
    return row


@router.patch("/{account_id}", response_model=AccountOut)
async def patch_account(
    account_id: uuid.UUID, body: AccountPatch, ctx: Ctx, _: Operator
) -> dict[str, Any]:
    if await queries.account(ctx.pool, account_id) is None:
        raise not_found("account")
    await ctx.append_and_wait(
        new_event(
            "AccountUpdated",
            account_id=account_id,
            name=body.name,
            price_per_call=body.price_per_call,
            credit_limit=body.credit_limit,
        )
    )
    row = await queries.account(ctx.pool, account_id)
    assert row is not None
    return row


def _default(value: int | None, default: int) -> int:
    return default if value is None else value
