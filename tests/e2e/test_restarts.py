"""Restarts are consistent: a database that remembers records its broker no longer has is
refused with a clear error by everything that would consume from it, and `make run` restarted
on its memory-only embedded broker starts clean and says so; never a half state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from core.db import migrate
from core.settings import DEV_ADMIN_TOKEN
from launch.platform import ROOT
from launch.ports import free_port
from tests.support.make_run import MakeRun


@pytest.fixture
def stale_database(database_url: str) -> Iterator[str]:
    """A database whose consumers read far more than the test broker holds."""
    server = psycopg.conninfo.make_conninfo(database_url, dbname="postgres")
    name = f"flashcall_stale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(server, dbname=name)
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO consumed_offsets VALUES ('projection', 'flashcall.accounts', 0, %s),"
            " ('decisions', 'flashcall.call-requests', 2, %s)",
            (10**9, 10**9),
        )
    yield url
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(
    args: list[str], env: dict[str, str], timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_database_ahead_of_its_broker_is_refused_by_every_consumer(
    bootstrap: str, stale_database: str
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": stale_database,
        "FLASHCALL_HTTP_PORT": str(free_port()),
        "PYTHONPATH": str(ROOT),
    }
    launched = run(["-m", "launch.run"], env)
    assert launched.returncode == 2, launched.stderr
    assert "refusing to start" in launched.stderr
    assert "flashcall.accounts[0] stored at 1000000000, partition ends at" in launched.stderr

    worker = run(["-m", "processors", "worker", "--without-web"], env)
    assert worker.returncode != 0
    assert "flashcall.call-requests[2] stored at 1000000000" in worker.stdout + worker.stderr

    api = run(["-m", "api"], env)
    assert api.returncode != 0
    assert "the API's directory: the database has consumed past the end" in api.stderr


def test_make_run_restarted_on_the_embedded_broker_starts_clean_and_says_so() -> None:
    data_dir = f"var/test-run-{uuid.uuid4().hex[:8]}"
    port = free_port()
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    try:
        with MakeRun(data_dir, port) as first:
            assert "starts with an empty database" not in first.text()
            account = httpx.post(
                f"{first.url}/v1/accounts", json={"name": "Before"}, headers=admin, timeout=30
            )
            assert account.status_code == 201, account.text
        with MakeRun(data_dir, port) as second:
            assert "this run starts with an empty database too" in second.text()
            gone = httpx.get(f"{second.url}/v1/accounts/{account.json()['id']}", headers=admin)
            assert gone.status_code == 404
            old_token = {"Authorization": f"Bearer {account.json()['token']}"}
            assert httpx.get(f"{second.url}/v1/services", headers=old_token).status_code == 401
            again = httpx.post(
                f"{second.url}/v1/accounts", json={"name": "After"}, headers=admin, timeout=30
            )
            assert again.status_code == 201, again.text
    finally:
        shutil.rmtree(ROOT / data_dir, ignore_errors=True)


def test_make_run_in_replica_mode_balances_the_apis_and_lists_every_processs_metrics() -> None:
    data_dir = f"var/test-run-{uuid.uuid4().hex[:8]}"
    port = free_port()
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    try:
        with MakeRun(data_dir, port, FLASHCALL_REPLICAS="api=2,dialer=2") as fleet:
            assert f"running at {fleet.url}  (HAProxy in front of 2 API replicas)" in fleet.text()
            targets = json.loads(Path(ROOT, data_dir, f"run-{port}", "metrics.json").read_text())
            jobs = {t["labels"]["job"]: t["targets"][0] for t in targets}
            assert set(jobs) == {
                "api-1",
                "api-2",
                "worker-decisions",
                "worker-dialer-1",
                "worker-dialer-2",
                "worker-projections",
                "worker-ingress",
            }
            for job, target in jobs.items():
                assert f"{job:<28} http://{target}/metrics" in fleet.text()
                assert target.startswith("127.0.0.1:")  # loopback unless opened

            def answered(target: str) -> float:
                text = httpx.get(f"http://{target}/metrics", timeout=10).text
                return sum(
                    float(line.rsplit(" ", 1)[1])
                    for line in text.splitlines()
                    if line.startswith("flashcall_http_requests_total{")
                    and 'route="/v1/accounts"' in line
                )

            before = {job: answered(jobs[job]) for job in ("api-1", "api-2")}
            for i in range(6):  # through the balancer, round-robin over both replicas
                made = httpx.post(
                    f"{fleet.url}/v1/accounts", json={"name": f"a{i}"}, headers=admin, timeout=30
                )
                assert made.status_code == 201, made.text
            after = {job: answered(jobs[job]) for job in ("api-1", "api-2")}
            assert all(after[job] - before[job] >= 2 for job in after), (before, after)
    finally:
        shutil.rmtree(ROOT / data_dir, ignore_errors=True)
