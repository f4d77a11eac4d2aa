"""An upgrade while calls flow: the platform at the previous release (0.1.0, the tree of its
commit), two API replicas behind HAProxy and one worker of each role, under load; each process
is replaced by one of this tree, one at a time, the workers first: a new worker joins its group
before the old one leaves, a new API replica enters the balancer before the old one is taken
out. The first new process applies the migrations the old release does not know while the old
ones keep running (expand/contract: docs/operations.md, "Upgrades"). Every accepted call is
settled, dialled once and billed once, and every key issued on the old release still places
calls."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psycopg
import pytest

from bench.chaos import Load, Outcome, count, load_until, served, stage, tenants
from launch.platform import ROOT, WORKER_ROLES, Code
from tests.conftest import _server_url
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

# 0.1.0 (CHANGELOG.md): the release this tree upgrades from.
PREVIOUS_RELEASE = "45fef346955366afe90492afe4d4d10b77c698a0"
# Its last migration; this tree adds 017 to 021.
PREVIOUS_MIGRATION = "016_jalali_dates"
RATE = 30.0  # calls a second through the balancer, all along


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's tree (git archive of its commit), run with this environment's
    interpreter: its dependencies are the same pins."""
    tree = tmp_path_factory.mktemp("flashcall-0.1.0")
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_RELEASE], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def migrations(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    return [str(v) for (v,) in rows]


def build_versions(urls: dict[str, str]) -> dict[str, str]:
    """The `flashcall_build_info` version each process exports ("none" where it has none)."""
    versions = {}
    for name, url in urls.items():
        text = httpx.get(url, timeout=5).text
        line = next((x for x in text.splitlines() if x.startswith("flashcall_build_info{")), "")
        versions[name] = line.split('version="')[1].split('"')[0] if line else "none"
    return versions


def known_to_every_replica(ports: dict[str, int], keys: list[tuple[str, str]]) -> bool:
    """Whether every API replica knows every key. 0.1.0 had no catch-up across replicas (#29
    brought it): a key issued through one replica was unknown to the other (401) until its
    feed brought it. Asked with a call id that is no id: 422 once the key is known."""
    return all(
        httpx.get(
            f"http://127.0.0.1:{port}/v1/calls/no-call",
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).status_code
        != 401
        for port in ports.values()
        for key, _ in keys
    )


def test_each_process_is_replaced_while_calls_flow(previous_release: Path, tmp_path: Path) -> None:
    old, new = Code(sys.executable, previous_release), Code()
    with stage(_server_url(), log_dir=tmp_path / "logs", replicas={"api": 2}, code=old) as st:
        plat = st.platform
        assert migrations(st.database_url)[-1] == PREVIOUS_MIGRATION
        assert set(build_versions(plat.metrics_urls()).values()) == {"none"}, "0.1.0 had none"
        keys = tenants(plat.url, 3)  # issued on the old release
        wait_for(lambda: known_to_every_replica(plat.api_ports, keys) or None, what="the keys")
        load, stop = Load(), threading.Event()
        loader = threading.Thread(
            target=lambda: asyncio.run(load_until(plat.url, keys, RATE, stop, load, careful=True)),
            daemon=True,
        )
        loader.start()
        try:
            # The readers of a changed event before its writers (docs/operations.md): the
            # workers first (the first new one migrates while the APIs are still 0.1.0), so
            # every record the new APIs write (CallRequested v4) finds readers that know it.
            for i, roles in enumerate(WORKER_ROLES):
                short = roles.split(",")[0]
                before = len(load.accepted)
                wait_for(lambda b=before: len(load.accepted) >= b + 20 or None, what="calls")
                [previous] = plat.running(f"worker-{short}")
                plat.start_worker(f"new-worker-{short}", roles, code=new)
                plat.stop(previous)
                if i == 0:
                    assert migrations(st.database_url)[-9:] == [
                        "021_workflows",
                        "022_caller_ranges",
                        "023_idempotency_claims",
                        "024_carrier_pace",
                        "025_idempotency_drawn",
                        "026_idempotency_forgotten",
                        "027_consumer_groups",
                        "028_dial_claims_alive",
                        "029_indexes_concurrently",
                    ]
            for i, name in enumerate(["api-1", "api-2"]):
                before = len(load.accepted)
                wait_for(lambda b=before: len(load.accepted) >= b + 20 or None, what="calls")
                plat.add_api(f"api-{i + 3}", new)
                plat.retire_api(name)
            before = len(load.accepted)
            wait_for(lambda b=before: len(load.accepted) >= b + 20 or None, what="calls")
        finally:
            stop.set()
            loader.join()
        outcome = Outcome("upgrade")
        count(st, load, {service for _, service in keys}, outcome)
        print(outcome.line(), f"resent {load.resent}")  # the figures, for docs/operations.md
        assert outcome.accepted > 150
        assert (outcome.lost, outcome.stuck, outcome.double_dials) == (0, 0, 0)
        assert outcome.problems == [] and outcome.billed
        # A request on a keep-alive connection the balancer's reload closes gets no answer: the
        # client sends it again (same reference, same call). None is refused.
        assert outcome.refusals == {}, "no request is refused while a process is replaced"
        for key, _ in keys:
            assert served(plat.url, key, st.database_url), "a key of 0.1.0 places calls"
        assert set(build_versions(plat.metrics_urls()).values()) == {"0.2.0"}
