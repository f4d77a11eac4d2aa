"""The ways in for high-volume tenants: the NDJSON stream, the batch, references, and the Kafka
ingress with its results topic (docs/streaming.md), against the real broker and database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest

from launch.platform import ROOT, Platform
from schemas.codec import encode, new_event
from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone
from tests.support.streams import Results, enable_streams, produce, request_value
from tests.support.waiting import wait_for

NDJSON = {"Content-Type": "application/x-ndjson"}
EXAMPLES = ROOT / "docs" / "examples"


@pytest.fixture
def tenant(api: Api) -> Tenant:
    """A tenant whose credit allows thousands of calls."""
    account = api.new_account(credit_limit=10**12)
    service = api.new_service(account["token"])
    key = api.new_key(account["token"], service["id"])
    return Tenant(account["id"], account["token"], service["id"], key["id"], key["key"])


def stream(api: Api, key: str, lines: list[str]) -> list[dict[str, Any]]:
    body = ("\n".join(lines) + "\n").encode()
    r = api.http.post("/v1/calls/stream", content=body, headers={**bearer(key), **NDJSON})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def unique_phones(count: int) -> list[str]:
    phones: set[str] = set()
    while len(phones) < count:
        phones.add(random_phone())
    return sorted(phones)


def rings(database_url: str, phones: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT phone, count(*) FROM sim_handset_calls WHERE phone = ANY(%s) GROUP BY phone",
            (phones,),
        ).fetchall()
    return {str(p): int(n) for p, n in rows}


def test_a_stream_answers_every_line_in_order_and_a_reference_rings_once(
    api: Api, tenant: Tenant, database_url: str
) -> None:
    first, second, other = random_phone(), random_phone(), random_phone()
    ref = f"order-{uuid.uuid4()}"
    answers = stream(
        api,
        tenant.key,
        [
            json.dumps({"phone": first, "reference": ref}),
            "",
            "not json",
            json.dumps({"reference": "no-phone"}),
            json.dumps({"phone": "12"}),
            json.dumps({"phone": second}),
            json.dumps({"phone": first, "reference": ref}),
            json.dumps({"phone": other, "reference": ref}),
            json.dumps({"phone": second, "extra": True}),
            "[1, 2]",
        ],
    )
    assert [a["index"] for a in answers] == list(range(9))  # the blank line is not counted
    codes = [a.get("error", {}).get("code") for a in answers]
    assert codes == [
        None,
        "invalid_request",
        "invalid_request",
        "invalid_phone",
        None,
        None,
        "invalid_request",
        "invalid_request",
        "invalid_request",
    ]
    assert answers[0]["reference"] == ref and answers[0]["status"] == "queued"
    assert answers[5]["id"] == answers[0]["id"]  # the same reference: the same call
    assert answers[2]["reference"] == "no-phone"
    assert answers[4]["reference"] is None and answers[4]["id"] != answers[0]["id"]
    for call_id in (answers[0]["id"], answers[4]["id"]):
        call = api.wait_status(tenant.key, call_id, {"delivered"})
    assert call["reference"] is None
    assert api.call(tenant.key, answers[0]["id"])["reference"] == ref
    # Asked again in a later stream, the reference answers the call as it is now.
    again = stream(api, tenant.key, [json.dumps({"phone": first, "reference": ref})])
    prefix = answers[0]["caller_prefix"]
    assert again == [
        {
            "index": 0,
            "reference": ref,
            "id": answers[0]["id"],
            "status": "delivered",
            "caller_prefix": prefix,
            "code_length": 5,
            "channel": "flash_call",
        }
    ]
    # The app's rule: the ringing number is the prefix and then code_length digits.
    caller = api.handset(first)[0]["caller_number"]
    assert caller.startswith(prefix) and len(caller) == len(prefix) + 5
    assert rings(database_url, [first, second]) == {first: 1, second: 1}


def test_the_stream_takes_ndjson_only(api: Api, tenant: Tenant) -> None:
    r = api.http.post(
        "/v1/calls/stream",
        content=b'{"phone": "+989121234567"}\n',
        headers={**bearer(tenant.key), "Content-Type": "application/json"},
    )
    assert_problem(r, 415, "unsupported_media_type")
    r = api.http.post("/v1/calls/stream", content=b"", headers=NDJSON)
    assert_problem(r, 401, "unauthorized")


def test_an_empty_stream_answers_nothing(api: Api, tenant: Tenant) -> None:
    assert stream(api, tenant.key, ["", "  "]) == []


def test_a_batch_answers_each_item_in_order(api: Api, tenant: Tenant) -> None:
    phone = random_phone()
    ref = f"b-{uuid.uuid4()}"
    calls = [{"phone": phone, "reference": ref}, {"phone": "nope"}, "x", {"phone": phone}]
    r = api.http.post("/v1/calls/batch", json={"calls": calls}, headers=bearer(tenant.key))
    results = api.ok(r)["results"]
    assert [x["index"] for x in results] == [0, 1, 2, 3]
    assert results[0]["status"] == "queued" and results[0]["reference"] == ref
    assert results[1]["error"]["code"] == "invalid_phone"
    assert results[2]["error"]["code"] == "invalid_request"
    assert "id" in results[3]
    bad_bodies: list[dict[str, Any]] = [
        {"calls": []},
        {"calls": [{"phone": phone}] * 1001},
        {"calls": "x"},
        {},
    ]
    for bad in bad_bodies:
        r = api.http.post("/v1/calls/batch", json=bad, headers=bearer(tenant.key))
        assert_problem(r, 422, "invalid_request")


def test_a_reference_on_a_single_call_names_one_call_and_finds_it_in_reports(
    api: Api, tenant: Tenant, database_url: str
) -> None:
    phone, ref = random_phone(), f"single-{uuid.uuid4()}"
    body = {"phone": phone, "reference": ref}
    first = api.ok(api.http.post("/v1/calls", json=body, headers=bearer(tenant.key)), 201)
    second = api.ok(api.http.post("/v1/calls", json=body, headers=bearer(tenant.key)), 201)
    assert first["id"] == second["id"] and first["reference"] == ref
    api.wait_status(tenant.key, first["id"], {"delivered"})
    third = api.ok(api.http.post("/v1/calls", json=body, headers=bearer(tenant.key)), 201)
    assert third["id"] == first["id"] and third["status"] == "delivered"
    other = {"phone": random_phone(), "reference": ref}
    assert_problem(
        api.http.post("/v1/calls", json=other, headers=bearer(tenant.key)), 422, "invalid_request"
    )
    for bad in ("", "r" * 65, "a\u0000b"):
        r = api.http.post(
            "/v1/calls", json={"phone": phone, "reference": bad}, headers=bearer(tenant.key)
        )
        assert_problem(r, 422, "invalid_request")
    found = api.ok(
        api.http.get("/v1/reports/calls", params={"reference": ref}, headers=bearer(tenant.token))
    )
    assert [c["id"] for c in found["items"]] == [first["id"]]
    assert found["items"][0]["reference"] == ref
    assert rings(database_url, [phone]) == {phone: 1}


def test_the_http_example_streams_a_file_as_it_is(
    tenant: Tenant, platform: Platform, tmp_path: Path
) -> None:
    """Long enough that answers flow back while the body is still being sent."""
    count = 3000
    calls = tmp_path / "calls.ndjson"
    calls.write_text(
        "".join(
            json.dumps({"phone": phone, "reference": f"f-{i}"}) + "\n"
            for i, phone in enumerate(unique_phones(count))
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "stream_calls_http.py"),
            platform.url,
            tenant.key,
            str(calls),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert [x["index"] for x in lines] == list(range(count))
    assert len({x["id"] for x in lines}) == count
    assert [x["reference"] for x in lines] == [f"f-{i}" for i in range(count)]


# ---------------------------------------------------------------------------- over Kafka


@pytest.fixture
def streaming(api: Api, tenant: Tenant, bootstrap: str) -> Iterator[tuple[dict[str, str], Results]]:
    topics = enable_streams(api, tenant)
    results = Results(bootstrap, topics["results_topic"])
    yield topics, results
    results.close()


def test_the_ingress_answers_every_record_and_then_each_change_of_the_call(
    api: Api, tenant: Tenant, bootstrap: str, streaming: tuple[dict[str, str], Results]
) -> None:
    topics, results = streaming
    stranger = api.tenant()
    phone, ref = random_phone(), f"k-{uuid.uuid4()}"
    offsets = produce(
        bootstrap,
        topics["ingress_topic"],
        [
            (request_value(phone, ref), tenant.key),
            (request_value(random_phone()), None),
            (request_value(random_phone()), "not-a-key"),
            (request_value(random_phone()), stranger.key),
            (b"\x00garbage", tenant.key),
            (
                encode(
                    new_event(
                        "TopUpCredit",
                        topup_id=uuid.uuid4(),
                        service_id=uuid.uuid4(),
                        amount=1,
                        reference="x",
                    )
                ),
                tenant.key,
            ),
            (request_value("12"), tenant.key),
            (request_value(phone, ref), tenant.key),
        ],
    )
    answers = wait_for(
        lambda: results.answering(offsets),
        timeout=30,
        what="an answer to every request",
    )
    got = [(answers[o]["status"], answers[o]["error_code"]) for o in offsets]
    assert got == [
        ("queued", None),
        ("refused", "unauthorized"),
        ("refused", "unauthorized"),
        ("refused", "unauthorized"),
        ("refused", "invalid_request"),
        ("refused", "invalid_request"),
        ("refused", "invalid_phone"),
        ("queued", None),
    ]
    accepted = answers[offsets[0]]
    assert accepted["reference"] == ref and accepted["key"] == ref and accepted["phone"] == phone
    assert answers[offsets[-1]]["call_id"] == accepted["call_id"]  # one reference, one call
    assert answers[offsets[1]]["key"] == f"0:{offsets[1]}"
    delivered = wait_for(
        lambda: [r for r in results.read() if r["status"] == "delivered"],
        timeout=30,
        what="the delivery on the results topic",
    )
    assert delivered[0]["call_id"] == accepted["call_id"] and delivered[0]["key"] == ref
    assert delivered[0]["cost"] > 0
    assert api.call(tenant.key, str(accepted["call_id"]))["reference"] == ref
    # What an app recognises the call by, from the first answer on.
    ringing = api.handset(phone)[0]["caller_number"]
    assert (accepted["caller_prefix"], accepted["code_length"]) == (ringing[:-5], 5)
    assert (delivered[0]["caller_prefix"], delivered[0]["code_length"]) == (ringing[:-5], 5)
    assert answers[offsets[1]]["caller_prefix"] is None  # refused: no call


def test_streams_are_for_the_operator_to_enable(api: Api, tenant: Tenant) -> None:
    r = api.http.post(f"/v1/accounts/{tenant.account_id}/streams", headers=bearer(tenant.token))
    assert_problem(r, 403, "forbidden")
    r = api.http.post(f"/v1/accounts/{uuid.uuid4()}/streams", headers=api.admin)
    assert_problem(r, 404, "not_found")


def test_the_kafka_example_runs_as_it_is(
    api: Api,
    tenant: Tenant,
    bootstrap: str,
    tmp_path: Path,
    streaming: tuple[dict[str, str], Results],
) -> None:
    calls = tmp_path / "calls.ndjson"
    calls.write_text(
        "".join(
            json.dumps({"phone": random_phone(), "reference": f"e-{i}"}) + "\n" for i in range(20)
        )
    )
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "stream_calls_kafka.py"),
            bootstrap,
            tenant.account_id,
            tenant.key,
            str(calls),
        ],
        capture_output=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(p["reference"] for p in printed) == sorted(f"e-{i}" for i in range(20))
    assert {p["status"] for p in printed} == {"queued"}


def test_a_sigkilled_ingress_loses_nothing_and_rings_no_one_twice(
    api: Api,
    tenant: Tenant,
    platform: Platform,
    bootstrap: str,
    database_url: str,
    streaming: tuple[dict[str, str], Results],
) -> None:
    topics, results = streaming
    count = 3000
    phones = unique_phones(count)
    # Half with references, half identified by their position only.
    records = [
        (request_value(p, f"s-{i}" if i % 2 else None), tenant.key) for i, p in enumerate(phones)
    ]
    offsets = produce(bootstrap, topics["ingress_topic"], records)
    wait_for(lambda: len(results.answers()) >= 200, timeout=30, what="the ingress to be under way")
    for proc in platform.running("worker"):
        platform.stop(proc, signal.SIGKILL)
    assert len(results.answers()) < count, "the kill came too late to prove anything"
    platform.start_worker()
    answers = wait_for(
        lambda: results.answering(offsets),
        timeout=90,
        what="an answer to every request",
    )
    assert {answers[o]["status"] for o in offsets} == {"queued"}
    call_ids = {answers[o]["call_id"] for o in offsets}
    assert len(call_ids) == count  # a request answered twice named the same call

    def dialled() -> int | None:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM calls WHERE service_id = %s AND status_rank >= 2",
                (tenant.service_id,),
            ).fetchone()
        return int(row[0]) if row and row[0] >= count else None

    wait_for(dialled, timeout=90, what="every call to be dialled")
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT id) FROM calls WHERE service_id = %s",
            (tenant.service_id,),
        ).fetchone()
    assert row == (count, count)
    # Rings per call (a phone of another test's may have rung for that test): none twice.
    with psycopg.connect(database_url) as conn:
        rung = dict(
            conn.execute(
                "SELECT call_id, count(*) FROM sim_handset_calls WHERE call_id = ANY(%s::uuid[])"
                " GROUP BY call_id",
                ([str(c) for c in call_ids],),
            ).fetchall()
        )
        outcomes = conn.execute(
            "SELECT id, status, failure_reason FROM calls WHERE service_id = %s",
            (tenant.service_id,),
        ).fetchall()
    assert set(rung.values()) <= {1}
    # A dial the SIGKILL interrupted is failed (carrier_error) after the abandon time, never
    # dialled again; every other call rang once.
    for call_id, status, reason in outcomes:
        if status == "delivered":
            assert rung.get(call_id) == 1, call_id
        else:
            assert (status, reason) == ("failed", "carrier_error"), (call_id, status, reason)
