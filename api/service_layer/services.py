"""Services and their access keys."""

from __future__ import annotations

import uuid
from typing import Any

from api.auth import Caller
from api.models import KeyCreate, ServiceCreate, ServiceOut
from core.caller_ranges import max_code_length
from core.workflow import as_records, workflow_of
from front_door import queries
from front_door.context import Context, read_back
from front_door.directory import AccountView
from front_door.drawn import Drawn, draw
from front_door.idempotency import remembered_drawn
from front_door.problems import ApiError, invalid, not_found
from front_door.secrets import access_key_prefix, hash_secret, new_access_key
from schemas.codec import new_event


def check_code_length(ctx: Context, code_length: int | None) -> None:
    most = max_code_length(ctx.directory.ranges.values() or ctx.settings.seeded_ranges)
    if code_length is not None and code_length > most:
        raise invalid(
            f"code_length {code_length} exceeds the {most} free digits of the widest"
            " active caller range"
        )


def _records(workflow: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """A workflow as events carry it (the models checked it: core/workflow.py's rules)."""
    if workflow is None:
        return None
    return as_records(workflow_of(workflow))


async def owned(ctx: Context, account: AccountView, service_id: uuid.UUID) -> dict[str, Any]:
    """The account's service; another account's id is answered exactly like a missing one."""
    row = await queries.service(ctx.pool, service_id)
    if row is None or row["account_id"] != account.id:
        raise not_found("service")
    return row


async def visible(ctx: Context, caller: Caller, service_id: uuid.UUID) -> dict[str, Any]:
    """A service the caller may see: any for the operator, its own for an account."""
    if caller.account is not None:
        return await owned(ctx, caller.account, service_id)
    row = await queries.service(ctx.pool, service_id)
    if row is None:
        raise not_found("service")
    return row


async def create(
    ctx: Context, account: AccountView, body: ServiceCreate, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """The new service (or, for a repeated Idempotency-Key, the first answer), and whether it
    is that replay."""
    check_code_length(ctx, body.code_length)

    async def make(drawn: Drawn) -> dict[str, Any]:
        event = new_event(
            "ServiceCreated",
            **drawn.envelope(),
            service_id=drawn.id,
            account_id=account.id,
            name=body.name,
            code_length=body.code_length,
            code_ttl_minutes=body.code_ttl_minutes,
            return_code=body.return_code,
            credit_limit=account.credit_limit,
            allowed_regions=body.allowed_regions,
            blocked_number_types=body.blocked_number_types,
            workflow=_records(body.model_dump()["workflow"]),
            sms_template=body.sms_template,
        )
        await ctx.append_and_wait(event)
        row = read_back(await queries.service(ctx.pool, drawn.id))
        return ServiceOut.model_validate(row).model_dump()

    return await remembered_drawn(ctx, f"services:{account.id}", idempotency_key, body, draw, make)


async def listing(
    ctx: Context, account: AccountView, limit: int, cursor: str | None
) -> dict[str, Any]:
    items, next_cursor = await queries.services_page(ctx.pool, account.id, cursor, limit)
    return {"items": [queries.public_service(r) for r in items], "next_cursor": next_cursor}


async def update(
    ctx: Context, caller: Caller, service_id: uuid.UUID, fields: dict[str, Any]
) -> dict[str, Any]:
    """The operator changes credit_limit only; the account everything else."""
    if caller.operator:
        if set(fields) - {"credit_limit"}:
            raise ApiError("forbidden", "the operator may only change credit_limit")
    elif "credit_limit" in fields:
        raise ApiError("forbidden", "only the operator may set credit_limit")
    row = await visible(ctx, caller, service_id)
    check_code_length(ctx, fields.get("code_length"))
    if fields:
        await ctx.append_and_wait(
            new_event(
                "ServiceUpdated",
                service_id=service_id,
                account_id=row["account_id"],
                name=fields.get("name"),
                code_length=fields.get("code_length"),
                code_ttl_minutes=fields.get("code_ttl_minutes"),
                return_code=fields.get("return_code"),
                status=fields.get("status"),
                credit_limit=fields.get("credit_limit"),
                allowed_regions=fields.get("allowed_regions"),
                blocked_number_types=fields.get("blocked_number_types"),
                workflow=_records(fields.get("workflow")),
                sms_template=fields.get("sms_template"),
            )
        )
        row = read_back(await queries.service(ctx.pool, service_id))
    return row


async def issue_key(
    ctx: Context,
    account: AccountView,
    service_id: uuid.UUID,
    body: KeyCreate,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """A new access key (its secret only in this answer)."""
    await owned(ctx, account, service_id)

    async def make(drawn: Drawn) -> dict[str, Any]:
        assert drawn.secret is not None
        prefix = access_key_prefix(drawn.secret)
        event = new_event(
            "AccessKeyIssued",
            **drawn.envelope(),
            key_id=drawn.id,
            service_id=service_id,
            account_id=account.id,
            label=body.label,
            prefix=prefix,
            key_hash=hash_secret(drawn.secret),
        )
        await ctx.append_and_wait(event)
        return {
            "id": drawn.id,
            "service_id": service_id,
            "label": body.label,
            "key": drawn.secret,
            "prefix": prefix,
            "created_at": drawn.occurred_at,
        }

    return await remembered_drawn(
        ctx,
        f"keys:{service_id}",
        idempotency_key,
        body,
        lambda: draw(secret=new_access_key()),
        make,
    )


async def keys(
    ctx: Context, account: AccountView, service_id: uuid.UUID, limit: int, cursor: str | None
) -> dict[str, Any]:
    await owned(ctx, account, service_id)
    items, next_cursor = await queries.keys_page(ctx.pool, service_id, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def revoke_key(
    ctx: Context, account: AccountView, service_id: uuid.UUID, key_id: uuid.UUID
) -> None:
    await owned(ctx, account, service_id)
    key = ctx.directory.keys.get(key_id)
    if key is None or key.service_id != service_id:
        raise not_found("access key")
    if key.revoked_at is None:
        await ctx.append_and_wait(
            new_event(
                "AccessKeyRevoked", key_id=key_id, service_id=service_id, account_id=account.id
            )
        )
