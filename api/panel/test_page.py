"""The test-service page: the browser drives the public API with a key the customer enters;
under the simulated carrier the page also shows the simulated handset's missed call."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from api.panel.reports_pages import own_call
from api.panel.web import PREFIX, Customer, finish, render
from core.call_rules import FailReason, RejectReason
from front_door import queries
from front_door.problems import not_found

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
    return render(visit, "call_details.html", call=await own_call(visit, call_id))


@router.get("/handset/{call_id}")
async def simulated_handset(call_id: uuid.UUID, visit: Customer) -> Response:
    """What the simulated handset saw of one of the account's calls (404 until it rang, and
    always for another account's call or a real carrier)."""
    if visit.ctx.settings.carrier != "sim":
        raise not_found("call")
    call = await own_call(visit, call_id)
    rang = await queries.handset_ring(visit.ctx.pool, call_id)
    if rang is None:
        raise not_found("ring")
    body = {
        "phone": call["phone"],
        "caller_number": rang["caller_number"],
        "rang_at": visit.words.when(rang["rang_at"]),
    }
    return finish(visit, JSONResponse(body))
