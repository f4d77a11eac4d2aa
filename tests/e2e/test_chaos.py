"""Faults under load (100 calls/s over HTTP), on a platform of their own deployed as `make run`
deploys it and supervised as it is: kill -9 of each worker role and of the API, PostgreSQL
away, the broker away, poison records in the topics. Every call answered 201 reaches
delivered or a final state, none twice rung, every delivered call billed once, the balance
its ledger, and the platform serves again with no manual step (bench/chaos.py; `make chaos`
prints the counts)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from bench import chaos
from launch.platform import ROOT
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def stage() -> Iterator[chaos.Stage]:
    server = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    logs = ROOT / "var" / "test-logs" / f"chaos-{uuid.uuid4().hex[:8]}"
    with chaos.stage(server, logs) as s:
        yield s


@pytest.mark.parametrize("fault", list(chaos.FAULTS))
def test_a_fault_under_load_loses_nothing(stage: chaos.Stage, fault: str) -> None:
    outcome = chaos.run(stage, fault, rate=100, seconds=5, fault_after=100)
    print(outcome.line())
    # At least the calls placed before the fault (the API's own death refuses the rest): the
    # fault waits for them, however slow the machine is.
    assert outcome.accepted >= 100, outcome.line()
    assert (outcome.lost, outcome.stuck, outcome.double_dials) == (0, 0, 0), outcome.line()
    assert outcome.billed and not outcome.problems, outcome.problems
    # Refused only while the API itself was down (no answer) or with 503 and Retry-After.
    assert set(outcome.refusals) <= {0, 503}, outcome.line()
    assert outcome.served_after, outcome.line()
    if fault in chaos.PROCESS_OF:
        assert outcome.restarts == 1, outcome.line()  # the supervisor, not the test, healed it
    if fault == "broker away 5 s":
        assert outcome.refusals.get(503), outcome.line()  # appends the broker did not take
    if fault == "poison records":
        assert outcome.parked == 2, outcome.line()  # set aside, counted, and the rest went on


def test_reads_answer_503_while_postgres_is_away_and_recover_by_themselves(
    stage: chaos.Stage,
) -> None:
    key, _ = chaos.tenants(stage.platform.url, 1)[0]
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=stage.platform.url, timeout=30) as http:
        call = http.post("/v1/calls", json={"phone": "+989121234567"}, headers=auth)
        assert call.status_code == 201, call.text
        path = f"/v1/calls/{call.json()['id']}"
        wait_for(lambda: http.get(path, headers=auth).status_code == 200, what="the call")
        # Longer than a request waits for a connection (3 s): then it is answered 503.
        outage = threading.Thread(target=chaos.postgres_away(6.0), args=(stage,))
        outage.start()
        answers = []
        while outage.is_alive():
            response = http.get(path, headers=auth)
            answers.append((response.status_code, response.headers.get("Retry-After")))
        outage.join()
        assert (503, "2") in answers, answers
        assert {status for status, _ in answers} <= {200, 503}, answers
        wait_for(lambda: http.get(path, headers=auth).status_code == 200, timeout=10)
