"""Operator and account endpoints: accounts, services, access keys."""

from __future__ import annotations

import uuid

from tests.support.client import Api, Tenant, assert_problem, bearer


def test_operator_creates_reads_and_updates_an_account(api: Api) -> None:
    created = api.new_account(name="Shop", price_per_call=700)
    assert created["token"].startswith("fca_")
    assert created["price_per_call"] == 700 and created["credit_limit"] == 1_000_000
    got = api.ok(api.http.get(f"/v1/accounts/{created['id']}", headers=api.admin))
    assert "token" not in got and got["name"] == "Shop"
    patched = api.ok(
        api.http.patch(
            f"/v1/accounts/{created['id']}",
            json={"name": "Shop 2", "credit_limit": 5},
            headers=api.admin,
        )
    )
    assert patched["name"] == "Shop 2" and patched["credit_limit"] == 5
    assert patched["price_per_call"] == 700


def test_account_endpoints_refuse_bad_tokens_and_unknown_ids(api: Api, tenant: Tenant) -> None:
    assert_problem(api.http.post("/v1/accounts", json={"name": "x"}), 401, "unauthorized")
    assert_problem(
        api.http.post("/v1/accounts", json={"name": "x"}, headers=bearer(tenant.token)),
        403,
        "forbidden",
    )
    assert_problem(
        api.http.post("/v1/accounts", json={"name": "x"}, headers=bearer("fca_unknown")),
        401,
        "unauthorized",
    )
    assert_problem(
        api.http.get(f"/v1/accounts/{uuid.uuid4()}", headers=api.admin), 404, "not_found"
    )
    assert_problem(
        api.http.post("/v1/accounts", json={"name": "x", "colour": "red"}, headers=api.admin),
        422,
        "invalid_request",
    )
    assert_problem(
        api.http.post("/v1/accounts", json={"name": "x", "price_per_call": "5"}, headers=api.admin),
        422,
        "invalid_request",
    )


def test_idempotency_key_replays_the_first_account(api: Api) -> None:
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    first = api.ok(api.http.post("/v1/accounts", json={"name": "Once"}, headers=headers), 201)
    again = api.ok(api.http.post("/v1/accounts", json={"name": "Once"}, headers=headers), 201)
    assert again == first
    assert_problem(
        api.http.post("/v1/accounts", json={"name": "Other"}, headers=headers),
        422,
        "invalid_request",
    )


def test_services_are_created_listed_read_and_updated(api: Api) -> None:
    token = api.new_account()["token"]
    svc = api.new_service(token, name="signup", code_length=6, code_ttl_minutes=2, return_code=True)
    assert svc["status"] == "active" and svc["balance"] == 0
    assert svc["credit_limit"] == 1_000_000 and svc["return_code"] is True
    other = api.new_service(token, name="reset")
    listed = api.ok(api.http.get("/v1/services", headers=bearer(token)))
    assert [s["id"] for s in listed["items"]] == [other["id"], svc["id"]]
    page = api.ok(api.http.get("/v1/services?limit=1", headers=bearer(token)))
    assert [s["id"] for s in page["items"]] == [other["id"]] and page["next_cursor"]
    rest = api.ok(
        api.http.get(f"/v1/services?limit=1&cursor={page['next_cursor']}", headers=bearer(token))
    )
    assert [s["id"] for s in rest["items"]] == [svc["id"]] and rest["next_cursor"] is None
    patched = api.ok(
        api.http.patch(
            f"/v1/services/{svc['id']}",
            json={"code_length": 4, "status": "disabled"},
            headers=bearer(token),
        )
    )
    assert patched["code_length"] == 4 and patched["status"] == "disabled"
    assert api.ok(api.http.get(f"/v1/services/{svc['id']}", headers=bearer(token))) == patched


def test_service_input_is_validated(api: Api) -> None:
    token = api.new_account()["token"]
    for body in (
        {"name": "x", "code_length": 3, "code_ttl_minutes": 5},
        {"name": "x", "code_length": 9, "code_ttl_minutes": 5},
        {"name": "x", "code_length": 4, "code_ttl_minutes": 0},
        {"name": "x", "code_length": 4, "code_ttl_minutes": 61},
        {"name": "", "code_length": 4, "code_ttl_minutes": 5},
        {"name": "x", "code_length": 4, "code_ttl_minutes": 5, "extra": 1},
    ):
        assert_problem(
            api.http.post("/v1/services", json=body, headers=bearer(token)), 422, "invalid_request"
        )
    assert api.ok(api.http.get("/v1/services", headers=bearer(token)))["items"] == []


def test_only_the_operator_sets_a_service_credit_limit(api: Api, tenant: Tenant) -> None:
    path = f"/v1/services/{tenant.service_id}"
    assert_problem(
        api.http.patch(path, json={"credit_limit": 1}, headers=bearer(tenant.token)),
        403,
        "forbidden",
    )
    assert (
        api.ok(api.http.patch(path, json={"credit_limit": 1}, headers=api.admin))["credit_limit"]
        == 1
    )


def test_a_foreign_account_gets_404_for_everything(api: Api, tenant: Tenant) -> None:
    stranger = bearer(api.new_account()["token"])
    sid = tenant.service_id
    for method, path, body in (
        ("GET", f"/v1/services/{sid}", None),
        ("PATCH", f"/v1/services/{sid}", {"name": "mine"}),
        ("GET", f"/v1/services/{sid}/keys", None),
        ("POST", f"/v1/services/{sid}/keys", {"label": "mine"}),
        ("DELETE", f"/v1/services/{sid}/keys/{tenant.key_id}", None),
    ):
        response = api.http.request(method, path, json=body, headers=stranger)
        assert_problem(response, 404, "not_found")
    call = api.place(tenant.key, "+989121234567")
    assert_problem(api.http.get(f"/v1/calls/{call['id']}", headers=stranger), 404, "not_found")


def test_keys_are_listed_without_secret_and_revoked(api: Api, tenant: Tenant) -> None:
    second = api.new_key(tenant.token, tenant.service_id, label="mobile")
    call = api.place(tenant.key, "+989121234567")
    api.wait_status(tenant.key, call["id"], {"delivered"})
    assert second["key"].startswith(second["prefix"] + "_")
    listed = api.ok(
        api.http.get(f"/v1/services/{tenant.service_id}/keys", headers=bearer(tenant.token))
    )
    assert {k["label"] for k in listed["items"]} == {"backend", "mobile"}
    assert all("key" not in k and k["revoked_at"] is None for k in listed["items"])
    revoke = api.http.delete(
        f"/v1/services/{tenant.service_id}/keys/{second['id']}", headers=bearer(tenant.token)
    )
    assert revoke.status_code == 204
    assert_problem(
        api.http.post("/v1/calls", json={"phone": "+989121234567"}, headers=bearer(second["key"])),
        401,
        "unauthorized",
    )
    listed = api.ok(
        api.http.get(f"/v1/services/{tenant.service_id}/keys", headers=bearer(tenant.token))
    )
    keys = {k["id"]: k for k in listed["items"]}
    assert (
        keys[second["id"]]["revoked_at"] is not None and keys[tenant.key_id]["revoked_at"] is None
    )
    assert keys[tenant.key_id]["last_used_at"] == call["created_at"].replace("+00:00", "Z")
    assert keys[second["id"]]["last_used_at"] is None


def test_an_account_reads_itself_and_every_list_is_a_page(api: Api, tenant: Tenant) -> None:
    me = api.ok(api.http.get("/v1/account", headers=bearer(tenant.token)))
    assert (me["id"], me["name"]) == (tenant.account_id, "Acme")
    assert "token" not in me
    assert api.http.get("/v1/account", headers=bearer(tenant.key)).status_code == 403  # a key
    assert api.http.get("/v1/account", headers=api.admin).status_code == 401  # not an account
    for n in range(3):
        body = {"url": f"https://hooks.example/{n}", "events": ["call.delivered"]}
        api.ok(api.http.post("/v1/webhooks", json=body, headers=bearer(tenant.token)), 201)
    first = api.ok(api.http.get("/v1/webhooks?limit=2", headers=bearer(tenant.token)))
    assert [e["url"] for e in first["items"]] == [
        "https://hooks.example/2",
        "https://hooks.example/1",
    ]
    rest = api.ok(
        api.http.get(
            "/v1/webhooks",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=bearer(tenant.token),
        )
    )
    assert ([e["url"] for e in rest["items"]], rest["next_cursor"]) == (
        ["https://hooks.example/0"],
        None,
    )
    blocks = api.ok(
        api.http.get(f"/v1/services/{tenant.service_id}/fraud/blocks", headers=bearer(tenant.token))
    )
    assert blocks == {"items": [], "next_cursor": None}
