"""Restarts are consistent: a database that remembers records its broker no longer has is
refused with a clear error by everything that would consume from it, and `make run` restarted
on its memory-only embedded broker starts clean and says so; never a half state."""

from __future__ import annotations

import os
import shutil
import signal
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
from tests.support.waiting import wait_for


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


class MakeRun:
    """`python -m launch.run` on the embedded defaults, as `make run` starts it."""

    def __init__(self, data_dir: str, port: int) -> None:
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
        }
        self.env.update(
            FLASHCALL_DATA_DIR=data_dir, FLASHCALL_HTTP_PORT=str(port), PYTHONPATH=str(ROOT)
        )
        self.url = f"http://127.0.0.1:{port}"
        self.output = Path(ROOT, data_dir, f"make-run-{uuid.uuid4().hex[:6]}.out")

    def __enter__(self) -> MakeRun:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "launch.run"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            lambda: "flashcall is running" in self.text() or self.proc.poll() is not None,
            timeout=120,
            what="make run to start",
        )
        assert self.proc.poll() is None, self.text()
        return self

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def __exit__(self, *_: object) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


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
