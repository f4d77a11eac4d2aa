"""Account: services and their access keys (the operator may also set a service's credit_limit)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api import queries
from api.auth import Account, Ctx, OperatorOrAccount
from api.context import Context, read_back
from api.directory import AccountView
from api.errors import ApiError, invalid, not_found
from api.idempotency import IdempotencyKey, once
from api.models import KeyCreate, KeyCreated, KeyOut, Page, ServiceCreate, ServiceOut, ServicePatch
from api.openapi import problems
from api.paging import Cursor, Limit
from api.secrets import hash_secret, new_access_key
from schemas.codec import new_event

router = APIRouter(prefix="/v1/services", tags=["account"])


def _check_code_length(ctx: Context, code_length: int | None) -> None:
    if code_length is not None and code_length > ctx.settings.pool.max_code_length:
        raise invalid(
            f"code_length {code_length} exceeds the caller-number pool's"
            f" {ctx.settings.pool.max_code_length} free digits"
        )


async def owned_service(
    ctx: Context, account: AccountView, service_id: uuid.UUID
) -> dict[str, Any]:
    """The account's service; another account's id is answered exactly like a missing one."""
    row = await queries.service(ctx.pool, service_id)
    if row is None or row["account_id"] != account.id:
        raise not_found("service")
    return row


@router.post(
    "",
    status_code=201,
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def create_service(
    body: ServiceCreate,
    ctx: Ctx,
    account: Account,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    _check_code_length(ctx, body.code_length)

    async def make() -> dict[str, Any]:
        event = new_event(
            "ServiceCreated",
            service_id=uuid.uuid4(),
            account_id=account.id,
            name=body.name,
            code_length=body.code_length,
            code_ttl_minutes=body.code_ttl_minutes,
            return_code=body.return_code,
            credit_limit=account.credit_limit,
        )
        await ctx.append_and_wait(event)
        row = read_back(await queries.service(ctx.pool, event["service_id"]))
        return ServiceOut.model_validate(row).model_dump()

    return await once(ctx, f"services:{account.id}", idempotency_key, body, make)


@router.get(
    "",
    response_model=Page[ServiceOut],
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def list_services(
    ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    items, next_cursor = await queries.fetch_page(
        ctx.pool,
        f"SELECT * FROM {queries.SERVICES} WHERE account_id = %s",
        [account.id],
        cursor,
        limit,
    )
    return {"items": [queries.public_service(r) for r in items], "next_cursor": next_cursor}


@router.get(
    "/{service_id}",
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def get_service(service_id: uuid.UUID, ctx: Ctx, account: Account) -> dict[str, Any]:
    return await owned_service(ctx, account, service_id)


@router.patch(
    "/{service_id}",
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def patch_service(
    service_id: uuid.UUID, body: ServicePatch, ctx: Ctx, caller: OperatorOrAccount
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True)
    if caller.operator:
        if set(fields) - {"credit_limit"}:
            raise ApiError("forbidden", "the operator may only change credit_limit")
        row = await queries.service(ctx.pool, service_id)
        if row is None:
            raise not_found("service")
    else:
        assert caller.account is not None
        if "credit_limit" in fields:
            raise ApiError("forbidden", "only the operator may set credit_limit")
        row = await owned_service(ctx, caller.account, service_id)
    _check_code_length(ctx, fields.get("code_length"))
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
            )
        )
        row = read_back(await queries.service(ctx.pool, service_id))
    return row


@router.post(
    "/{service_id}/keys",
    status_code=201,
    response_model=KeyCreated,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def create_key(
    service_id: uuid.UUID,
    body: KeyCreate,
    ctx: Ctx,
    account: Account,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    await owned_service(ctx, account, service_id)

    async def make() -> dict[str, Any]:
        secret, prefix = new_access_key()
        event = new_event(
            "AccessKeyIssued",
            key_id=uuid.uuid4(),
            service_id=service_id,
            account_id=account.id,
            label=body.label,
            prefix=prefix,
            key_hash=hash_secret(secret),
        )
        await ctx.append_and_wait(event)
        return {
            "id": event["key_id"],
            "service_id": service_id,
            "label": body.label,
            "key": secret,
            "prefix": prefix,
            "created_at": event["occurred_at"],
        }

    return await once(ctx, f"keys:{service_id}", idempotency_key, body, make)


@router.get(
    "/{service_id}/keys",
    response_model=Page[KeyOut],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def list_keys(
    service_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    await owned_service(ctx, account, service_id)
    items, next_cursor = await queries.fetch_page(
        ctx.pool,
        # Last use is derived from the calls (index calls_key_created), never stored twice.
        "SELECT k.id, k.label, k.prefix, k.created_at, k.revoked_at,"
        " (SELECT max(c.created_at) FROM calls c WHERE c.key_id = k.id) AS last_used_at"
        " FROM access_keys k WHERE k.service_id = %s",
        [service_id],
        cursor,
        limit,
    )
    return {"items": items, "next_cursor": next_cursor}


@router.delete(
    "/{service_id}/keys/{key_id}",
    status_code=204,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def revoke_key(
    service_id: uuid.UUID, key_id: uuid.UUID, ctx: Ctx, account: Account
) -> Response:
    await owned_service(ctx, account, service_id)
    key = ctx.directory.keys.get(key_id)
    if key is None or key.service_id != service_id:
        raise not_found("access key")
    if key.revoked_at is None:
        await ctx.append_and_wait(
            new_event(
                "AccessKeyRevoked", key_id=key_id, service_id=service_id, account_id=account.id
            )
        )
    return Response(status_code=204)
