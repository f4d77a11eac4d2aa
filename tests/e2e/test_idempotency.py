"""One Idempotency-Key makes one thing, even when its requests race through two replicas: the
key is claimed before anything is made, and a request that finds it claimed is answered 409
`idempotency_key_in_use` (same body) or 422 (another body), never made a second time; and
when the first request's event was stored but it was answered 503 (the read model behind),
its retry answers what was made, not a second one."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.conftest import projection_held
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for

RACERS = 8


def race(apis: list[Api], send: Callable[[httpx.Client, int], httpx.Response]) -> list[Any]:
    """`send` from RACERS threads at once, each with its own connection, alternately through
    each replica; the answers in thread order."""
    barrier = threading.Barrier(RACERS)
    answers: list[Any] = [None] * RACERS

    def run(i: int) -> None:
        with httpx.Client(base_url=str(apis[i % len(apis)].http.base_url), timeout=30) as c:
            barrier.wait()
            answers[i] = send(c, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def in_use_or(answer: httpx.Response, status: int, code: str | None = None) -> bool:
    """Whether the answer is the key in use (and says when to ask again), else `status`."""
    if answer.status_code == 409:
        assert_problem(answer, 409, "idempotency_key_in_use")
        assert answer.headers["Retry-After"] == "1"
        return True
    if code is not None:
        assert_problem(answer, status, code)
    else:
        assert answer.status_code == status, (answer.status_code, answer.text)
    return False


def services_named(api: Api, token: str, name: str) -> list[dict[str, Any]]:
    page = api.ok(api.http.get("/v1/services", headers=bearer(token)))
    return [s for s in page["items"] if s["name"] == name]


def test_racing_requests_with_one_key_and_body_create_one_service(
    api: Api, second_api: Api
) -> None:
    account = api.new_account()
    body = {"name": "raced", "code_length": 5, "code_ttl_minutes": 10}
    headers = {**bearer(account["token"]), "Idempotency-Key": str(uuid.uuid4())}
    answers = race(
        [api, second_api], lambda c, _: c.post("/v1/services", json=body, headers=headers)
    )
    made = [a.json() for a in answers if not in_use_or(a, 201)]
    assert made and {m["id"] for m in made} == {made[0]["id"]}, made
    # Asked again once the race is over, every replica answers the one service made.
    for replica in (api, second_api):
        again = replica.http.post("/v1/services", json=body, headers=headers)
        assert again.status_code == 201 and again.json() == made[0], again.text
    assert [s["id"] for s in services_named(api, account["token"], "raced")] == [made[0]["id"]]


def test_racing_top_ups_with_one_key_and_other_bodies_credit_once(
    api: Api, second_api: Api, tenant: Tenant
) -> None:
    path = f"/v1/services/{tenant.service_id}/topups"
    headers = {**api.admin, "Idempotency-Key": str(uuid.uuid4())}
    amounts = [1000 * (i + 1) for i in range(RACERS)]
    answers = race(
        [api, second_api],
        lambda c, i: c.post(
            path, json={"amount": amounts[i], "reference": f"wire {i}"}, headers=headers
        ),
    )
    made = [i for i, a in enumerate(answers) if a.status_code == 201]
    assert len(made) == 1, [(a.status_code, a.text) for a in answers]
    for i, answer in enumerate(answers):
        if i != made[0]:
            assert answer.status_code in (409, 422), answer.text
            in_use_or(answer, 422, "invalid_request")
    credited = amounts[made[0]]

    def balance() -> int | None:
        path = f"/v1/services/{tenant.service_id}"
        svc = api.ok(api.http.get(path, headers=bearer(tenant.token)))
        return svc["balance"] if svc["balance"] == credited else None

    wait_for(balance, what=f"the balance to be {credited}")
    ledger = api.ok(
        api.http.get(f"/v1/services/{tenant.service_id}/ledger", headers=bearer(tenant.token))
    )
    assert [(e["type"], e["amount"]) for e in ledger["items"]] == [("topup", credited)]


def test_a_call_refused_frees_its_key_for_the_retry(api: Api, tenant: Tenant) -> None:
    """A refused call made nothing: once the service has credit, the same key places it."""
    api.ok(
        api.http.patch(
            f"/v1/services/{tenant.service_id}", json={"credit_limit": 0}, headers=api.admin
        )
    )

    def answer(idempotency_key: str, phone: str) -> httpx.Response:
        headers = {**bearer(tenant.key), "Idempotency-Key": idempotency_key}
        return api.http.post("/v1/calls", json={"phone": phone}, headers=headers)

    wait_for(
        lambda: answer(str(uuid.uuid4()), random_phone()).status_code == 402,
        what="the service's zero limit to refuse calls",
    )
    key, phone = str(uuid.uuid4()), random_phone()
    assert_problem(answer(key, phone), 402, "credit_limit_reached")
    api.top_up(tenant.service_id, 10_000, "credit")

    def placed_once() -> httpx.Response | None:
        response = answer(key, phone)
        return response if response.status_code == 201 else None

    placed = wait_for(placed_once, what="the topped-up service to place the call")
    again = answer(key, phone)
    assert again.status_code == 201 and again.json()["id"] == placed.json()["id"], again.text
    assert again.headers["Idempotent-Replayed"] == "true"


def count(database_url: str, query: str, value: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query, (value,)).fetchone()
    assert row is not None
    return int(row[0])


# Each create that draws its id (and a secret) at random: the table its projection writes, and
# how many rows of that table bear the test's unique name.
CREATES = {
    "account": ("accounts", "SELECT count(*) FROM accounts WHERE name = %s"),
    "service": ("services", "SELECT count(*) FROM services WHERE name = %s"),
    "access key": ("access_keys", "SELECT count(*) FROM access_keys WHERE label = %s"),
    "caller range": ("caller_ranges", "SELECT count(*) FROM caller_ranges WHERE pattern = %s"),
}


@pytest.mark.parametrize("create", list(CREATES))
def test_a_create_answered_503_after_it_was_stored_is_answered_by_its_retry_not_made_again(
    impatient_api: Api, second_api: Api, database_url: str, create: str
) -> None:
    tenant = second_api.tenant()
    unique = uuid.uuid4().hex[:12]
    path, body, auth = {
        "account": ("/v1/accounts", {"name": unique}, second_api.admin),
        "service": (
            "/v1/services",
            {"name": unique, "code_length": 5, "code_ttl_minutes": 10},
            bearer(tenant.token),
        ),
        "access key": (
            f"/v1/services/{tenant.service_id}/keys",
            {"label": unique},
            bearer(tenant.token),
        ),
        # Rightel's only, in numbers no other range holds; paused at the end.
        "caller range": (
            "/v1/operator/ranges",
            {"pattern": f"+98218{random.randrange(10**4):04d}xxxxx", "destinations": ["Rightel"]},
            second_api.admin,
        ),
    }[create]
    name = body.get("name") or body.get("label") or body["pattern"]
    table, rows = CREATES[create]
    headers = {**auth, "Idempotency-Key": str(uuid.uuid4())}

    with projection_held(database_url, table):
        first = impatient_api.http.post(path, json=body, headers=headers)
        assert_problem(first, 503, "unavailable")
        assert "read model is behind" in first.json()["detail"], first.text
    # Stored all the same: the projection applies it once the table is free.
    wait_for(lambda: count(database_url, rows, name) == 1, what=f"the {create} projected")

    retry = second_api.http.post(path, json=body, headers=headers)
    assert retry.status_code == 201, retry.text
    made = retry.json()
    assert count(database_url, rows, name) == 1
    # The retry answers the one thing made, as the first would have.
    listed = {
        "account": lambda: impatient_api.http.get(
            f"/v1/accounts/{made['id']}", headers=impatient_api.admin
        ),
        "service": lambda: impatient_api.http.get(
            f"/v1/services/{made['id']}", headers=bearer(tenant.token)
        ),
        "access key": lambda: impatient_api.http.get(
            f"/v1/services/{tenant.service_id}/keys", headers=bearer(tenant.token)
        ),
        "caller range": lambda: impatient_api.http.get(
            "/v1/operator/ranges", headers=impatient_api.admin
        ),
    }[create]()
    assert listed.status_code == 200 and made["id"] in listed.text, listed.text
    if create == "account":  # its token, shown only in the answer, is the stored one
        balance = impatient_api.http.get("/v1/balance", headers=bearer(made["token"]))
        assert balance.status_code == 200, balance.text
    if create == "access key":
        call = impatient_api.http.post(
            "/v1/calls", json={"phone": random_phone()}, headers=bearer(made["key"])
        )
        assert call.status_code == 201, call.text
    if create == "caller range":
        paused = second_api.http.patch(
            f"/v1/operator/ranges/{made['id']}", json={"status": "paused"}, headers=auth
        )
        assert paused.status_code == 200, paused.text
    again = impatient_api.http.post(path, json=body, headers=headers)
    assert again.status_code == 201 and again.json() == made, again.text
    assert again.headers["Idempotent-Replayed"] == "true"


def test_a_key_past_its_day_is_forgotten_and_still_names_the_call_it_placed(
    api: Api, tenant: Tenant, database_url: str
) -> None:
    old_key, new_key = f"day-old-{uuid.uuid4()}", f"fresh-{uuid.uuid4()}"
    phone = random_phone()
    placed = api.place(tenant.key, phone, **{"Idempotency-Key": old_key})
    api.place(tenant.key, random_phone(), **{"Idempotency-Key": new_key})

    def kept() -> set[str]:
        with psycopg.connect(database_url) as conn:
            rows = conn.execute(
                "SELECT key FROM idempotency_keys WHERE key = ANY(%s)", ([old_key, new_key],)
            ).fetchall()
        return {str(r[0]) for r in rows}

    assert kept() == {old_key, new_key}
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'"
            " WHERE key = %s",
            (old_key,),
        )
    wait_for(lambda: kept() == {new_key}, what="the day-old key to be forgotten")

    # Forgotten, the key still names its call (its id comes from the key): the same call.
    again = api.place(tenant.key, phone, **{"Idempotency-Key": old_key})
    assert again["id"] == placed["id"]
