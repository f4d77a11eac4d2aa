"""What operators see: /metrics, /healthz and /readyz on the API and on a worker, the counters
and the consumer lag moving, and the `flashcall` command line (lag, rebuild, replay-check, dlq)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest

from launch.platform import ROOT, Platform
from projections.rebuild import READ_MODELS
from tests.support.client import Api, Tenant, random_phone
from tests.support.read_models import settled
from tests.support.topics_replay import end_offsets
from tests.support.waiting import wait_for


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The samples of `name` whose labels include `labels`."""
    found = []
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(match.group(2)))
    return found


def series(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(samples(text, name, **labels))


def scrape(url: str) -> str:
    r = httpx.get(url + "/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return r.text


def flashcall(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launch.ops", *args],
        env=platform.environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def lag_of(platform: Platform, consumer: str) -> int:
    done = flashcall(platform, "lag")
    assert done.returncode == 0, done.stderr
    total = 0
    for line in done.stdout.splitlines()[1:]:
        parts = line.split()
        if parts and parts[0] == consumer:
            total += int(parts[-1].rstrip("*"))  # * marks a row past the broker's mark
    return total


def test_the_api_and_a_worker_answer_health_readiness_and_metrics(
    api: Api, platform: Platform
) -> None:
    worker = f"http://127.0.0.1:{platform.metrics_ports['worker']}"
    for base in (platform.url, worker):
        assert httpx.get(base + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert set(ready.json()["checks"].values()) == {"ok"}
    assert set(httpx.get(platform.url + "/readyz").json()["checks"]) == {
        "postgres",
        "broker",
        "directory",
    }
    assert {"decisions", "dialer", "projection", "ingress", "postgres"} <= set(
        httpx.get(worker + "/readyz").json()["checks"]
    )


def test_a_call_moves_the_counters_and_a_paused_worker_shows_lag(
    api: Api, tenant: Tenant, platform: Platform
) -> None:
    worker_url = f"http://127.0.0.1:{platform.metrics_ports['worker']}"
    before_api, before_worker = scrape(platform.url), scrape(worker_url)
    (proc,) = platform.running("worker")
    proc.send_signal(signal.SIGSTOP)
    try:
        calls = [api.place(tenant.key, random_phone()) for _ in range(3)]
        assert lag_of(platform, "decisions") >= 3  # accepted, not decided yet
    finally:
        proc.send_signal(signal.SIGCONT)
    for call in calls:
        api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=60)
    wait_for(lambda: lag_of(platform, "decisions") == 0, timeout=60, what="the lag to go")
    after_api = scrape(platform.url)
    created = dict(route="/v1/calls", method="POST", status="201")
    name = "flashcall_http_requests_total"
    assert series(after_api, name, **created) >= series(before_api, name, **created) + 3
    assert series(after_api, "flashcall_http_request_duration_seconds_count", route="/v1/calls") > 0

    def moved() -> str | None:
        text = scrape(worker_url)
        applied = "flashcall_events_applied_total"
        kind = dict(consumer="decisions", event_type="CallRequested")
        delivered = "flashcall_dial_outcomes_total"
        grew = series(text, applied, **kind) >= series(before_worker, applied, **kind) + 3 and (
            series(text, delivered, outcome="delivered")
            >= series(before_worker, delivered, outcome="delivered") + 3
        )
        lag = "flashcall_consumer_lag_records"
        measured = samples(text, lag, consumer="decisions", topic="flashcall.call-requests")
        return text if grew and measured and series(text, lag, consumer="decisions") == 0 else None

    text = wait_for(moved, timeout=30, what="the worker's counters to move and its lag to go")
    assert series(text, "flashcall_batch_duration_seconds_count", consumer="decisions") > 0
    assert series(text, "flashcall_calls_decided_total", decision="admitted") >= 3
    assert series(text, "flashcall_request_to_dial_seconds_count") >= 3
    assert "flashcall_outbox_backlog_records" in text


def test_rebuild_shows_its_progress_and_replay_check_compares(
    api: Api, tenant: Tenant, platform: Platform, database_url: str
) -> None:
    api.wait_status(tenant.key, api.place(tenant.key, random_phone())["id"], {"delivered"})
    wait_for(lambda: settled(database_url, end_offsets(platform.bootstrap)), timeout=60)
    rebuilt = flashcall(platform, "rebuild", "--schema", "ops_rebuild_test")
    try:
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "records" in rebuilt.stderr and "ETA" in rebuilt.stderr and "100%" in rebuilt.stderr
        assert "rebuilt into schema ops_rebuild_test: accounts" in rebuilt.stdout
    finally:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS ops_rebuild_test CASCADE")
    checked = flashcall(platform, "replay-check")
    # Codes of earlier tests may expire between the replay and the comparison: those rows
    # differ; every read model is reported either way.
    assert checked.returncode in (0, 1), checked.stderr
    tables = [line.split()[0] for line in checked.stdout.splitlines()]
    assert tables == list(READ_MODELS) and "calls" in tables
    assert re.search(r"^accounts +same$", checked.stdout, re.M)


def test_dlq_is_reachable_through_the_command_line(platform: Platform) -> None:
    listed = flashcall(platform, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    # The last line says how many, or that there are none (never an empty answer).
    last = listed.stdout.splitlines()[-1]
    assert re.fullmatch(r"\d+ record\(s\) parked|no record parked", last), listed.stdout


@pytest.mark.parametrize("command", [["--help"], ["lag", "--help"]])
def test_the_command_line_explains_itself(platform: Platform, command: list[str]) -> None:
    done = flashcall(platform, *command)
    assert done.returncode == 0 and "usage: flashcall" in done.stdout
