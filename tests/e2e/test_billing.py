"""Postpaid credit over HTTP: charges, the negative limit, cut-off, top-ups and the ledger."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from launch.platform import Platform
from schemas import topics
from schemas.codec import decode
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.topics_replay import read_everything
from tests.support.waiting import wait_for

PRICE = 1000  # FLASHCALL_PRICE_PER_CALL's default, the price of a new account's calls


def service(api: Api, tenant: Tenant) -> dict[str, Any]:
    return api.ok(api.http.get(f"/v1/services/{tenant.service_id}", headers=bearer(tenant.token)))  # type: ignore[no-any-return]


def ledger(api: Api, tenant: Tenant) -> list[dict[str, Any]]:
    path = f"/v1/services/{tenant.service_id}/ledger"
    return api.ok(api.http.get(path, headers=bearer(tenant.token)))["items"]  # type: ignore[no-any-return]


def set_limit(api: Api, tenant: Tenant, limit: int) -> None:
    api.ok(
        api.http.patch(
            f"/v1/services/{tenant.service_id}", json={"credit_limit": limit}, headers=api.admin
        )
    )


def test_only_delivered_calls_are_charged_once(api: Api, tenant: Tenant) -> None:
    delivered = api.place(tenant.key, random_phone())
    busy = api.place(tenant.key, random_phone("1111"))
    assert api.wait_status(tenant.key, busy["id"], {"failed"})["cost"] == 0
    assert api.wait_status(tenant.key, delivered["id"], {"delivered"})
    charged = wait_for(
        lambda: (c := api.call(tenant.key, delivered["id"]))["cost"] == PRICE and c,
        what="the charge to reach the call",
    )
    assert charged["cost"] == PRICE
    entries = wait_for(lambda: ledger(api, tenant), what="the ledger entry")
    assert [(e["type"], e["amount"], e["balance_after"], e["call_id"]) for e in entries] == [
        ("debit", PRICE, -PRICE, delivered["id"])
    ]
    assert service(api, tenant)["balance"] == -PRICE
    balance = api.ok(api.http.get("/v1/balance", headers=bearer(tenant.token)))
    assert balance["total"] == -PRICE
    assert balance["services"] == [
        {
            "service_id": tenant.service_id,
            "balance": -PRICE,
            "credit_limit": 1_000_000,
            "status": "active",
            "low_balance": False,
        }
    ]


def test_fifty_concurrent_calls_with_room_for_seven_admit_seven(api: Api, tenant: Tenant) -> None:
    set_limit(api, tenant, 7 * PRICE)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/calls", json={"phone": random_phone()}, headers=bearer(tenant.key)
                    )
                    for _ in range(50)
                )
            )

    responses = asyncio.run(burst())
    accepted = [r.json()["id"] for r in responses if r.status_code == 201]
    for refused in (r for r in responses if r.status_code != 201):
        assert_problem(refused, 402, "credit_limit_reached")
    finals = [
        api.wait_status(tenant.key, cid, {"delivered", "rejected"}, timeout=30) for cid in accepted
    ]
    assert sum(f["status"] == "delivered" for f in finals) == 7
    for rejected in (f for f in finals if f["status"] == "rejected"):
        assert rejected["failure_reason"] == "credit_limit_reached" and rejected["cost"] == 0
        assert api.handset(rejected["phone"]) == []  # never dialled
    wait_for(lambda: len(ledger(api, tenant)) == 7, what="seven debits")
    svc = service(api, tenant)
    assert svc["balance"] == -7 * PRICE and svc["status"] == "cut_off" and svc["low_balance"]
    response = api.http.post(
        "/v1/calls", json={"phone": random_phone()}, headers=bearer(tenant.key)
    )
    assert_problem(response, 402, "credit_limit_reached")


def test_a_top_up_lets_calls_through_within_a_second(api: Api, tenant: Tenant) -> None:
    set_limit(api, tenant, 0)
    wait_for(
        lambda: (
            api.http.post(
                "/v1/calls", json={"phone": random_phone()}, headers=bearer(tenant.key)
            ).status_code
            == 402
        ),
        what="a zero limit to cut the service off",
    )
    done = api.top_up(tenant.service_id, 2 * PRICE, "invoice 17")
    assert done["amount"] == 2 * PRICE and done["balance"] == 2 * PRICE
    assert done["reference"] == "invoice 17" and done["service_id"] == tenant.service_id

    def call_goes_through() -> Any:
        r = api.http.post("/v1/calls", json={"phone": random_phone()}, headers=bearer(tenant.key))
        return r.json() if r.status_code == 201 else None

    call = wait_for(call_goes_through, timeout=1.0, what="the top-up to lift the cut-off")
    api.wait_status(tenant.key, call["id"], {"delivered"})
    entries = wait_for(lambda: len(ledger(api, tenant)) == 2 and ledger(api, tenant))
    assert [(e["type"], e["amount"], e["balance_after"]) for e in entries] == [
        ("debit", PRICE, PRICE),
        ("topup", 2 * PRICE, 2 * PRICE),
    ]
    assert entries[1]["reference"] == "invoice 17" and entries[1]["call_id"] is None


def test_top_up_idempotency(api: Api, tenant: Tenant) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.top_up(tenant.service_id, 5000, "wire 1", **key)
    assert api.top_up(tenant.service_id, 5000, "wire 1", **key) == first
    assert_problem(
        api.http.post(
            f"/v1/services/{tenant.service_id}/topups",
            json={"amount": 6000, "reference": "wire 1"},
            headers={**api.admin, **key},
        ),
        422,
        "invalid_request",
    )
    wait_for(lambda: service(api, tenant)["balance"] == 5000, what="the balance")
    assert [e["type"] for e in ledger(api, tenant)] == ["topup"]


def test_only_the_operator_tops_up_and_sets_prices(api: Api, tenant: Tenant) -> None:
    path = f"/v1/services/{tenant.service_id}/topups"
    body = {"amount": 100, "reference": "mine"}
    assert_problem(api.http.post(path, json=body, headers=bearer(tenant.token)), 403, "forbidden")
    assert_problem(api.http.post(path, json=body, headers=bearer(tenant.key)), 401, "unauthorized")
    assert_problem(
        api.http.patch(
            f"/v1/accounts/{tenant.account_id}",
            json={"price_per_call": 1},
            headers=bearer(tenant.token),
        ),
        403,
        "forbidden",
    )
    for bad in (
        {"amount": 0, "reference": "x"},
        {"amount": -5, "reference": "x"},
        {"amount": 1.5, "reference": "x"},
        {"amount": 100},
    ):
        assert_problem(api.http.post(path, json=bad, headers=api.admin), 422, "invalid_request")
    assert_problem(
        api.http.post(f"/v1/services/{uuid.uuid4()}/topups", json=body, headers=api.admin),
        404,
        "not_found",
    )
    assert ledger(api, tenant) == []


def test_the_price_is_the_one_when_the_call_was_requested(api: Api) -> None:
    account = api.new_account(price_per_call=250)
    svc = api.new_service(account["token"])
    key = api.new_key(account["token"], svc["id"])["key"]
    call = api.place(key, random_phone())
    api.ok(
        api.http.patch(
            f"/v1/accounts/{account['id']}", json={"price_per_call": 900}, headers=api.admin
        )
    )
    api.wait_status(key, call["id"], {"delivered"})  # the read model may lag the 201
    charged = wait_for(lambda: (c := api.call(key, call["id"]))["cost"] and c)
    assert charged["cost"] == 250


def test_low_balance_shows_at_eighty_percent_and_is_announced_once(
    api: Api, platform: Platform, tenant: Tenant
) -> None:
    set_limit(api, tenant, 5 * PRICE)
    for i in range(5):
        call = api.place(tenant.key, random_phone())
        api.wait_status(tenant.key, call["id"], {"delivered"})
        wait_for(lambda n=i: len(ledger(api, tenant)) == n + 1, what="the debit")
        assert service(api, tenant)["low_balance"] is (i >= 3)
    lows = [
        decode(value)
        for topic, _, _, _, value, _ in read_everything(platform.bootstrap)
        if topic == topics.NOTICES.name
    ]
    lows = [e for e in lows if e["event_type"] == "CreditLow"]
    assert [str(e["service_id"]) for e in lows].count(tenant.service_id) == 1
