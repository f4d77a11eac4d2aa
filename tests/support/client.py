"""A customer's-eye client of the public API, for end-to-end tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import httpx

from core.settings import DEV_ADMIN_TOKEN
from tests.support.waiting import wait_for

FINISHED = {"verified", "expired", "failed", "rejected"}


def random_phone(ending: str | None = None) -> str:
    """A valid Iranian mobile number; `ending` fixes its last four digits (sim outcomes)."""
    while True:
        digits = f"{random.randrange(10**7):07d}"
        if ending is not None:
            digits = digits[:3] + ending
        # (0000 unreachable, 1111 busy, 2222 invalid, 3333 carrier error, 4444 never shown)
        if ending is not None or digits[-4:] not in {"0000", "1111", "2222", "3333", "4444"}:
            return "+98912" + digits


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Tenant:
    account_id: str
    token: str
    service_id: str
    key_id: str
    key: str


class Api:
    def __init__(self, base_url: str, admin_token: str = DEV_ADMIN_TOKEN) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)
        self.admin = bearer(admin_token)

    def close(self) -> None:
        self.http.close()

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.status_code, response.text)
        return response.json() if response.content else None

    def new_account(self, **body: Any) -> dict[str, Any]:
        body.setdefault("name", "Acme")
        return self.ok(self.http.post("/v1/accounts", json=body, headers=self.admin), 201)  # type: ignore[no-any-return]

    def new_service(self, token: str, **body: Any) -> dict[str, Any]:
        body = {"name": "login", "code_length": 5, "code_ttl_minutes": 60, **body}
        return self.ok(self.http.post("/v1/services", json=body, headers=bearer(token)), 201)  # type: ignore[no-any-return]

    def new_key(self, token: str, service_id: str, label: str = "backend") -> dict[str, Any]:
        return self.ok(  # type: ignore[no-any-return]
            self.http.post(
                f"/v1/services/{service_id}/keys", json={"label": label}, headers=bearer(token)
            ),
            201,
        )

    def tenant(self, **service: Any) -> Tenant:
        account = self.new_account()
        svc = self.new_service(account["token"], **service)
        key = self.new_key(account["token"], svc["id"])
        return Tenant(account["id"], account["token"], svc["id"], key["id"], key["key"])

    def top_up(self, service_id: str, amount: int, reference: str, **headers: str) -> Any:
        """An operator's top-up of the service's credit (201), and its answer."""
        return self.ok(
            self.http.post(
                f"/v1/services/{service_id}/topups",
                json={"amount": amount, "reference": reference},
                headers={**self.admin, **headers},
            ),
            201,
        )

    def place(self, key: str, phone: str, status: int = 201, **headers: str) -> Any:
        return self.ok(
            self.http.post("/v1/calls", json={"phone": phone}, headers={**bearer(key), **headers}),
            status,
        )

    def call(self, token: str, call_id: str) -> dict[str, Any]:
        return self.ok(self.http.get(f"/v1/calls/{call_id}", headers=bearer(token)))  # type: ignore[no-any-return]

    def wait_status(
        self,
        token: str,
        call_id: str,
        statuses: set[str],
        timeout: float = 20.0,
        every: float = 0.02,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            r = self.http.get(f"/v1/calls/{call_id}", headers=bearer(token))
            return r.json() if r.status_code == 200 and r.json()["status"] in statuses else None

        return wait_for(probe, timeout, f"call {call_id} to reach {statuses}", every)

    def handset(self, phone: str) -> list[dict[str, Any]]:
        body = self.ok(self.http.get(f"/v1/sim/handsets/{phone}/calls", headers=self.admin))
        return body["items"]  # type: ignore[no-any-return]

    def code_for(self, phone: str, code_length: int, ring: int = 0) -> str:
        """The code the handset saw: the last digits of the caller number (newest first)."""
        rings = wait_for(lambda: self.handset(phone)[ring:] or None, what=f"{phone} to ring")
        return str(rings[0]["caller_number"][-code_length:])

    def verify(self, key: str, call_id: str, code: str, status: int = 200) -> Any:
        return self.ok(
            self.http.post(f"/v1/calls/{call_id}/verify", json={"code": code}, headers=bearer(key)),
            status,
        )

    def retry(self, key: str, call_id: str) -> httpx.Response:
        return self.http.post(f"/v1/calls/{call_id}/retry", headers=bearer(key))


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    return body
