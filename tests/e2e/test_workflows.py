"""Workflows: a service's channels in order (flash call, SMS), each step started once for the
same call and code when the one before fails, times out or is skipped on request; every
delivered step charged at its channel's price, under the same limits as calls."""

from __future__ import annotations

from typing import Any

from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for

# Prices the platform runs with in tests (the defaults: FLASHCALL_PRICE_PER_CALL and
# FLASHCALL_DEFAULT_PRICE_PER_SMS).
CALL_PRICE = 1000
SMS_PRICE = 1500
DEFAULT_TEMPLATE = "کد تأیید شما: {code}"


def messages(api: Api, phone: str) -> list[dict[str, Any]]:
    body = api.ok(api.http.get(f"/v1/sim/handsets/{phone}/messages", headers=api.admin))
    return body["items"]  # type: ignore[no-any-return]


def sms_code(api: Api, phone: str, template: str = DEFAULT_TEMPLATE) -> str:
    """The code in the newest SMS the handset received (written by the service's template)."""
    items = wait_for(lambda: messages(api, phone) or None, what=f"an SMS to {phone}")
    head, _, tail = template.partition("{code}")
    text = items[0]["text"]
    assert text.startswith(head) and text.endswith(tail), text
    return str(text[len(head) : len(text) - len(tail)])


def workflow_tenant(api: Api, *steps: tuple[str, int], **service: Any) -> Tenant:
    workflow = [{"channel": c, "timeout_seconds": t} for c, t in steps]
    return api.tenant(workflow=workflow, **service)


def balance(api: Api, tenant: Tenant) -> int:
    return int(api.ok(api.http.get("/v1/balance", headers=bearer(tenant.token)))["total"])


def steps_of(call: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(s["channel"], s["status"], s["failure_reason"]) for s in call["steps"]]


def wait_steps(
    api: Api, tenant: Tenant, call_id: str, expected: list[tuple[str, str, str | None]]
) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        call = api.call(tenant.key, call_id)
        return call if steps_of(call) == expected else None

    return wait_for(probe, timeout=30, what=f"call {call_id} to show steps {expected}")


def test_a_services_workflow_and_sms_text_are_set_shown_and_checked(api: Api) -> None:
    account = api.new_account()
    plain = api.new_service(account["token"])
    assert plain["workflow"] == [{"channel": "flash_call", "timeout_seconds": 60}]
    assert plain["sms_template"] == DEFAULT_TEMPLATE
    steps = [
        {"channel": "flash_call", "timeout_seconds": 15},
        {"channel": "sms", "timeout_seconds": 900},
    ]
    made = api.new_service(account["token"], workflow=steps, sms_template="Code {code} for Acme")
    assert made["workflow"] == steps and made["sms_template"] == "Code {code} for Acme"
    changed = api.ok(
        api.http.patch(
            f"/v1/services/{made['id']}",
            json={"workflow": [{"channel": "sms", "timeout_seconds": 30}]},
            headers=bearer(account["token"]),
        )
    )
    assert changed["workflow"] == [{"channel": "sms", "timeout_seconds": 30}]
    assert changed["sms_template"] == "Code {code} for Acme"  # left as it was
    step = {"channel": "sms", "timeout_seconds": 60}
    for bad in (
        {"workflow": []},
        {"workflow": [step] * 4},
        {"workflow": [{"channel": "voice", "timeout_seconds": 60}]},
        {"workflow": [{"channel": "sms", "timeout_seconds": 14}]},
        {"workflow": [{"channel": "sms", "timeout_seconds": 901}]},
        {"workflow": [{"channel": "sms"}]},
        {"workflow": [{**step, "extra": 1}]},
        {"sms_template": "no placeholder"},
        {"sms_template": "{code}" + "x" * 195},
        {"sms_template": "bad\u0000{code}"},
    ):
        response = api.http.post(
            "/v1/services",
            json={"name": "x", "code_length": 5, "code_ttl_minutes": 5, **bad},
            headers=bearer(account["token"]),
        )
        assert_problem(response, 422, "invalid_request")
    listed = api.ok(api.http.get("/v1/services", headers=bearer(account["token"])))["items"]
    assert len(listed) == 2  # nothing refused was made


def test_a_failed_flash_call_hands_over_to_an_sms_at_once_and_only_the_sms_is_charged(
    api: Api,
) -> None:
    tenant = workflow_tenant(api, ("flash_call", 900), ("sms", 60))
    phone = random_phone("1111")  # busy for calls; a busy line still receives SMS
    call = api.place(tenant.key, phone)
    assert call["channel"] == "flash_call"
    assert steps_of(call) == [("flash_call", "started", None)]
    done = wait_steps(
        api, tenant, call["id"], [("flash_call", "failed", "busy"), ("sms", "delivered", None)]
    )
    assert done["channel"] == "sms" and done["status"] == "delivered"
    code = sms_code(api, phone)
    assert len(code) == 5
    assert api.handset(phone) == []  # the busy line never rang
    assert api.verify(tenant.key, call["id"], code)["verified"] is True
    verified = api.wait_status(tenant.key, call["id"], {"verified"})
    assert verified["cost"] == SMS_PRICE
    assert wait_for(lambda: balance(api, tenant) == -SMS_PRICE or None, what="the SMS charged")


def test_a_swallowed_flash_call_times_out_and_the_sms_carries_the_same_code(api: Api) -> None:
    """4444: the operator swallows flash calls (they ring out, nobody sees them); after the
    step's 15 s the SMS is sent with the same code. Both steps are charged."""
    tenant = workflow_tenant(
        api, ("flash_call", 15), ("sms", 60), sms_template="Acme: {code} is your code"
    )
    phone = random_phone("4444")
    call = api.place(tenant.key, phone)
    delivered = api.wait_status(tenant.key, call["id"], {"delivered"})
    assert steps_of(delivered) == [("flash_call", "delivered", None)]
    assert api.handset(phone) == [] and messages(api, phone) == []
    done = wait_steps(
        api, tenant, call["id"], [("flash_call", "delivered", None), ("sms", "delivered", None)]
    )
    started = [s["started_at"] for s in done["steps"]]
    assert started[0] < started[1]
    code = sms_code(api, phone, "Acme: {code} is your code")
    assert messages(api, phone)[0]["sender"] == "FlashCall"
    assert api.verify(tenant.key, call["id"], code)["verified"] is True
    verified = api.wait_status(tenant.key, call["id"], {"verified"})
    assert verified["cost"] == CALL_PRICE + SMS_PRICE
    assert len(messages(api, phone)) == 1  # one SMS, however often the step was looked at


def test_next_channel_starts_the_next_step_now_once_through_any_replica(
    api: Api, second_api: Api
) -> None:
    tenant = workflow_tenant(api, ("flash_call", 900), ("sms", 60))
    phone = random_phone()
    call = api.place(tenant.key, phone)
    api.wait_status(tenant.key, call["id"], {"delivered"})
    flash_code = api.code_for(phone, 5)
    asked = second_api.http.post(f"/v1/calls/{call['id']}/next-channel", headers=bearer(tenant.key))
    assert asked.status_code == 202, asked.text
    assert asked.json()["id"] == call["id"]
    wait_steps(
        api, tenant, call["id"], [("flash_call", "delivered", None), ("sms", "delivered", None)]
    )
    assert sms_code(api, phone) == flash_code  # same call, same code
    last = api.http.post(f"/v1/calls/{call['id']}/next-channel", headers=bearer(tenant.key))
    assert_problem(last, 409, "no_next_channel")
    assert api.verify(tenant.key, call["id"], flash_code)["verified"] is True
    assert len(messages(api, phone)) == 1 and len(api.handset(phone)) == 1
    single = api.tenant()  # the default workflow has one step
    other = api.place(single.key, random_phone())
    assert_problem(
        api.http.post(f"/v1/calls/{other['id']}/next-channel", headers=bearer(single.key)),
        409,
        "no_next_channel",
    )
    stranger = api.http.post(f"/v1/calls/{call['id']}/next-channel", headers=bearer(single.key))
    assert_problem(stranger, 404, "not_found")


def test_an_sms_first_workflow_is_reported_and_exported_by_channel(api: Api) -> None:
    tenant = workflow_tenant(api, ("sms", 60))
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert call["channel"] == "sms"
    api.wait_status(tenant.key, call["id"], {"delivered"})
    assert api.verify(tenant.key, call["id"], sms_code(api, phone))["verified"] is True
    assert api.handset(phone) == []

    def reported() -> dict[str, Any] | None:
        rows = api.ok(
            api.http.get("/v1/reports/calls", params={"phone": phone}, headers=bearer(tenant.token))
        )["items"]
        return rows[0] if rows and rows[0]["status"] == "verified" else None

    row = wait_for(reported, what="the verified call in the report")
    assert row["channel"] == "sms" and row["cost"] == SMS_PRICE
    assert steps_of(row) == [("sms", "delivered", None)]
    csv = api.http.get(
        "/v1/reports/calls.csv",
        params={"phone": phone, "lang": "fa"},
        headers=bearer(tenant.token),
    )
    assert csv.status_code == 200, csv.text
    lines = csv.text.lstrip("\ufeff").splitlines()
    # The channel, then the network (in Persian: «همراه اول» for a +98912… number).
    assert lines[0].split(",")[-2:] == ["کانال", "شبکه"]
    assert lines[1].split(",")[-2:] == ["پیامک", "همراه اول"]
    # The account's summary counts the verification as one by SMS (a flash-call one too).
    other = api.place(tenant.key, random_phone())  # same workflow: another SMS, not verified
    api.wait_status(tenant.key, other["id"], {"delivered"})
    summary = api.ok(
        api.http.get("/v1/reports/summary", params={"bucket": "hour"}, headers=bearer(tenant.token))
    )
    [bucket] = summary["buckets"]
    assert (bucket["requested"], bucket["verified"], bucket["cost"]) == (2, 1, 2 * SMS_PRICE)
    assert bucket["verified_by_channel"] == {"flash_call": 0, "sms": 1}


def test_an_sms_step_is_refused_past_the_credit_limit_and_the_call_fails(api: Api) -> None:
    """The service may owe 1,200: the flash call (1,000) fails and gives its reservation
    back; the SMS (1,500) would go past the limit, so it never starts and the call fails."""
    account = api.new_account(credit_limit=1200)
    service = api.new_service(
        account["token"],
        workflow=[
            {"channel": "flash_call", "timeout_seconds": 60},
            {"channel": "sms", "timeout_seconds": 60},
        ],
    )
    key = api.new_key(account["token"], service["id"])["key"]
    phone = random_phone("1111")
    call = api.place(key, phone)
    failed = api.wait_status(key, call["id"], {"failed"})
    assert steps_of(failed) == [
        ("flash_call", "failed", "busy"),
        ("sms", "failed", "credit_limit_reached"),
    ]
    assert failed["failure_reason"] == "credit_limit_reached" and failed["cost"] == 0
    assert messages(api, phone) == []
    assert balance(api, Tenant(account["id"], account["token"], service["id"], "", key)) == 0


def test_an_accounts_sms_price_is_shown_and_changed_by_the_operator(api: Api) -> None:
    tenant = workflow_tenant(api, ("sms", 60))
    mine = api.ok(api.http.get("/v1/account", headers=bearer(tenant.token)))
    assert mine["price_per_sms"] == SMS_PRICE
    changed = api.ok(
        api.http.patch(
            f"/v1/accounts/{tenant.account_id}", json={"price_per_sms": 900}, headers=api.admin
        )
    )
    assert changed["price_per_sms"] == 900
    refused = api.http.patch(
        f"/v1/accounts/{tenant.account_id}", json={"price_per_sms": -1}, headers=api.admin
    )
    assert_problem(refused, 422, "invalid_request")
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert api.verify(tenant.key, call["id"], sms_code(api, phone))["verified"] is True
    assert api.wait_status(tenant.key, call["id"], {"verified"})["cost"] == 900
