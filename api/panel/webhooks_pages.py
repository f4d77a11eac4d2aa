"""Webhooks in the panel: endpoints, their delivery logs, a test event, sending again, a new
secret — through the service layer the API uses too (api/service_layer/webhooks.py)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from api.panel.web import PREFIX, Customer, Visit, account_of, checked_form, redirect, render
from api.service_layer import webhooks
from core.webhooks import EVENT_TYPES
from front_door.problems import ApiError

router = APIRouter(prefix=f"{PREFIX}/webhooks", include_in_schema=False)


@router.get("")
async def webhooks_page(visit: Customer) -> Response:
    return await _list(visit)


@router.post("")
async def create_webhook(visit: Customer) -> Response:
    form = await checked_form(visit)
    url = str(form.get("url", "")).strip()
    events = [e for e in form.getlist("events") if e in EVENT_TYPES]
    if not url.startswith(("http://", "https://")) or len(url) > 2048 or not events:
        return await _list(visit, 422, _invalid(visit), url)
    try:
        created = await webhooks.create(visit.ctx, account_of(visit).id, url, events, None)
    except ApiError as exc:
        if exc.status != 422:
            raise
        return await _list(visit, 422, _invalid(visit), url)
    # Rendered, not redirected to: the secret is shown once and never lands in a URL.
    return await _detail(visit, created["id"], secret=created["secret"])


@router.get("/{webhook_id}")
async def webhook_page(webhook_id: uuid.UUID, visit: Customer) -> Response:
    return await _detail(visit, webhook_id)


@router.post("/{webhook_id}/test")
async def send_test(webhook_id: uuid.UUID, visit: Customer) -> Response:
    await checked_form(visit)
    await webhooks.send_test(visit.ctx, account_of(visit).id, webhook_id)
    return await _detail(visit, webhook_id, notice=visit.words.t("webhooks.test_sent"))


@router.post("/{webhook_id}/status")
async def set_status(webhook_id: uuid.UUID, visit: Customer) -> Response:
    form = await checked_form(visit)
    status = "enabled" if form.get("status") == "enabled" else "disabled"
    await webhooks.update(visit.ctx, account_of(visit).id, webhook_id, {"status": status})
    return await _detail(visit, webhook_id, notice=visit.words.t("service.saved"))


@router.post("/{webhook_id}/rotate")
async def rotate(webhook_id: uuid.UUID, visit: Customer) -> Response:
    await checked_form(visit)
    rotated = await webhooks.rotate(visit.ctx, account_of(visit).id, webhook_id)
    return await _detail(visit, webhook_id, secret=rotated["secret"])


@router.post("/{webhook_id}/delete")
async def delete(webhook_id: uuid.UUID, visit: Customer) -> Response:
    await checked_form(visit)
    await webhooks.delete(visit.ctx, account_of(visit).id, webhook_id)
    return redirect(visit, f"{PREFIX}/webhooks")


@router.post("/{webhook_id}/deliveries/{delivery_id}/resend")
async def resend(webhook_id: uuid.UUID, delivery_id: uuid.UUID, visit: Customer) -> Response:
    await checked_form(visit)
    await webhooks.resend(visit.ctx, account_of(visit).id, webhook_id, delivery_id)
    return await _detail(visit, webhook_id, notice=visit.words.t("webhooks.resent"))


async def _list(
    visit: Visit, status: int = 200, error: str | None = None, url: str = ""
) -> Response:
    endpoints = await webhooks.listing(visit.ctx, account_of(visit).id)
    return render(
        visit,
        "webhooks.html",
        status,
        endpoints=endpoints,
        event_types=EVENT_TYPES,
        error=error,
        url=url,
    )


async def _detail(
    visit: Visit,
    webhook_id: uuid.UUID,
    secret: str | None = None,
    notice: str | None = None,
) -> Response:
    account_id = account_of(visit).id
    endpoint = await webhooks.one(visit.ctx, account_id, webhook_id)
    deliveries: list[dict[str, Any]] = await webhooks.deliveries(visit.ctx, account_id, webhook_id)
    return render(
        visit,
        "webhook.html",
        endpoint=endpoint,
        deliveries=deliveries,
        secret=secret,
        notice=notice,
    )


def _invalid(visit: Visit) -> str:
    return visit.words.t("webhooks.invalid", http="http://", https="https://")
