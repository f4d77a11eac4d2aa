"""Operator: accounts."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api import queries, streams
from api.auth import Account, Ctx, Operator
from api.context import Context, read_back
from api.errors import not_found
from api.idempotency import IdempotencyKey, once
from api.models import (
    AccountCreate,
    AccountCreated,
    AccountOut,
    AccountPatch,
    StreamsOut,
    TokenOut,
)
from api.openapi import problems
from api.secrets import hash_secret, new_account_token
from schemas.codec import Event, new_event

router = APIRouter(prefix="/v1/accounts", tags=["operator"])
own = APIRouter(prefix="/v1/account", tags=["account"])


@router.post(
    "",
    status_code=201,
    response_model=AccountCreated,
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def create_account(
    body: AccountCreate,
    ctx: Ctx,
    _: Operator,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def make() -> dict[str, Any]:
        event, token = opening(
            ctx, body.name, body.price_per_call, body.credit_limit, time_zone=body.time_zone
        )
        await ctx.append_and_wait(event)
        row = read_back(await queries.account(ctx.pool, event["account_id"]))
        return {**with_zone(ctx, row), "token": token}

    return await once(ctx, "accounts", idempotency_key, body, make)


def opening(
    ctx: Context,
    name: str,
    price_per_call: int | None = None,
    credit_limit: int | None = None,
    account_id: uuid.UUID | None = None,
    time_zone: str | None = None,
) -> tuple[Event, str]:
    """The event that opens an account (the platform's defaults fill what is not given), and
    the account's token, which exists only in this answer."""
    token = new_account_token()
    event = new_event(
        "AccountCreated",
        account_id=account_id or uuid.uuid4(),
        name=name,
        token_hash=hash_secret(token),
        price_per_call=_default(price_per_call, ctx.settings.price_per_call),
        credit_limit=_default(credit_limit, ctx.settings.default_credit_limit),
        time_zone=time_zone,
    )
    return event, token


def with_zone(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    """An account as shown: its time zone, or the platform's where it chose none."""
    return {**row, "time_zone": row.get("time_zone") or ctx.settings.panel_timezone}


@router.get(
    "/{account_id}",
    response_model=AccountOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def get_account(account_id: uuid.UUID, ctx: Ctx, _: Operator) -> dict[str, Any]:
    row = await queries.account(ctx.pool, account_id)
    if row is None:
        raise not_found("account")
    return with_zone(ctx, row)


@router.patch(
    "/{account_id}",
    response_model=AccountOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
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
            time_zone=body.time_zone,
        )
    )
    row = read_back(await queries.account(ctx.pool, account_id))
    return with_zone(ctx, row)


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


@own.post(
    "/token",
    status_code=201,
    response_model=TokenOut,
    responses=problems("unauthorized", "forbidden"),
)
async def rotate_token(ctx: Ctx, account: Account) -> dict[str, Any]:
    """A new API token for the calling account, shown only here; the old one stops working."""
    token = new_account_token()
    event = new_event("AccountTokenRotated", account_id=account.id, token_hash=hash_secret(token))
    await ctx.append_and_wait(event)
    return {"token": token, "created_at": event["occurred_at"]}


def _default(value: int | None, default: int) -> int:
    return default if value is None else value
