"""The Python client (client/) against the live platform, sync and async."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flashcall_client import (
    AsyncFlashcall,
    Flashcall,
    InvalidPhone,
    InvalidSignature,
    NotFound,
    Unauthorized,
    match_incoming,
    verify_webhook,
)
from standardwebhooks.webhooks import Webhook

from launch.platform import Platform
from tests.support.client import Api, Tenant, random_phone


def test_the_sync_client_places_verifies_streams_and_reports(
    api: Api, tenant: Tenant, platform: Platform, tmp_path: Path
) -> None:
    phone = random_phone()
    with Flashcall(platform.url, tenant.key) as fc:
        call = fc.place_call(phone, reference="client-1")
        assert (call.status, call.phone, call.reference) == ("queued", phone, "client-1")
        assert fc.place_call(phone, reference="client-1").id == call.id  # one call per reference
        assert fc.get_call(call.id).id == call.id  # read right after the write
        api.wait_status(tenant.key, call.id, {"delivered"})
        # The app's side: the ringing number, matched against the call, gives the code.
        ringing = api.handset(phone)[0]["caller_number"]
        code = match_incoming(ringing, call)
        assert code is not None and code == ringing[-5:] and call.caller_prefix == ringing[:-5]
        assert (
            match_incoming(ringing, {"caller_prefix": call.caller_prefix, "code_length": 4}) is None
        )
        verdict = fc.verify(call.id, code)
        assert verdict.verified and verdict.status == "verified"
        with pytest.raises(InvalidPhone) as refused:
            fc.place_call("12")
        assert refused.value.status == 400 and refused.value.detail
        with pytest.raises(NotFound):
            fc.get_call("00000000-0000-0000-0000-000000000000")
        results = list(fc.stream_calls([{"phone": random_phone()} for _ in range(3)] + [{"x": 1}]))
        assert [r.index for r in results] == [0, 1, 2, 3]
        assert [r.ok for r in results] == [True, True, True, False]
        assert results[3].error_code == "invalid_request"
        batch = fc.place_batch([{"phone": random_phone()}, {"phone": "nope"}])
        assert batch[0].ok and batch[1].error_code == "invalid_phone"
        assert batch[0].code_length == 5 and batch[0].caller_prefix
        assert all(r.caller_prefix for r in results[:3])
    with Flashcall(platform.url, tenant.token) as account:
        rows = list(account.reports(reference="client-1"))
        assert [r["id"] for r in rows] == [call.id]
        csv = account.export_csv(tmp_path / "calls.csv", reference="client-1")
        assert call.id in csv.read_text(encoding="utf-8-sig")
    with Flashcall(platform.url, "fck_not_a_key") as stranger, pytest.raises(Unauthorized):
        stranger.place_call(phone)


async def test_the_async_client_does_the_same(api: Api, tenant: Tenant, platform: Platform) -> None:
    phone = random_phone()
    async with AsyncFlashcall(platform.url, tenant.key) as fc:
        call = await fc.place_call(phone)
        assert (await fc.get_call(call.id)).id == call.id
        results = [r async for r in fc.stream_calls([{"phone": random_phone()} for _ in range(2)])]
        assert [r.ok for r in results] == [True, True]
        with pytest.raises(InvalidPhone):
            await fc.place_call("12")
    async with AsyncFlashcall(platform.url, tenant.token) as account:
        found = [r async for r in account.reports(service_id=tenant.service_id)]
        assert call.id in {r["id"] for r in found}


def test_webhook_signatures_are_checked() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"type": "call.delivered", "timestamp": "t", "data": {}})
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_1", now, body),
    }
    assert verify_webhook(secret, body, headers)["type"] == "call.delivered"
    with pytest.raises(InvalidSignature):
        verify_webhook(secret, body + " ", headers)
