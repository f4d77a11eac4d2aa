"""Under FLASHCALL_LOG_FORMAT=json a worker writes JSON lines and nothing else: no faust banner,
no colours, its first lines included (log collectors parse every line)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from launch.broker import started_broker
from launch.platform import ROOT
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_worker_under_json_logging_writes_only_json_lines(
    quiet_database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with started_broker(None) as (bootstrap, _), log.open("wb") as out:
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": quiet_database_url,
            "FLASHCALL_LOG_FORMAT": "json",
            "FLASHCALL_PROCESSOR_ROLES": "dialer",
            "PYTHONPATH": str(ROOT),
        }
        worker = subprocess.Popen(
            [sys.executable, "-m", "processors", "worker", "--without-web", "--loglevel", "info"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            wait_for(
                lambda: b"assigned" in log.read_bytes() or worker.poll() is not None,
                timeout=60,
                what="the worker to get its partitions",
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
    raw = log.read_bytes()
    assert b"\x1b[" not in raw, "no terminal colours"
    lines = raw.decode().splitlines()
    assert len(lines) >= 5
    for line in lines:
        record = json.loads(line)  # every line: the banner and faust's first lines too
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert any("assigned" in json.loads(line)["message"] for line in lines)
