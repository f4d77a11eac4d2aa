"""The Kannel SMS carrier against Debian's Kannel (bearerbox and smsbox) with the fake SMSC of
kannel-extras as the network: a Persian SMS arrives intact as UCS-2 in the right number of
parts, its delivery report comes back and is charged once, and a gateway restart mid-send
loses and repeats nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from launch.kannel import Gateway, gateway
from launch.platform import Platform
from tests.support.client import Api, Tenant, bearer, random_phone
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

SMS_PRICE = 1500  # FLASHCALL_DEFAULT_PRICE_PER_SMS's default
CPS = 20


@pytest.fixture
def kannel(platform: Platform, tmp_path: Path) -> Iterator[Gateway]:
    """The platform's workers, with the dialer sending SMS through Kannel."""
    with gateway(tmp_path) as gw:
        for proc in platform.running("worker"):
            platform.stop(proc)
        worker = platform.start_worker(
            "worker-kannel",
            FLASHCALL_KANNEL_CPS=str(CPS),
            FLASHCALL_KANNEL_DLR_TIMEOUT_SECONDS="60",
            FLASHCALL_DIAL_ABANDON_SECONDS="180",
            **gw.env(),
        )
        try:
            yield gw
        finally:
            platform.stop(worker)
            platform.start_worker()


def sms_tenant(api: Api, template: str | None = None) -> Tenant:
    body: dict[str, Any] = {"workflow": [{"channel": "sms", "timeout_seconds": 60}]}
    if template is not None:
        body["sms_template"] = template
    return api.tenant(**body)


def total(api: Api, tenant: Tenant) -> int:
    return int(api.ok(api.http.get("/v1/balance", headers=bearer(tenant.token)))["total"])


def delivered_cost(api: Api, tenant: Tenant, call_id: str) -> int:
    call = api.wait_status(tenant.key, call_id, {"delivered"}, timeout=60)
    assert [(s["channel"], s["status"]) for s in call["steps"]] == [("sms", "delivered")]
    return int(call["cost"])


def test_a_persian_sms_arrives_intact_and_its_report_is_charged_once(
    api: Api, kannel: Gateway
) -> None:
    tenant = sms_tenant(api)
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert delivered_cost(api, tenant, call["id"]) == SMS_PRICE
    [part] = wait_for(
        lambda: [m for m in kannel.messages() if m.receiver == phone] or None,
        what="the SMS at the fake SMSC",
    )
    assert part.sender == "FlashCall" and part.udh == b""
    assert part.text.startswith("کد تأیید شما: ") and len(part.text) == len("کد تأیید شما: ") + 5
    code = part.text.removeprefix("کد تأیید شما: ")
    assert api.verify(tenant.key, call["id"], code)["verified"] is True
    assert wait_for(lambda: total(api, tenant) == -SMS_PRICE or None, what="the SMS charged")


def test_a_long_persian_text_is_sent_in_as_many_parts_as_ucs2_takes(
    api: Api, kannel: Gateway
) -> None:
    """100 UCS-2 characters take two parts of at most 67 (70 alone)."""
    template = "ک" * 94 + "{code}"
    tenant = sms_tenant(api, template)
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert delivered_cost(api, tenant, call["id"]) == SMS_PRICE  # one SMS, however many parts
    parts = wait_for(
        lambda: (
            found
            if len(found := [m for m in kannel.messages() if m.receiver == phone]) >= 2
            else None
        ),
        what="both parts",
    )
    assert len(parts) == 2 and all(p.udh[:3] == b"\x05\x00\x03" for p in parts)
    text = "".join(p.text for p in sorted(parts, key=lambda p: p.udh[-1]))
    assert text[:94] == "ک" * 94 and len(text) == 99
    assert api.verify(tenant.key, call["id"], text[94:])["verified"] is True


def test_a_gateway_restart_mid_send_loses_and_repeats_nothing(api: Api, kannel: Gateway) -> None:
    """Kannel goes away while a burst is sent and comes back: every SMS reaches the SMSC once,
    and each is charged once."""
    tenant = sms_tenant(api)
    phones = [random_phone() for _ in range(30)]
    calls = [api.place(tenant.key, phone) for phone in phones[:10]]
    # The gateway restarts (not the network: the fake SMSC reports a message delivered as it
    # writes it to its client, so stopping that client first loses messages it never read;
    # it leaves by itself when bearerbox closes its connection).
    kannel.stop("smsbox")
    kannel.stop("bearerbox")
    kannel.stop("fakesmsc")
    calls += [api.place(tenant.key, phone) for phone in phones[10:]]  # accepted meanwhile
    for name in ("bearerbox", "smsbox", "fakesmsc"):
        kannel.start(name)
    for call in calls:
        assert delivered_cost(api, tenant, call["id"]) == SMS_PRICE
    received = [m.receiver for m in kannel.messages() if m.receiver in set(phones)]
    assert sorted(received) == sorted(phones)  # each once: none lost, none repeated
    charged = -SMS_PRICE * len(phones)  # the ledger trails the calls by a hop
    assert wait_for(lambda: total(api, tenant) == charged or None, what="every SMS charged")
    assert total(api, tenant) == charged
