"""Accounts: opening one, changing it, its token."""

from __future__ import annotations

import uuid
from typing import Any

from api.models import AccountCreate, AccountPatch
from front_door import queries
from front_door.context import Context, read_back
from front_door.directory import AccountView
from front_door.drawn import Drawn, draw
from front_door.idempotency import remembered_drawn
from front_door.problems import not_found
from front_door.secrets import hash_secret, new_account_token
from schemas.codec import Event, new_event


def opening(
    ctx: Context,
    name: str,
    drawn: Drawn,
    price_per_call: int | None = None,
    credit_limit: int | None = None,
    time_zone: str | None = None,
    total_credit_limit: int | None = None,
    price_per_sms: int | None = None,
) -> Event:
    """The event that opens an account (the platform's defaults fill what is not given), with
    the id and token `drawn` (`draw_account`; the token exists only in the answer)."""
    assert drawn.secret is not None
    return new_event(
        "AccountCreated",
        **drawn.envelope(),
        account_id=drawn.id,
        name=name,
        token_hash=hash_secret(drawn.secret),
        price_per_call=_default(price_per_call, ctx.settings.price_per_call),
        price_per_sms=_default(price_per_sms, ctx.settings.price_per_sms),
        credit_limit=_default(credit_limit, ctx.settings.default_credit_limit),
        total_credit_limit=_default(total_credit_limit, ctx.settings.default_total_credit_limit),
        time_zone=time_zone,
    )


def draw_account(account_id: uuid.UUID | None = None) -> Drawn:
    """A new account's id and token."""
    return draw(secret=new_account_token(), new_id=account_id)


def shown(ctx: Context, row: dict[str, Any]) -> dict[str, Any]:
    """An account as shown: its time zone, total credit limit and SMS price, or the platform's
    where it has none (accounts opened before there were)."""
    return {
        **row,
        "price_per_sms": _default(row.get("price_per_sms"), ctx.settings.price_per_sms),
        "time_zone": row.get("time_zone") or ctx.settings.panel_timezone,
        "total_credit_limit": _default(
            row.get("total_credit_limit"), ctx.settings.default_total_credit_limit
        ),
    }


async def create(
    ctx: Context, body: AccountCreate, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    async def make(drawn: Drawn) -> dict[str, Any]:
        event = opening(
            ctx,
            body.name,
            drawn,
            body.price_per_call,
            body.credit_limit,
            time_zone=body.time_zone,
            total_credit_limit=body.total_credit_limit,
            price_per_sms=body.price_per_sms,
        )
        await ctx.append_and_wait(event)
        row = read_back(await queries.account(ctx.pool, drawn.id))
        return {**shown(ctx, row), "token": drawn.secret}

    return await remembered_drawn(ctx, "accounts", idempotency_key, body, draw_account, make)


async def get(ctx: Context, account_id: uuid.UUID) -> dict[str, Any]:
    row = await queries.account(ctx.pool, account_id)
    if row is None:
        raise not_found("account")
    return shown(ctx, row)


async def update(ctx: Context, account_id: uuid.UUID, body: AccountPatch) -> dict[str, Any]:
    await get(ctx, account_id)
    await ctx.append_and_wait(
        new_event(
            "AccountUpdated",
            account_id=account_id,
            name=body.name,
            price_per_call=body.price_per_call,
            price_per_sms=body.price_per_sms,
            credit_limit=body.credit_limit,
            total_credit_limit=body.total_credit_limit,
            time_zone=body.time_zone,
        )
    )
    return shown(ctx, read_back(await queries.account(ctx.pool, account_id)))


async def rotate_token(ctx: Context, account: AccountView) -> dict[str, Any]:
    """A new API token for the account, shown only here; the old one stops working."""
    token = new_account_token()
    event = new_event("AccountTokenRotated", account_id=account.id, token_hash=hash_secret(token))
    await ctx.append_and_wait(event)
    return {"token": token, "created_at": event["occurred_at"]}


def _default(value: int | None, default: int) -> int:
    return default if value is None else value
