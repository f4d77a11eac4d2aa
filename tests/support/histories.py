"""Histories tests write so that every read model has rows: an account cut off by its total
limit and restored; a number range blocked as pumped, its block lifted, the range allowed."""

from __future__ import annotations

from tests.support.client import Api, bearer
from tests.support.waiting import wait_for


def cut_off_and_restore_an_account(api: Api) -> None:
    account = api.new_account(total_credit_limit=0)  # no room for one call: cut off at once
    wait_for(
        lambda: (
            api.ok(api.http.get("/v1/balance", headers=bearer(account["token"])))["status"]
            == "cut_off"
        ),
        what="the account to be cut off",
    )
    api.ok(
        api.http.patch(
            f"/v1/accounts/{account['id']}", json={"total_credit_limit": 1000}, headers=api.admin
        )
    )


def pump_lift_and_allow(api: Api, prefix: str) -> None:
    """`prefix`: a +98 912 range of 1,000 numbers (+98 and 7 digits), e.g. +989125553."""
    tenant = api.tenant()
    for i in range(31):  # FLASHCALL_FRAUD_MIN_UNVERIFIED's default is 30
        api.place(tenant.key, f"{prefix}{i:03d}")
    fraud = f"/v1/services/{tenant.service_id}/fraud"
    wait_for(lambda: api.ok(api.http.get(f"{fraud}/blocks", headers=api.admin)), what="a block")
    api.ok(api.http.delete(f"{fraud}/blocks/{prefix}", headers=api.admin), 204)
    api.ok(api.http.post(f"{fraud}/allowlist", json={"prefix": prefix}, headers=api.admin), 201)
