"""Bad input is refused at the edge on every write endpoint, changes nothing, and never reaches
a topic: a NUL byte in a label once stopped every consumer that applied it."""

from __future__ import annotations

import json

import pytest

from launch.platform import Platform
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.panel_browser import PASSWORD, Browser

JSON_TYPE = {"Content-Type": "application/json"}
POISON = ["x\x00y", "tab\there", "line\nbreak", "bell\x07", "\u202eevil", "lone\ud800"]


@pytest.mark.parametrize("bad", POISON)
def test_every_text_field_refuses_control_characters(api: Api, tenant: Tenant, bad: str) -> None:
    token = bearer(tenant.token)
    svc = f"/v1/services/{tenant.service_id}"
    attempts = [
        ("POST", "/v1/accounts", {"name": bad}, api.admin),
        ("PATCH", f"/v1/accounts/{tenant.account_id}", {"name": bad}, api.admin),
        ("POST", "/v1/services", {"name": bad, "code_length": 5, "code_ttl_minutes": 2}, token),
        ("PATCH", svc, {"name": bad}, token),
        ("POST", f"{svc}/keys", {"label": bad}, token),
        ("POST", f"{svc}/topups", {"amount": 5, "reference": bad}, api.admin),
    ]
    for method, path, body, headers in attempts:
        # JSON with \u escapes, as an attacker would send it (a lone surrogate included).
        content = json.dumps(body).encode()
        response = api.http.request(method, path, content=content, headers={**headers, **JSON_TYPE})
        assert_problem(response, 422, "invalid_request")
    # Nothing changed: the account, its one service, its one key, an empty ledger.
    account = api.ok(api.http.get(f"/v1/accounts/{tenant.account_id}", headers=api.admin))
    assert account["name"] == "Acme"
    services = api.ok(api.http.get("/v1/services", headers=token))["items"]
    assert [s["name"] for s in services] == ["login"]
    assert len(api.ok(api.http.get(f"{svc}/keys", headers=token))["items"]) == 1
    assert api.ok(api.http.get(f"{svc}/ledger", headers=token))["items"] == []


@pytest.mark.parametrize(
    "phone", ["0912ABC4567", "+1-800-FLOWERS", "09121234567\x00", "0912\n1234567", "x" * 100]
)
def test_phones_take_digits_spaces_and_punctuation_only(
    api: Api, tenant: Tenant, phone: str
) -> None:
    response = api.http.post("/v1/calls", json={"phone": phone}, headers=bearer(tenant.key))
    assert_problem(response, 400, "invalid_phone")
    seed = api.http.post("/services/call/call/", json={"destination": phone, "token": tenant.key})
    assert_problem(seed, 400, "invalid_phone")
    reports = api.http.get(
        "/v1/reports/calls", params={"phone": phone[:32]}, headers=bearer(tenant.token)
    )
    assert reports.status_code in (400, 422), reports.text
    assert api.ok(api.http.get("/v1/reports/calls", headers=bearer(tenant.token)))["items"] == []


def test_persian_digits_and_names_are_welcome(api: Api) -> None:
    account = api.new_account(name="  فروشگاه\u200cمن  ")
    assert account["name"] == "فروشگاه\u200cمن"  # trimmed, the joiner kept
    tenant = api.tenant()
    digits = "۰۹۱۲" + "".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in random_phone()[-7:])
    call = api.place(tenant.key, digits)
    assert call["phone"].startswith("+98912")


def test_verify_codes_are_ascii_digits(api: Api, tenant: Tenant) -> None:
    call = api.place(tenant.key, random_phone())
    for code in ("1\x002345", "۱۲۳۴۵", "12a45"):
        response = api.http.post(
            f"/v1/calls/{call['id']}/verify", json={"code": code}, headers=bearer(tenant.key)
        )
        assert_problem(response, 422, "invalid_request")


def test_the_panel_refuses_control_characters_without_a_server_error(
    platform: Platform, api: Api
) -> None:
    browser = Browser(platform.url)
    try:
        email = f"nul-{random_phone()[-7:]}@example.com"
        form = {"csrf": browser.csrf("/panel/sign-up"), "email": email, "password": PASSWORD}
        signed = browser.request("POST", "/panel/sign-up", data={**form, "name": "x\x00y"})
        assert signed.status_code == 422, signed.text
        form = {"csrf": browser.csrf("/panel/sign-up"), "name": "Acme", "password": PASSWORD}
        bad_email = browser.request("POST", "/panel/sign-up", data={**form, "email": "a\x00b@x.io"})
        assert bad_email.status_code == 422, bad_email.text
        form = {"csrf": browser.csrf("/panel/sign-in"), "password": PASSWORD}
        sign_in = browser.request("POST", "/panel/sign-in", data={**form, "email": "a\x00b@x.io"})
        assert sign_in.status_code == 401, sign_in.text
        assert browser.sign_up(email).status_code in (200, 303)
        form = {"csrf": browser.csrf("/panel/services"), "code_length": "5"}
        created = browser.request(
            "POST",
            "/panel/services",
            data={**form, "code_ttl_minutes": "2", "name": "login\x00"},
        )
        assert created.status_code == 422, created.text
    finally:
        browser.close()


def test_the_platform_still_serves_after_every_poison_attempt(api: Api) -> None:
    """Runs last in this module: had anything reached a topic, a worker would be dead."""
    tenant = api.tenant()
    call = api.place(tenant.key, random_phone())
    code = api.code_for(call["phone"], 5)
    assert api.verify(tenant.key, call["id"], code)["verified"] is True
