"""The seed service's call endpoint, so its customers can switch by changing the host alone."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from api.auth import Ctx
from api.models import SeedCallIn, SeedCallOut
from api.openapi import problems
from front_door.call_checks import PLACING_PROBLEMS, parse_phone
from front_door.credentials import key_for_secret
from front_door.single_call import place_call

router = APIRouter(tags=["seed compatibility"])


@router.post(
    "/services/call/call/",
    response_model=SeedCallOut,
    responses=problems(*PLACING_PROBLEMS),
)
async def seed_call(body: SeedCallIn, ctx: Ctx) -> dict[str, Any]:
    key = await key_for_secret(ctx, body.token)
    placed = await place_call(ctx, key, parse_phone(ctx, body.destination), uuid.uuid4())
    caller, length = placed.event["caller_number"], placed.event["code_length"]
    return {
        "message": "call queued",
        "code": caller[-length:],
        "tracking_code": placed.event["call_id"],
        "head_number": caller[:-length],
    }
