"""Access-key endpoints: place, read, verify, retry, the limits and the seed-compatible call."""

from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from launch.platform import Platform
from schemas.topics import COMMANDS
from tests.conftest import TTL_MINUTE
from tests.e2e.conftest import SECOND_API_KEY_RATE
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.waiting import wait_for


def test_a_call_rings_the_handset_and_its_code_verifies(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert call["status"] == "queued" and call["phone"] == phone and call["attempt"] == 1
    assert call["code_length"] == 5 and "code" not in {k for k, v in call.items() if v}
    delivered = api.wait_status(tenant.key, call["id"], {"delivered"})
    assert delivered["dialed_at"] and delivered["expires_at"]
    code = api.code_for(phone, 5)
    wrong = f"{(int(code) + 1) % 100000:05d}"
    assert api.verify(tenant.key, call["id"], wrong) == {
        "id": call["id"],
        "verified": False,
        "status": "delivered",
        "reason": "invalid_code",
        "attempts_left": 4,
    }
    assert api.verify(tenant.key, call["id"], code) == {
        "id": call["id"],
        "verified": True,
        "status": "verified",
        "reason": None,
        "attempts_left": 3,
    }
    again = api.verify(tenant.key, call["id"], code)
    assert again["verified"] is False and again["reason"] == "already_verified"
    final = api.wait_status(tenant.key, call["id"], {"verified"})
    assert final["verified_at"] is not None
    assert api.call(tenant.token, call["id"])["id"] == call["id"]  # the account reads it too


def test_a_call_sent_in_an_unusual_but_valid_form_is_answered_as_an_ordinary_one(
    api: Api, tenant: Tenant
) -> None:
    """An ordinary POST /v1/calls is answered by api/fast_calls.py, one in an unusual form by
    the route itself: the answers are the same. The second request of each pair replays the
    first's Idempotency-Key (its body must equal the first's, byte for byte) or repeats its
    refusal (the same problem)."""
    ordinary = {**bearer(tenant.key), "Content-Type": "application/json"}
    unusual = {
        "Authorization": f"bearer  {tenant.key}",
        "Content-Type": "application/json;charset=UTF-8",
    }
    for first, second in ((ordinary, unusual), (unusual, ordinary)):
        key = {"Idempotency-Key": uuid.uuid4().hex}
        body = f'{{"phone": "{random_phone()}"}}'.encode()
        placed = api.http.post("/v1/calls", content=body, headers={**first, **key})
        again = api.http.post("/v1/calls", content=body, headers={**second, **key})
        assert (placed.status_code, again.status_code) == (201, 201), (placed.text, again.text)
        assert again.headers["idempotent-replayed"] == "true"
        assert "idempotent-replayed" not in placed.headers
        assert again.content == placed.content
        assert placed.headers["content-type"] == again.headers["content-type"] == "application/json"
        refused = [
            api.http.post("/v1/calls", content=b'{"phone": "+98912"}', headers=headers)
            for headers in (first, second)
        ]
        assert [r.status_code for r in refused] == [400, 400]
        assert refused[0].json() == refused[1].json()
        assert refused[0].json()["code"] == "invalid_phone"
        assert refused[0].headers["content-type"] == "application/problem+json"


def test_national_numbers_are_normalised_and_bad_ones_refused(api: Api, tenant: Tenant) -> None:
    assert api.place(tenant.key, "0912 765 4321")["phone"] == "+989127654321"
    for bad in ("12", "not a phone", "+98912", ""):
        assert_problem(
            api.http.post("/v1/calls", json={"phone": bad}, headers=bearer(tenant.key)),
            400,
            "invalid_phone",
        )
    assert_problem(
        api.http.post(
            "/v1/calls", json={"phone": "+989121234567", "x": 1}, headers=bearer(tenant.key)
        ),
        422,
        "invalid_request",
    )
    assert_problem(api.http.post("/v1/calls", json={"phone": "+989121234567"}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("ending", "reason"),
    [
        ("0000", "unreachable"),
        ("1111", "busy"),
        ("2222", "invalid_number"),
        ("3333", "carrier_error"),
    ],
)
def test_simulated_carrier_outcomes(api: Api, tenant: Tenant, ending: str, reason: str) -> None:
    phone = random_phone(ending)
    call = api.place(tenant.key, phone)
    failed = api.wait_status(tenant.key, call["id"], {"failed"})
    assert failed["failure_reason"] == reason and failed["cost"] == 0
    assert api.handset(phone) == []
    verdict = api.verify(tenant.key, call["id"], "12345")
    assert verdict["reason"] == "not_delivered" and verdict["attempts_left"] == 5


def test_return_code_services_answer_with_the_code(api: Api) -> None:
    tenant = api.tenant(code_length=6, return_code=True)
    phone = random_phone()
    call = api.place(tenant.key, phone)
    assert len(call["code"]) == 6 and call["code"].isdigit()
    api.wait_status(tenant.key, call["id"], {"delivered"})
    caller = api.handset(phone)[0]["caller_number"]
    assert caller == call["head_number"] + call["code"]


def test_seed_compatible_call_endpoint(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    body = api.ok(
        api.http.post("/services/call/call/", json={"destination": phone, "token": tenant.key})
    )
    assert set(body) == {"message", "code", "tracking_code", "head_number"}
    api.wait_status(tenant.key, body["tracking_code"], {"delivered"})
    assert api.handset(phone)[0]["caller_number"] == body["head_number"] + body["code"]
    assert_problem(
        api.http.post("/services/call/call/", json={"destination": phone, "token": "nope"}),
        401,
        "unauthorized",
    )


def test_disabled_service_refuses_calls(api: Api, tenant: Tenant) -> None:
    api.ok(
        api.http.patch(
            f"/v1/services/{tenant.service_id}",
            json={"status": "disabled"},
            headers=bearer(tenant.token),
        )
    )
    response = api.http.post(
        "/v1/calls", json={"phone": random_phone()}, headers=bearer(tenant.key)
    )
    assert_problem(response, 403, "service_disabled")


def test_a_phone_gets_at_most_five_calls_an_hour(api: Api, tenant: Tenant) -> None:
    phone = random_phone("1111")  # busy: the calls finish quickly and cost nothing
    for _ in range(5):
        api.place(tenant.key, phone)
    response = api.http.post("/v1/calls", json={"phone": phone}, headers=bearer(tenant.key))
    assert_problem(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 3000
    api.place(tenant.key, random_phone())  # other numbers are unaffected


def test_an_access_key_is_limited_per_second(second_api: Api) -> None:
    tenant = second_api.tenant()

    async def burst() -> tuple[list[httpx.Response], float]:
        async with httpx.AsyncClient(base_url=str(second_api.http.base_url), timeout=30) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/v1/calls",
                        json={"phone": random_phone("1111")},
                        headers=bearer(tenant.key),
                    )
                    for _ in range(4 * SECOND_API_KEY_RATE)
                )
            )
            return responses, time.monotonic() - started

    responses, elapsed = asyncio.run(burst())
    codes = [r.status_code for r in responses]
    assert set(codes) == {201, 429}, codes
    # A sliding one-second window admits at most `rate` calls in each second of the burst.
    assert codes.count(201) <= SECOND_API_KEY_RATE * (math.floor(elapsed) + 1), (codes, elapsed)
    limited = next(r for r in responses if r.status_code == 429)
    assert_problem(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"] == "1"


def test_idempotency_key_places_one_call(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    headers = {**bearer(tenant.key), "Idempotency-Key": str(uuid.uuid4())}
    first = api.http.post("/v1/calls", json={"phone": phone}, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    api.wait_status(tenant.key, first.json()["id"], {"delivered"})
    # The same body, the phone written nationally: the first answer again, as it was.
    national = "0" + phone.removeprefix("+98")
    again = api.http.post("/v1/calls", json={"phone": national}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.json()["status"] == "queued"
    assert len(api.handset(phone)) == 1


def test_idempotency_key_with_another_body_is_refused_and_places_nothing(
    api: Api, tenant: Tenant
) -> None:
    phone, other = random_phone(), random_phone()
    headers = {**bearer(tenant.key), "Idempotency-Key": str(uuid.uuid4())}
    first = api.http.post("/v1/calls", json={"phone": phone}, headers=headers)
    assert first.status_code == 201
    assert_problem(
        api.http.post("/v1/calls", json={"phone": other}, headers=headers), 422, "invalid_request"
    )
    assert_problem(
        api.http.post("/v1/calls", json={"phone": phone, "reference": "r-1"}, headers=headers),
        422,
        "invalid_request",
    )
    api.wait_status(tenant.key, first.json()["id"], {"delivered"})
    assert api.handset(other) == [] and len(api.handset(phone)) == 1


def test_idempotency_key_with_a_reference_means_the_same(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    reference = f"order-{uuid.uuid4()}"
    headers = {**bearer(tenant.key), "Idempotency-Key": str(uuid.uuid4())}
    body = {"phone": phone, "reference": reference}
    first = api.http.post("/v1/calls", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["reference"] == reference
    again = api.http.post("/v1/calls", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    # Another reference under the same key is another body.
    assert_problem(
        api.http.post("/v1/calls", json={"phone": phone, "reference": "another"}, headers=headers),
        422,
        "invalid_request",
    )
    # Without the key the reference still names its call.
    named = api.http.post("/v1/calls", json=body, headers=bearer(tenant.key))
    assert named.status_code == 201 and named.json()["id"] == first.json()["id"]
    api.wait_status(tenant.key, first.json()["id"], {"delivered"})
    assert len(api.handset(phone)) == 1


def test_twenty_concurrent_wrong_guesses_judge_exactly_five(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    call = api.place(tenant.key, phone)
    api.wait_status(tenant.key, call["id"], {"delivered"})
    code = api.code_for(phone, 5)
    wrong = f"{(int(code) + 7) % 100000:05d}"

    async def guesses() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/v1/calls/{call['id']}/verify",
                        json={"code": wrong},
                        headers=bearer(tenant.key),
                    )
                    for _ in range(20)
                )
            )

    verdicts = [r.json() for r in asyncio.run(guesses())]
    reasons = sorted(v["reason"] for v in verdicts)
    assert reasons.count("invalid_code") == 5 and reasons.count("too_many_attempts") == 15
    assert sorted(v["attempts_left"] for v in verdicts if v["reason"] == "invalid_code") == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert api.verify(tenant.key, call["id"], code)["reason"] == "too_many_attempts"
    assert api.wait_status(tenant.key, call["id"], {"delivered"})["status"] == "delivered"


@pytest.fixture
def split_workers(platform: Platform) -> Iterator[subprocess.Popen[bytes]]:
    """Decisions in a worker of their own (returned), the other roles in another; afterwards
    the usual single worker again."""
    for proc in platform.running("worker"):
        platform.stop(proc)
    decisions = platform.start_worker("worker-decisions", "decisions")
    others = platform.start_worker("worker-others", "dialer,expiry,projections")
    yield decisions
    for proc in (decisions, others):
        platform.stop(proc)
    platform.start_worker()


def test_a_code_typed_the_moment_the_phone_rings_verifies(
    api: Api, tenant: Tenant, platform: Platform, split_workers: subprocess.Popen[bytes]
) -> None:
    """The user types the code while the decisions worker has not yet read the delivery (it
    comes on another topic than the attempt; here the worker is paused across the ring): the
    verdict must still be "verified", not "not_delivered"."""
    decisions = split_workers
    requests = Consumer({"bootstrap.servers": platform.bootstrap, "group.id": "probe"})
    partitions = requests.list_topics(COMMANDS.name, timeout=10).topics[COMMANDS.name]

    def appended() -> int:
        """Records ever appended to the commands topic (where attempts go)."""
        return sum(
            requests.get_watermark_offsets(TopicPartition(COMMANDS.name, p), timeout=5)[1]
            for p in partitions.partitions
        )

    try:
        for _ in range(5):
            phone = random_phone()
            call = api.place(tenant.key, phone)
            api.wait_status(tenant.key, call["id"], {"dialing", "delivered"}, every=0.0)
            decisions.send_signal(signal.SIGSTOP)
            try:
                api.wait_status(tenant.key, call["id"], {"delivered"}, every=0.0)
                code, before = api.code_for(phone, 5), appended()
                with ThreadPoolExecutor(1) as pool:
                    verdict = pool.submit(api.verify, tenant.key, call["id"], code)
                    wait_for(
                        lambda before=before: appended() > before, what="the attempt on the broker"
                    )
                    decisions.send_signal(signal.SIGCONT)
                    assert verdict.result()["verified"], verdict.result()
            finally:
                decisions.send_signal(signal.SIGCONT)
    finally:
        requests.close()


def test_verify_checks_input_and_ownership(api: Api, tenant: Tenant) -> None:
    call = api.place(tenant.key, random_phone())
    for bad in ("12a45", "", "1" * 17):
        response = api.http.post(
            f"/v1/calls/{call['id']}/verify", json={"code": bad}, headers=bearer(tenant.key)
        )
        assert_problem(response, 422, "invalid_request")
    other = api.tenant()
    assert_problem(
        api.http.post(
            f"/v1/calls/{call['id']}/verify", json={"code": "12345"}, headers=bearer(other.key)
        ),
        404,
        "not_found",
    )
    assert_problem(
        api.http.post(
            f"/v1/calls/{uuid.uuid4()}/verify", json={"code": "12345"}, headers=bearer(tenant.key)
        ),
        404,
        "not_found",
    )
    api.wait_status(tenant.key, call["id"], {"delivered"})
    assert_problem(
        api.http.get(f"/v1/calls/{call['id']}", headers=bearer(other.key)), 404, "not_found"
    )


def test_expired_codes_and_retries(api: Api) -> None:
    tenant = api.tenant(code_length=4, code_ttl_minutes=1)  # a test minute: TTL_MINUTE seconds
    phone = random_phone()
    first = api.place(tenant.key, phone)
    api.wait_status(tenant.key, first["id"], {"delivered"})
    old_code = api.code_for(phone, 4)
    early = api.retry(tenant.key, first["id"])
    assert_problem(early, 409, "code_still_valid")
    assert 1 <= int(early.headers["Retry-After"]) <= TTL_MINUTE + 1
    expired = api.wait_status(tenant.key, first["id"], {"expired"}, timeout=TTL_MINUTE + 10)
    assert expired["status"] == "expired"
    assert api.verify(tenant.key, first["id"], old_code)["reason"] == "expired"

    retried = api.ok(api.retry(tenant.key, first["id"]), 201)
    assert retried["retry_of"] == first["id"] and retried["attempt"] == 2
    assert retried["id"] != first["id"]
    assert api.ok(api.retry(tenant.key, first["id"]), 201)["id"] == retried["id"]  # idempotent
    api.wait_status(tenant.key, retried["id"], {"delivered"})
    rings = api.handset(phone)
    assert len(rings) == 2 and rings[0]["caller_number"] != rings[1]["caller_number"]
    new_code = rings[0]["caller_number"][-4:]
    assert new_code != old_code
    assert api.verify(tenant.key, first["id"], new_code)["reason"] == "expired"
    assert api.verify(tenant.key, retried["id"], new_code)["verified"] is True


def test_a_retry_chain_holds_four_calls(api: Api, tenant: Tenant) -> None:
    call = api.place(tenant.key, random_phone("1111"))
    for attempt in range(2, 5):
        api.wait_status(tenant.key, call["id"], {"failed"})
        call = api.ok(api.retry(tenant.key, call["id"]), 201)
        assert call["attempt"] == attempt
    api.wait_status(tenant.key, call["id"], {"failed"})
    assert_problem(api.retry(tenant.key, call["id"]), 409, "retry_limit_reached")


def test_openapi_documents_the_contract(platform: Platform, api: Api) -> None:
    spec = api.ok(api.http.get("/openapi.json"))
    paths = spec["paths"]
    for path in (
        "/v1/accounts",
        "/v1/accounts/{account_id}",
        "/v1/services",
        "/v1/services/{service_id}",
        "/v1/services/{service_id}/keys",
        "/v1/services/{service_id}/keys/{key_id}",
        "/v1/calls",
        "/v1/calls/{call_id}",
        "/v1/calls/{call_id}/retry",
        "/v1/calls/{call_id}/verify",
        "/v1/sim/handsets/{phone}/calls",
        "/services/call/call/",
    ):
        assert path in paths, path


def test_a_call_is_readable_at_once_on_any_instance(
    api: Api, second_api: Api, tenant: Tenant
) -> None:
    """Read-your-writes: the GET right after the 201, on the other instance too, never 404s."""
    # The other instance learns a new key from its topic (eventually, like every directory).
    wait_for(
        lambda: (
            second_api.http.get(f"/v1/calls/{uuid.uuid4()}", headers=bearer(tenant.key)).status_code
            == 404
        ),
        what="the second instance to know the key",
    )
    for i in range(40):
        call = api.place(tenant.key, random_phone())
        reader = second_api if i % 2 else api
        r = reader.http.get(f"/v1/calls/{call['id']}", headers=bearer(tenant.key))
        assert r.status_code == 200, (i, r.status_code, r.text)
        assert r.json()["id"] == call["id"] and r.json()["status"] in {
            "queued",
            "dialing",
            "delivered",
        }
    missing = api.http.get(f"/v1/calls/{uuid.uuid4()}", headers=bearer(tenant.key))
    assert_problem(missing, 404, "not_found")
