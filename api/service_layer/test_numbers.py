"""Test numbers of a service: calls to them ring no one, cost nothing, count in no limit and
verify with their fixed code only (for the customer's own tests and app-store reviewers)."""

from __future__ import annotations

import uuid
from typing import Any

from api.models import TestNumberCreate
from api.service_layer.services import owned
from front_door import queries
from front_door.call_checks import parse_phone
from front_door.context import Context
from front_door.directory import AccountView
from front_door.idempotency import remembered
from front_door.problems import ApiError, invalid, not_found
from schemas.codec import new_event

MAX_PER_SERVICE = 20


async def add(
    ctx: Context,
    account: AccountView,
    service_id: uuid.UUID,
    body: TestNumberCreate,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], bool]:
    """Add a test number, or give one a new code."""
    service = await owned(ctx, account, service_id)
    phone = parse_phone(ctx, body.phone)
    if not fits(body.code, service):
        raise invalid(f"code: {service['code_length']} digits, as the service's codes")

    async def make() -> dict[str, Any]:
        # Counted and added under the service's lock: two replicas adding the 20th and the
        # 21st at once add one of them.
        async with queries.service_test_numbers(ctx.pool, service_id) as count:
            known = ctx.directory.test_code(service_id, phone) is not None
            if not known and count >= MAX_PER_SERVICE:
                raise ApiError(
                    "test_number_limit_reached",
                    f"a service has at most {MAX_PER_SERVICE} test numbers; remove one first",
                )
            event = new_event(
                "TestNumberAdded",
                service_id=service_id,
                account_id=account.id,
                phone=phone,
                code=body.code,
            )
            await ctx.append_and_wait(event)
        return {"phone": phone, "code": body.code, "created_at": event["occurred_at"]}

    return await remembered(ctx, f"test-numbers:{service_id}", idempotency_key, body, make)


def fits(code: str, service: dict[str, Any]) -> bool:
    """A test number's code has as many digits as the service's codes."""
    return code.isdigit() and len(code) == service["code_length"]


async def page(
    ctx: Context, account: AccountView, service_id: uuid.UUID, limit: int, cursor: str | None
) -> dict[str, Any]:
    await owned(ctx, account, service_id)
    items, next_cursor = await queries.test_numbers_page(ctx.pool, service_id, cursor, limit)
    return {"items": items, "next_cursor": next_cursor}


async def remove(ctx: Context, account: AccountView, service_id: uuid.UUID, raw_phone: str) -> None:
    """Calls to it are real calls from the moment this answers."""
    await owned(ctx, account, service_id)
    phone = parse_phone(ctx, raw_phone)
    if ctx.directory.test_code(service_id, phone) is None:
        raise not_found("test number")
    await ctx.append_and_wait(
        new_event("TestNumberRemoved", service_id=service_id, account_id=account.id, phone=phone)
    )
