"""The account-wide credit limit over HTTP: the sum of an account's service balances never goes
below -total_credit_limit, whichever services and decisions workers its calls go through, and
whatever kills, replays and top-ups happen meanwhile."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from launch.platform import Platform
from tests.support.client import Api, assert_problem, bearer, random_phone
from tests.support.read_models import rows, settled
from tests.support.topics_replay import reappend_everything
from tests.support.waiting import wait_for
from tests.support.webhooks import Receiver

PRICE = 1000  # FLASHCALL_PRICE_PER_CALL's default
DEFAULT_TOTAL_LIMIT = 5_000_000  # FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT's default


@dataclass
class Account:
    id: str
    token: str
    services: list[str]
    keys: list[str]  # one key per service, in the same order


def open_account(api: Api, services: int, **body: Any) -> Account:
    account = api.new_account(**body)
    ids, keys = [], []
    for i in range(services):
        service = api.new_service(account["token"], name=f"login {i}")
        ids.append(service["id"])
        keys.append(api.new_key(account["token"], service["id"])["key"])
    return Account(account["id"], account["token"], ids, keys)


def balance(api: Api, account: Account) -> dict[str, Any]:
    return api.ok(api.http.get("/v1/balance", headers=bearer(account.token)))  # type: ignore[no-any-return]


def burst(api: Api, keys: list[str], count: int) -> list[tuple[str, httpx.Response]]:
    """`count` calls at once, spread over the keys in turn: (key, response) each."""

    async def send() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/calls",
                        json={"phone": random_phone()},
                        headers=bearer(keys[i % len(keys)]),
                    )
                    for i in range(count)
                )
            )

    return [(keys[i % len(keys)], r) for i, r in enumerate(asyncio.run(send()))]


def decisions_state(database_url: str, account: Account) -> dict[str, Any]:
    """The decisions processor's rows for the account, its services and their calls."""
    with psycopg.connect(database_url) as conn:
        [[total_balance, total_reserved]] = conn.execute(
            "SELECT sum(balance), sum(reserved) FROM proc_services WHERE account_id = %s",
            (account.id,),
        ).fetchall()
        mine = {str(r["id"]) for r in rows(conn, "proc_services")} & set(account.services)
        return {
            "account": [r for r in rows(conn, "proc_accounts") if str(r["id"]) == account.id],
            "sums": (total_balance, total_reserved),
            "services": [r for r in rows(conn, "proc_services") if str(r["id"]) in mine],
            "calls": [r for r in rows(conn, "proc_calls") if str(r["service_id"]) in mine],
            "ledger": [r for r in rows(conn, "ledger") if str(r["service_id"]) in mine],
        }


@pytest.fixture
def second_decider(platform: Platform) -> Iterator[Any]:
    """A second decisions worker in the group, so that the account's services are decided by
    two processes at once; stopped afterwards whatever happened to it."""
    proc = platform.start_worker("decider-2", "decisions")
    yield proc
    for running in platform.running("decider-2"):
        platform.stop(running)


def test_sixty_calls_over_five_services_with_room_for_seven_admit_seven(
    api: Api, platform: Platform, database_url: str, second_decider: Any
) -> None:
    account = open_account(api, 5, total_credit_limit=7 * PRICE)
    receiver = Receiver()
    try:
        # Scoped to one service: an account's cut-off stops that service too.
        api.ok(
            api.http.post(
                "/v1/webhooks",
                json={
                    "url": receiver.url,
                    "events": ["account.cut_off", "account.restored", "account.credit_low"],
                    "service_id": account.services[0],
                },
                headers=bearer(account.token),
            ),
            201,
        )
        sent = burst(api, account.keys, 30)
        platform.stop(second_decider, signal.SIGKILL)  # with its share of the account's calls
        sent += burst(api, account.keys, 30)
        platform.start_worker("decider-2", "decisions")

        accepted = [(key, r.json()["id"]) for key, r in sent if r.status_code == 201]
        for _, refused in (s for s in sent if s[1].status_code != 201):
            assert_problem(refused, 402, "credit_limit_reached")
        finals = [
            api.wait_status(key, cid, {"delivered", "rejected"}, timeout=30)
            for key, cid in accepted
        ]
        assert sum(f["status"] == "delivered" for f in finals) == 7
        for rejected in (f for f in finals if f["status"] == "rejected"):
            assert rejected["failure_reason"] == "credit_limit_reached" and rejected["cost"] == 0
            assert api.handset(rejected["phone"]) == []  # never dialled

        shown = wait_for(
            lambda: (
                (b := balance(api, account))["total"] == -7 * PRICE
                and b["status"] == "cut_off"
                and b
            ),
            what="the account's total and its cut-off",
        )
        assert shown["total_credit_limit"] == 7 * PRICE and shown["low_balance"]
        assert {s["status"] for s in shown["services"]} == {"active"}  # each within its own
        assert sum(s["balance"] for s in shown["services"]) == -7 * PRICE
        state = decisions_state(database_url, account)
        [row] = state["account"]
        assert (row["balance"], row["reserved"]) == state["sums"] == (-7 * PRICE, 0)
        assert len(state["ledger"]) == 7

        refused = api.http.post(
            "/v1/calls", json={"phone": random_phone()}, headers=bearer(account.keys[4])
        )
        body = assert_problem(refused, 402, "credit_limit_reached")
        assert body["limit"] == "account" and "account" in body["detail"]
        wait_for(
            lambda: receiver.of("account.cut_off") and receiver.of("account.credit_low"),
            what="the account's webhooks",
        )
        _, cut = receiver.of("account.cut_off")[0]
        # Cut off once the last call's reservation filled the room, before its debit.
        assert cut["data"]["account_id"] == account.id
        assert cut["data"]["total_credit_limit"] == 7 * PRICE
        assert -7 * PRICE <= cut["data"]["balance"] <= 0

        # A replay of everything the decisions read about this account changes nothing.
        mine = {account.id.encode(), *(s.encode() for s in account.services)}
        ends = reappend_everything(platform.bootstrap, lambda _, key: key in mine)
        wait_for(lambda: settled(database_url, ends), timeout=60, what="the replay to be read")
        assert decisions_state(database_url, account) == state

        # A top-up of any one service that brings the total back restores all of them.
        api.top_up(account.services[0], 3 * PRICE, "invoice")
        call = wait_for(
            lambda: (
                (
                    r := api.http.post(
                        "/v1/calls", json={"phone": random_phone()}, headers=bearer(account.keys[3])
                    )
                ).status_code
                == 201
                and r.json()
            ),
            what="the top-up to lift the account's cut-off",
        )
        assert api.wait_status(account.keys[3], call["id"], {"delivered"})
        assert wait_for(lambda: receiver.of("account.restored"), what="account.restored")
        assert balance(api, account)["status"] == "active"
    finally:
        receiver.close()


def test_the_operator_sets_the_total_limit_and_the_402_says_which_limit(api: Api) -> None:
    account = open_account(api, 2)
    shown = api.ok(api.http.get(f"/v1/accounts/{account.id}", headers=api.admin))
    assert shown["total_credit_limit"] == DEFAULT_TOTAL_LIMIT
    assert balance(api, account)["total_credit_limit"] == DEFAULT_TOTAL_LIMIT
    for bad in (-1, "lots", 1.5):
        refused = api.http.patch(
            f"/v1/accounts/{account.id}", json={"total_credit_limit": bad}, headers=api.admin
        )
        assert_problem(refused, 422, "invalid_request")
    not_operator = api.http.patch(
        f"/v1/accounts/{account.id}", json={"total_credit_limit": 0}, headers=bearer(account.token)
    )
    assert not_operator.status_code == 403

    patched = api.ok(
        api.http.patch(
            f"/v1/accounts/{account.id}", json={"total_credit_limit": 0}, headers=api.admin
        )
    )
    assert patched["total_credit_limit"] == 0

    def refused_for(key: str) -> dict[str, Any] | None:
        r = api.http.post("/v1/calls", json={"phone": random_phone()}, headers=bearer(key))
        return r.json() if r.status_code == 402 else None

    for key in account.keys:  # a zero total limit: no room for one call
        body = wait_for(lambda k=key: refused_for(k), what="the account to be cut off")
        assert body["code"] == "credit_limit_reached" and body["limit"] == "account"
    assert balance(api, account)["status"] == "cut_off"
    # Calls decided before the new limit applied are charged (a few dozen at most, some still
    # being dialled): room above what is owed now restores the account.
    owed = -balance(api, account)["total"]
    api.ok(
        api.http.patch(
            f"/v1/accounts/{account.id}",
            json={"total_credit_limit": owed + 100 * PRICE},
            headers=api.admin,
        )
    )
    wait_for(
        lambda: (
            api.http.post(
                "/v1/calls", json={"phone": random_phone()}, headers=bearer(account.keys[1])
            ).status_code
            == 201
        ),
        what="a raised total limit to restore the account",
    )
    # The service's own limit, reached first, is named as such.
    api.ok(
        api.http.patch(
            f"/v1/services/{account.services[0]}", json={"credit_limit": 0}, headers=api.admin
        )
    )
    body = wait_for(lambda: refused_for(account.keys[0]), what="the service to be cut off")
    assert body["limit"] == "service" and "service" in body["detail"]
