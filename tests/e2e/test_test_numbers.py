"""Test numbers: managed per service (at most 20), their calls ring no one, cost nothing, count
in no limit and verify with the fixed code only; a replica honours one added through another
at once."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for


def add(api: Api, tenant: Tenant, phone: str, code: str) -> httpx.Response:
    return api.http.post(
        f"/v1/services/{tenant.service_id}/test-numbers",
        json={"phone": phone, "code": code},
        headers=bearer(tenant.token),
    )


def listed(api: Api, tenant: Tenant, **params: Any) -> dict[str, Any]:
    return api.ok(  # type: ignore[no-any-return]
        api.http.get(
            f"/v1/services/{tenant.service_id}/test-numbers",
            params=params,
            headers=bearer(tenant.token),
        )
    )


def test_a_test_number_is_added_listed_changed_and_removed(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    national = "0" + phone.removeprefix("+98")
    first = add(api, tenant, national, "13579")
    assert first.status_code == 201, first.text
    assert first.json()["phone"] == phone and first.json()["code"] == "13579"
    assert [(n["phone"], n["code"]) for n in listed(api, tenant)["items"]] == [(phone, "13579")]
    assert add(api, tenant, phone, "24680").status_code == 201  # added again: a new code
    assert [n["code"] for n in listed(api, tenant)["items"]] == ["24680"]
    for bad in ("1234", "123456", "12a45"):  # the service's codes have 5 digits
        assert_problem(add(api, tenant, random_phone(), bad), 422, "invalid_request")
    assert_problem(add(api, tenant, "12", "12345"), 400, "invalid_phone")
    stranger = api.tenant()
    other = api.http.post(
        f"/v1/services/{tenant.service_id}/test-numbers",
        json={"phone": random_phone(), "code": "12345"},
        headers=bearer(stranger.token),
    )
    assert_problem(other, 404, "not_found")
    gone = api.http.delete(
        f"/v1/services/{tenant.service_id}/test-numbers/{phone}", headers=bearer(tenant.token)
    )
    assert gone.status_code == 204
    assert listed(api, tenant)["items"] == []
    again = api.http.delete(
        f"/v1/services/{tenant.service_id}/test-numbers/{phone}", headers=bearer(tenant.token)
    )
    assert_problem(again, 404, "not_found")


def test_a_service_has_at_most_twenty_test_numbers(api: Api, tenant: Tenant) -> None:
    phones = [random_phone() for _ in range(21)]
    for phone in phones[:20]:
        assert add(api, tenant, phone, "11111").status_code == 201
    assert_problem(add(api, tenant, phones[20], "11111"), 409, "test_number_limit_reached")
    assert add(api, tenant, phones[0], "22222").status_code == 201  # a known one: changed
    page = listed(api, tenant, limit=15)
    rest = listed(api, tenant, limit=15, cursor=page["next_cursor"])
    assert len(page["items"]) == 15 and len(rest["items"]) == 5 and rest["next_cursor"] is None
    assert {n["phone"] for n in page["items"] + rest["items"]} == set(phones[:20])


def test_a_call_to_a_test_number_rings_no_one_costs_nothing_and_verifies_with_its_code(
    api: Api, tenant: Tenant, second_api: Api
) -> None:
    phone = random_phone()
    assert add(api, tenant, phone, "97531").status_code == 201
    # At once through another replica; more calls than the phone's hourly limit (5).
    calls = [second_api.place(tenant.key, phone) for _ in range(7)]
    assert all(c["test"] is True and c["caller_prefix"] for c in calls)
    for call in calls:
        delivered = api.wait_status(tenant.key, call["id"], {"delivered"})
        assert delivered["cost"] == 0 and delivered["expires_at"]
    assert api.handset(phone) == []  # nobody was rung
    call = calls[-1]
    wrong = api.verify(tenant.key, call["id"], "13579")
    assert wrong["verified"] is False and wrong["reason"] == "invalid_code"
    assert api.verify(tenant.key, call["id"], "97531")["verified"] is True
    balance = api.ok(api.http.get("/v1/balance", headers=bearer(tenant.token)))
    assert balance["total"] == 0, balance

    def reported() -> list[dict[str, Any]] | None:
        rows = api.ok(
            api.http.get("/v1/reports/calls", params={"phone": phone}, headers=bearer(tenant.token))
        )["items"]
        return rows if len(rows) == 7 else None

    rows = wait_for(reported, timeout=20, what="the test calls in the report")
    assert {(r["test"], r["cost"]) for r in rows} == {(True, 0)}
    # Removed, the number is a real one again: its next call rings it (the seven test calls
    # took none of the phone's five an hour).
    gone = second_api.http.delete(
        f"/v1/services/{tenant.service_id}/test-numbers/{phone}", headers=bearer(tenant.token)
    )
    assert gone.status_code == 204
    real = api.place(tenant.key, phone)
    assert real["test"] is False
    api.wait_status(tenant.key, real["id"], {"delivered"})
    assert len(api.handset(phone)) == 1
