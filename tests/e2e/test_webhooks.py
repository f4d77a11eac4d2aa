"""Webhooks against a real HTTP receiver the test starts: signed per Standard Webhooks (verified
with the same library), retried with a stable webhook-id while the receiver fails, logged per
endpoint, re-sent and tested on demand, secrets rotated with an overlap."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from bench import chaos
from launch.platform import ROOT
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for
from tests.support.webhooks import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(failures=2)
    yield r
    r.close()


def create(api: Api, tenant: Tenant, url: str, events: list[str], **extra: Any) -> Any:
    body = {"url": url, "events": events, **extra}
    return api.ok(api.http.post("/v1/webhooks", json=body, headers=bearer(tenant.token)), 201)


def test_call_events_are_signed_retried_and_logged(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    endpoint = create(api, tenant, receiver.url, ["call.delivered", "call.verified"])
    assert endpoint["secret"].startswith("whsec_") and endpoint["status"] == "enabled"
    shown = api.ok(api.http.get(f"/v1/webhooks/{endpoint['id']}", headers=bearer(tenant.token)))
    assert "secret" not in shown and shown["events"] == ["call.delivered", "call.verified"]
    phone = random_phone()
    call = api.place(tenant.key, phone)
    api.wait_status(tenant.key, call["id"], {"delivered"})
    assert api.verify(tenant.key, call["id"], api.code_for(phone, 5))["verified"]

    # Retries come 0.05 s, then about 3 s after the first attempt (the suite's base is 0.05 s).
    delivered = wait_for(lambda: receiver.of("call.delivered")[2:] or None, timeout=60)
    attempts = receiver.of("call.delivered")
    assert len(attempts) == 3  # two 500s, then 204; one webhook-id for all three
    assert len({h["webhook-id"] for h, _ in attempts}) == 1
    headers, body = delivered[0]
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    assert Webhook(endpoint["secret"]).verify(raw, headers) == body
    assert body["data"]["id"] == call["id"] and body["data"]["status"] == "delivered"
    assert "code" not in body["data"]  # the service does not return codes
    ringing = api.handset(phone)[0]["caller_number"]
    assert (body["data"]["caller_prefix"], body["data"]["code_length"]) == (ringing[:-5], 5)
    assert body["data"]["test"] is False  # a real number's call
    verified = wait_for(lambda: receiver.of("call.verified") or None, timeout=30)
    assert verified[0][1]["data"]["status"] == "verified"

    def logged() -> list[dict[str, Any]] | None:
        rows = api.ok(
            api.http.get(f"/v1/webhooks/{endpoint['id']}/deliveries", headers=bearer(tenant.token))
        )["items"]
        done = [r for r in rows if r["status"] == "delivered"]
        return rows if len(done) == 2 else None

    rows = wait_for(logged, timeout=30, what="both deliveries to be logged as delivered")
    first = next(r for r in rows if r["event_type"] == "call.delivered")
    assert (first["attempts"], first["response_status"]) == (3, 204)
    assert first["id"] == attempts[0][0]["webhook-id"]

    # Sent again on demand, with the same webhook-id.
    api.ok(
        api.http.post(
            f"/v1/webhooks/{endpoint['id']}/deliveries/{first['id']}/resend",
            headers=bearer(tenant.token),
        ),
        202,
    )
    wait_for(lambda: len(receiver.of("call.delivered")) == 4, timeout=30, what="the re-send")
    assert receiver.of("call.delivered")[-1][0]["webhook-id"] == first["id"]


def test_a_test_event_and_a_rotated_secret(api: Api, tenant: Tenant) -> None:
    receiver = Receiver()
    try:
        endpoint = create(api, tenant, receiver.url, ["credit.low"])
        rotated = api.ok(
            api.http.post(
                f"/v1/webhooks/{endpoint['id']}/rotate-secret", headers=bearer(tenant.token)
            )
        )
        assert rotated["secret"] != endpoint["secret"]
        api.ok(
            api.http.post(f"/v1/webhooks/{endpoint['id']}/test", headers=bearer(tenant.token)),
            202,
        )
        (headers, body), *_ = wait_for(lambda: receiver.of("webhook.test") or None, timeout=30)
        assert len(headers["webhook-signature"].split(" ")) == 2  # both secrets sign, a day long
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        for secret in (endpoint["secret"], rotated["secret"]):
            assert Webhook(secret).verify(raw, headers) == body
    finally:
        receiver.close()


def test_endpoints_are_the_accounts_own_and_checked(api: Api, tenant: Tenant) -> None:
    endpoint = create(api, tenant, "http://127.0.0.1:9/x", ["call.failed"])
    stranger = api.tenant()
    r = api.http.get(f"/v1/webhooks/{endpoint['id']}", headers=bearer(stranger.token))
    assert_problem(r, 404, "not_found")
    r = api.http.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/x", "events": ["call.failed"]},
        headers=bearer(tenant.key),
    )
    assert_problem(r, 403, "forbidden")
    for bad in (
        {"url": "ftp://example.com/x", "events": ["call.failed"]},
        {"url": "http://127.0.0.1:9/x", "events": ["call.unknown"]},
        {"url": "http://127.0.0.1:9/x", "events": []},
        {"url": "http://127.0.0.1:9/x", "events": ["call.failed"], "service_id": str(uuid.uuid4())},
    ):
        r = api.http.post("/v1/webhooks", json=bad, headers=bearer(tenant.token))
        assert r.status_code in (404, 422), (bad, r.text)
    patched = api.ok(
        api.http.patch(
            f"/v1/webhooks/{endpoint['id']}",
            json={"status": "disabled", "events": ["call.expired"]},
            headers=bearer(tenant.token),
        )
    )
    assert (patched["status"], patched["events"]) == ("disabled", ["call.expired"])
    r = api.http.delete(f"/v1/webhooks/{endpoint['id']}", headers=bearer(tenant.token))
    assert r.status_code == 204
    listed = api.ok(api.http.get("/v1/webhooks", headers=bearer(tenant.token)))
    assert listed["next_cursor"] is None
    assert endpoint["id"] not in {e["id"] for e in listed["items"]}


@pytest.fixture(scope="module")
def as_make_run_waits() -> Iterator[Api]:
    """A platform of its own with `make run`'s fetch waits on the embedded broker: the
    projection waits up to 500 ms a fetch, so a ring and a verification that follows it at once
    often reach it in one batch (the suite's own platform waits 10 ms)."""
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    logs = ROOT / "var" / "test-logs" / f"webhooks-{uuid.uuid4().hex[:8]}"
    with chaos.stage(server, logs, env={"FLASHCALL_WEBHOOK_ALLOW_PRIVATE": "true"}) as stage:
        client = Api(stage.platform.url)
        yield client
        client.close()


def test_a_call_verified_the_moment_it_rang_gets_delivered_then_verified(
    as_make_run_waits: Api,
) -> None:
    api = as_make_run_waits
    tenant = api.tenant()
    receiver = Receiver()
    try:
        create(api, tenant, receiver.url, ["call.delivered", "call.verified", "call.failed"])
        calls = []
        for _ in range(4):
            phone = random_phone()
            call = api.place(tenant.key, phone)
            # Verified as soon as the handset rang, as an app reading the call does (asked again
            # while the platform has not recorded the ring yet: that costs no attempt).
            code = api.code_for(phone, 5)

            def judged(call_id: str = call["id"], code: str = code) -> dict[str, Any] | None:
                verdict: dict[str, Any] = api.verify(tenant.key, call_id, code)
                return None if verdict["reason"] == "not_delivered" else verdict

            assert wait_for(judged, what="the ring to be recorded")["verified"]
            calls.append(call["id"])

        def received() -> bool:
            seen = [b["data"]["id"] for k in ("call.delivered", "call.verified")
                    for _, b in receiver.of(k)]  # fmt: skip
            return all(seen.count(c) == 2 for c in calls)

        wait_for(received, timeout=60, what="both webhooks of every call")
        # Once each, in the order the call went through them.
        with receiver.lock:
            order = [json.loads(body) for _, body in receiver.requests]
        for call_id in calls:
            kinds = [b["type"] for b in order if b["data"]["id"] == call_id]
            assert kinds == ["call.delivered", "call.verified"], (call_id, kinds)
    finally:
        receiver.close()
