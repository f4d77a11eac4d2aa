"""Pumping detection end to end, at small scale: an attack on one number range (nobody
verifies) mixed with legitimate traffic over many ranges (80 % verified) is blocked within the
threshold of delivered calls, no legitimate call is refused, and the block is listed, lifted
and allow-listed over the API."""

from __future__ import annotations

from typing import Any

from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for

MIN_UNVERIFIED = 30  # FLASHCALL_FRAUD_MIN_UNVERIFIED's default
RANGE = "+989125551"  # the attacked prefix: +98 and the first 7 digits of 912555 1xxx


def attacked(i: int) -> str:
    return f"{RANGE}{i:03d}"


def blocks(api: Api, tenant: Tenant) -> list[dict[str, Any]]:
    path = f"/v1/services/{tenant.service_id}/fraud/blocks"
    page = api.ok(api.http.get(path, headers=bearer(tenant.token)))
    assert page["next_cursor"] is None  # the blocks in force come in one page
    return page["items"]  # type: ignore[no-any-return]


def test_an_attack_on_one_range_is_blocked_and_real_users_are_not(api: Api, tenant: Tenant) -> None:
    attack, legit = [], []
    for i in range(150):
        attack.append(api.place(tenant.key, attacked(i)))
        if i % 3 == 0:
            legit.append(api.place(tenant.key, random_phone()))  # every call is accepted
    finals = {
        c["id"]: api.wait_status(tenant.key, c["id"], {"delivered", "rejected", "failed"})
        for c in attack + legit
    }
    rung = [c for c in attack if finals[c["id"]]["status"] != "rejected"]
    assert MIN_UNVERIFIED <= len(rung) <= 50, len(rung)
    for call in attack:
        final = finals[call["id"]]
        if final["status"] == "rejected":
            assert final["failure_reason"] == "fraud_suspected" and final["cost"] == 0
            assert api.handset(call["phone"]) == []  # never dialled
    assert all(finals[c["id"]]["status"] == "delivered" for c in legit)  # no false positive
    for call in legit[: int(len(legit) * 0.8)]:
        assert api.verify(tenant.key, call["id"], api.code_for(call["phone"], 5))["verified"]

    [block] = wait_for(lambda: blocks(api, tenant), what="the block to be listed")
    assert block["prefix"] == RANGE and block["verified"] == 0
    assert block["requests"] >= MIN_UNVERIFIED
    report = api.ok(
        api.http.get(
            "/v1/reports/calls",
            params={"status": "rejected", "limit": 200},
            headers=bearer(tenant.token),
        )
    )["items"]
    assert {r["failure_reason"] for r in report} == {"fraud_suspected"}

    # Lifted by the customer: the range takes calls again, counted afresh.
    lifted = api.http.delete(
        f"/v1/services/{tenant.service_id}/fraud/blocks/{RANGE}", headers=bearer(tenant.token)
    )
    assert lifted.status_code == 204
    assert wait_for(lambda: blocks(api, tenant) == [], what="the lifting to be listed")
    again = api.place(tenant.key, attacked(900))
    assert api.wait_status(tenant.key, again["id"], {"delivered", "rejected"})["status"] == (
        "delivered"
    )
    # Allow-listed: never blocked, whatever its counts.
    api.ok(
        api.http.post(
            f"/v1/services/{tenant.service_id}/fraud/allowlist",
            json={"prefix": RANGE},
            headers=bearer(tenant.token),
        ),
        201,
    )
    more = [api.place(tenant.key, attacked(901 + i)) for i in range(MIN_UNVERIFIED + 5)]
    for call in more:
        assert api.wait_status(tenant.key, call["id"], {"delivered", "rejected"})["status"] == (
            "delivered"
        )


def test_fraud_endpoints_refuse_bad_input_and_other_accounts(api: Api, tenant: Tenant) -> None:
    path = f"/v1/services/{tenant.service_id}/fraud"
    for body in ({"prefix": "989"}, {"prefix": "+98 912"}, {}, {"prefix": "+98", "x": 1}):
        refused = api.http.post(f"{path}/allowlist", json=body, headers=bearer(tenant.token))
        assert_problem(refused, 422, "invalid_request")
    bad = api.http.delete(f"{path}/blocks/abc", headers=bearer(tenant.token))
    assert_problem(bad, 422, "invalid_request")
    stranger = api.tenant()
    assert_problem(api.http.get(f"{path}/blocks", headers=bearer(stranger.token)), 404, "not_found")
    assert api.ok(api.http.get(f"{path}/blocks", headers=api.admin)) == {
        "items": [],
        "next_cursor": None,
    }
