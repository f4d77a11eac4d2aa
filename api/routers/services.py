"""Account: services, their access keys and test numbers (the operator may also set a service's
credit_limit). The service layer: api/service_layer/services.py and test_numbers.py."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from api.auth import Account, Ctx, OperatorOrAccount
from api.http_params import Cursor, IdempotencyKey, Limit, created
from api.models import (
    KeyCreate,
    KeyCreated,
    KeyOut,
    Page,
    ServiceCreate,
    ServiceOut,
    ServicePatch,
    TestNumberCreate,
    TestNumberOut,
)
from api.openapi import problems
from api.service_layer import services, test_numbers

router = APIRouter(prefix="/v1/services", tags=["account"])


@router.post(
    "",
    status_code=201,
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "invalid_request", "idempotency_key_in_use"),
)
async def create_service(
    body: ServiceCreate,
    ctx: Ctx,
    account: Account,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(*await services.create(ctx, account, body, idempotency_key))


@router.get(
    "",
    response_model=Page[ServiceOut],
    responses=problems("unauthorized", "forbidden", "invalid_request"),
)
async def list_services(
    ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await services.listing(ctx, account, limit, cursor)


@router.get(
    "/{service_id}",
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def get_service(service_id: uuid.UUID, ctx: Ctx, account: Account) -> dict[str, Any]:
    return await services.owned(ctx, account, service_id)


@router.patch(
    "/{service_id}",
    response_model=ServiceOut,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def patch_service(
    service_id: uuid.UUID, body: ServicePatch, ctx: Ctx, caller: OperatorOrAccount
) -> dict[str, Any]:
    return await services.update(ctx, caller, service_id, body.model_dump(exclude_unset=True))


@router.post(
    "/{service_id}/keys",
    status_code=201,
    response_model=KeyCreated,
    responses=problems(
        "unauthorized", "forbidden", "not_found", "invalid_request", "idempotency_key_in_use"
    ),
)
async def create_key(
    service_id: uuid.UUID,
    body: KeyCreate,
    ctx: Ctx,
    account: Account,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(*await services.issue_key(ctx, account, service_id, body, idempotency_key))


@router.get(
    "/{service_id}/keys",
    response_model=Page[KeyOut],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def list_keys(
    service_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await services.keys(ctx, account, service_id, limit, cursor)


@router.delete(
    "/{service_id}/keys/{key_id}",
    status_code=204,
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def revoke_key(
    service_id: uuid.UUID, key_id: uuid.UUID, ctx: Ctx, account: Account
) -> Response:
    await services.revoke_key(ctx, account, service_id, key_id)
    return Response(status_code=204)


@router.post(
    "/{service_id}/test-numbers",
    status_code=201,
    response_model=TestNumberOut,
    responses=problems(
        "unauthorized",
        "forbidden",
        "not_found",
        "invalid_phone",
        "invalid_request",
        "test_number_limit_reached",
        "idempotency_key_in_use",
    ),
)
async def add_test_number(
    service_id: uuid.UUID,
    body: TestNumberCreate,
    ctx: Ctx,
    account: Account,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return created(*await test_numbers.add(ctx, account, service_id, body, idempotency_key))


@router.get(
    "/{service_id}/test-numbers",
    response_model=Page[TestNumberOut],
    responses=problems("unauthorized", "forbidden", "not_found", "invalid_request"),
)
async def list_test_numbers(
    service_id: uuid.UUID, ctx: Ctx, account: Account, limit: Limit = 100, cursor: Cursor = None
) -> dict[str, Any]:
    return await test_numbers.page(ctx, account, service_id, limit, cursor)


@router.delete(
    "/{service_id}/test-numbers/{phone}",
    status_code=204,
    responses=problems(
        "unauthorized", "forbidden", "not_found", "invalid_phone", "invalid_request"
    ),
)
async def remove_test_number(
    service_id: uuid.UUID, phone: str, ctx: Ctx, account: Account
) -> Response:
    await test_numbers.remove(ctx, account, service_id, phone)
    return Response(status_code=204)
