"""The test-service page: the browser drives the public API with a key the customer enters;
under the simulated carrier the page also shows the simulated handset's missed call."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from api import queries
from api.errors import not_found
from api.panel.web import PREFIX, Customer, account_of, finish, render
from core.call_rules import FailReason, RejectReason

router = APIRouter(prefix=f"{PREFIX}/test", include_in_schema=False)


@router.get("")
async def test_page(visit: Customer) -> Response:
    failures = [*FailReason, *RejectReason]
    return render(
        visit,
        "test.html",
        problems=visit.words.problems(),
        reasons={str(r): visit.words.word(str(r)) for r in failures},
    )


@router.get("/calls/{call_id}")
async def call_details(call_id: uuid.UUID, visit: Customer) -> Response:
    """One of the account's calls as a report row reads (the panel's words, its time zone and
    calendar, money with its toman), for the test page to show under the verdict."""
    call = await queries.call(visit.ctx.pool, call_id)
    if call is None or call["account_id"] != account_of(visit).id:
        raise not_found("call")
    return render(visit, "call_details.html", call=call)


@router.get("/handset/{call_id}")
async def simulated_handset(call_id: uuid.UUID, visit: Customer) -> Response:
    """What the simulated handset saw of one of the account's calls (404 until it rang, and
    always for another account's call or a real carrier)."""
    call = await queries.call(visit.ctx.pool, call_id)
    if visit.ctx.settings.carrier != "sim" or call is None:
        raise not_found("call")
    if call["account_id"] != account_of(visit).id:
        raise not_found("call")
    rang: dict[str, Any] | None = await queries.fetch_one(
        visit.ctx.pool,
        "SELECT caller_number, rang_at FROM sim_handset_calls WHERE call_id = %s",
        (call_id,),
    )
    if rang is None:
        raise not_found("ring")
    body = {
        "phone": call["phone"],
        "caller_number": rang["caller_number"],
        "rang_at": visit.words.when(rang["rang_at"]),
    }
    return finish(visit, JSONResponse(body))
