"""Services, their access keys and test numbers, through the service layer the API uses too."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.auth import Caller
from api.models import KeyCreate, ServiceCreate, ServicePatch, TestNumberCreate
from api.panel.forms import FormError, parse
from api.panel.web import (
    PREFIX,
    Customer,
    Visit,
    account_of,
    checked_form,
    once_key,
    redirect,
    render,
    said,
)
from api.service_layer import fraud, services, test_numbers
from front_door.problems import ApiError

router = APIRouter(prefix=f"{PREFIX}/services", include_in_schema=False)

SERVICE_FIELDS = {
    "name": "text",
    "code_length": "int",
    "code_ttl_minutes": "int",
    "return_code": "check",
    "allowed_regions": "list",
    "blocked_number_types": "list",
    "workflow": "workflow",
    "sms_template": "text",
}


@router.get("")
async def services_page(visit: Customer) -> Response:
    return await _list(visit)


@router.post("")
async def create_service(visit: Customer) -> Response:
    form = await checked_form(visit)
    try:
        body = parse(ServiceCreate, form, SERVICE_FIELDS, visit.words)
        created, _ = await services.create(visit.ctx, account_of(visit), body, once_key(form))
    except FormError as exc:
        return await _list(visit, 422, exc.message, dict(form))
    except ApiError as exc:
        if exc.status != 422:
            raise
        return await _list(visit, 422, said(visit, exc), dict(form))
    service_id = created["id"]
    return redirect(visit, f"{PREFIX}/services/{service_id}")


@router.get("/{service_id}")
async def service_page(service_id: uuid.UUID, visit: Customer) -> Response:
    return await _detail(visit, service_id)


@router.post("/{service_id}")
async def edit_service(service_id: uuid.UUID, visit: Customer) -> Response:
    form = await checked_form(visit)
    fields = SERVICE_FIELDS if "name" in form else {"status": "text"}
    try:
        body = parse(ServicePatch, form, fields, visit.words)
        fields_set = body.model_dump(exclude_unset=True)
        await services.update(visit.ctx, Caller(False, account_of(visit)), service_id, fields_set)
    except FormError as exc:
        return await _detail(visit, service_id, 422, error=exc.message)
    except ApiError as exc:
        if exc.status != 422:
            raise
        return await _detail(visit, service_id, 422, error=said(visit, exc))
    return await _detail(visit, service_id, notice=visit.words.t("service.saved"))


@router.post("/{service_id}/fraud")
async def fraud_block(service_id: uuid.UUID, visit: Customer) -> Response:
    """Lift a block, or allow-list its prefix for good (docs/fraud.md)."""
    form = await checked_form(visit)
    caller = Caller(False, account_of(visit))
    prefix = str(form.get("prefix", ""))
    if form.get("action") == "allow":
        await fraud.allow(visit.ctx, caller, service_id, prefix)
        return await _detail(visit, service_id, notice=visit.words.t("fraud.allowed"))
    await fraud.lift(visit.ctx, caller, service_id, prefix)
    return await _detail(visit, service_id, notice=visit.words.t("fraud.lifted"))


@router.post("/{service_id}/keys")
async def issue_key(service_id: uuid.UUID, visit: Customer) -> Response:
    form = await checked_form(visit)
    try:
        body = parse(KeyCreate, form, {"label": "text"}, visit.words)
    except FormError as exc:
        return await _detail(visit, service_id, 422, error=exc.message)
    issued, _ = await services.issue_key(
        visit.ctx, account_of(visit), service_id, body, once_key(form)
    )
    # Rendered, not redirected to: the secret is shown once and never lands in a URL.
    return await _detail(visit, service_id, new_key=issued)


@router.post("/{service_id}/test-numbers")
async def add_test_number(service_id: uuid.UUID, visit: Customer) -> Response:
    form = await checked_form(visit)
    try:
        body = parse(TestNumberCreate, form, {"phone": "text", "code": "digits"}, visit.words)
        service = await services.owned(visit.ctx, account_of(visit), service_id)
        if not test_numbers.fits(body.code, service):
            raise FormError(visit.words.invalid("tests.code", "valid.test_code"))
        await test_numbers.add(visit.ctx, account_of(visit), service_id, body, once_key(form))
    except FormError as exc:
        return await _detail(visit, service_id, 422, error=exc.message)
    except ApiError as exc:
        if exc.status == 404:
            raise
        return await _detail(visit, service_id, exc.status, error=said(visit, exc))
    return await _detail(visit, service_id, notice=visit.words.t("tests.added"))


@router.post("/{service_id}/test-numbers/remove")
async def remove_test_number(service_id: uuid.UUID, visit: Customer) -> Response:
    form = await checked_form(visit)
    await test_numbers.remove(visit.ctx, account_of(visit), service_id, str(form.get("phone", "")))
    return await _detail(visit, service_id, notice=visit.words.t("tests.removed"))


@router.post("/{service_id}/keys/{key_id}/revoke")
async def revoke_key(service_id: uuid.UUID, key_id: uuid.UUID, visit: Customer) -> Response:
    await checked_form(visit)
    await services.revoke_key(visit.ctx, account_of(visit), service_id, key_id)
    return redirect(visit, f"{PREFIX}/services/{service_id}")


async def _list(
    visit: Visit, status: int = 200, error: str | None = None, values: dict[str, Any] | None = None
) -> Response:
    page = await services.listing(visit.ctx, account_of(visit), 1000, None)
    return render(
        visit,
        "services.html",
        status,
        services=page["items"],
        error=error,
        values=values or {"code_length": 5, "code_ttl_minutes": 2},
    )


async def _detail(
    visit: Visit,
    service_id: uuid.UUID,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
    new_key: dict[str, Any] | None = None,
) -> Response:
    account = account_of(visit)
    service = await services.owned(visit.ctx, account, service_id)
    keys = await services.keys(visit.ctx, account, service_id, 1000, None)
    blocks = await fraud.blocks(visit.ctx, Caller(False, account), service_id)
    tests = await test_numbers.page(visit.ctx, account, service_id, 100, None)
    return render(
        visit,
        "service.html",
        status,
        service=service,
        keys=keys["items"],
        blocks=blocks,
        tests=tests["items"],
        error=error,
        notice=notice,
        new_key=new_key,
    )
