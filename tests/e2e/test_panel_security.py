"""The panel's sign-in machinery over plain HTTP: CSRF, cookie flags, argon2id, attempt limits,
sign-out, closed sign-up, no open redirect, a sign-up stored while the read model is behind;
and the account token's rotation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from launch.platform import Platform
from launch.ports import free_port
from tests.e2e.conftest import projection_held
from tests.support.client import Api, bearer
from tests.support.panel_browser import PASSWORD, Browser
from tests.support.waiting import wait_for


@pytest.fixture
def browser(platform: Platform) -> Iterator[Browser]:
    client = Browser(platform.url)
    yield client
    client.close()


def new_email() -> str:
    return f"{uuid.uuid4().hex[:12]}@example.com"


def test_a_form_without_the_csrf_token_changes_nothing(browser: Browser) -> None:
    email = new_email()
    browser.csrf("/panel/sign-up")  # has the CSRF cookie, but does not send the token
    for token in (None, "forged"):
        data = {"name": "Acme", "email": email, "password": PASSWORD}
        if token:
            data["csrf"] = token
        assert browser.request("POST", "/panel/sign-up", data=data).status_code == 403
    assert browser.sign_in(email).status_code == 401  # no account was made


def test_session_cookie_flags_and_argon2id(browser: Browser, database_url: str) -> None:
    email = new_email()
    response = browser.sign_up(email)
    assert response.status_code == 200
    session = next(c for c in response.headers.get_list("set-cookie") if "fc_session=" in c)
    flags = {part.strip().lower() for part in session.split(";")}
    assert {"httponly", "secure", "samesite=strict", "path=/panel"} <= flags
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT password_hash FROM panel_users WHERE email = %s", (email,)
        ).fetchone()
    assert row is not None and row[0].startswith("$argon2id$") and PASSWORD not in row[0]
    assert browser.request("GET", "/panel/services").status_code == 200


def test_sign_out_ends_the_session(browser: Browser) -> None:
    browser.sign_up(new_email())
    stolen = dict(browser.cookies)
    csrf = browser.csrf("/panel/services")
    assert browser.request("POST", "/panel/sign-out", data={"csrf": csrf}).status_code == 303
    browser.cookies = stolen  # the old cookie, replayed
    answer = browser.request("GET", "/panel/services")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/panel/sign-in")


def test_sign_in_attempts_are_limited(browser: Browser) -> None:
    email = new_email()
    browser.sign_up(email)
    for _ in range(12):  # successful sign-ins are not held against anyone
        assert browser.sign_in(email).status_code == 303
    outsider = Browser(str(browser.http.base_url))
    try:
        statuses = [outsider.sign_in(email, "wrong password!").status_code for _ in range(10)]
        assert statuses == [401] * 10
        # Spent: even the right password waits now.
        refused = outsider.sign_in(email)
        assert refused.status_code == 429
    finally:
        outsider.close()


def test_next_never_leaves_the_panel(browser: Browser) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/v1/balance"):
        answer = browser.request("GET", "/panel/lang", params={"to": "en", "next": target})
        assert answer.status_code == 303 and answer.headers["location"] == "/panel/services"


def test_the_operator_can_close_sign_up(platform: Platform) -> None:
    port = free_port()
    proc = platform.start_api("api-closed", port, FLASHCALL_PANEL_SIGNUP="false")
    closed = Browser(f"http://127.0.0.1:{port}")
    try:
        email = new_email()
        assert closed.sign_up(email).status_code == 403
        assert closed.sign_in(email).status_code == 401
    finally:
        closed.close()
        platform.stop(proc)


def test_a_rotated_account_token_replaces_the_old_one_everywhere(api: Api, second_api: Api) -> None:
    account = api.new_account()
    old = bearer(account["token"])
    wait_for(
        lambda: second_api.http.get("/v1/balance", headers=old).status_code == 200,
        what="the second instance to know the account",
    )
    rotated = api.ok(api.http.post("/v1/account/token", headers=old), 201)
    new = bearer(rotated["token"])
    assert rotated["token"] != account["token"]
    assert api.http.get("/v1/balance", headers=old).status_code == 401
    assert api.http.get("/v1/balance", headers=new).status_code == 200
    wait_for(
        lambda: (
            second_api.http.get("/v1/balance", headers=old).status_code == 401
            and second_api.http.get("/v1/balance", headers=new).status_code == 200
        ),
        timeout=1.0,
        what="the rotation to reach the second instance",
    )
    # An access key cannot rotate the account's token.
    assert api.http.post("/v1/account/token", headers=bearer("fck_nope")).status_code == 401


def test_a_double_submitted_form_acts_once(browser: Browser, api: Api) -> None:
    signed_up = browser.sign_up(new_email()).text
    token = re.search(r'id="new-token" dir="ltr">([^<]+)<', signed_up)
    assert token is not None
    page = browser.request("GET", "/panel/services").text
    once = re.search(r'name="once" value="([^"]+)"', page)
    assert once is not None
    form = {
        "csrf": browser.csrf("/panel/services"),
        "once": once.group(1),
        "name": "login",
        "code_length": "5",
        "code_ttl_minutes": "2",
    }
    first = browser.request("POST", "/panel/services", data=form)
    second = browser.request("POST", "/panel/services", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    services = api.ok(api.http.get("/v1/services", headers=bearer(token.group(1))))
    assert len(services["items"]) == 1


def test_a_sign_up_answered_503_after_it_was_stored_keeps_its_email(
    impatient_api: Api, database_url: str
) -> None:
    """The account's event was stored, then the read model was late: the email stays the
    account's, so signing up again is refused as taken, not a second account opened, and
    signing in reaches the account."""
    email = new_email()
    browser = Browser(str(impatient_api.http.base_url))
    try:
        with projection_held(database_url, "accounts"):
            first = browser.sign_up(email)
            assert first.status_code == 503, first.text

        def account() -> str | None:
            with psycopg.connect(database_url) as conn:
                row = conn.execute(
                    "SELECT a.id::text FROM panel_users u JOIN accounts a ON a.id = u.account_id"
                    " WHERE u.email = %s",
                    (email,),
                ).fetchone()
            return row[0] if row else None

        wait_for(account, what="the account projected, its email still its own")
        browser.cookies.clear()
        assert browser.sign_up(email).status_code == 409
        assert browser.sign_in(email).status_code == 303
        page = browser.request("GET", "/panel/account")
        assert page.status_code == 200, page.text
    finally:
        browser.close()
