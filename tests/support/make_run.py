"""`make run` as a test starts it: `python -m launch.run` on the embedded defaults (its own
Tansu and PostgreSQL), on a port and a data folder of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from launch.platform import ROOT
from tests.support.waiting import wait_for


class MakeRun:
    """`python -m launch.run` on the embedded defaults, as `make run` starts it."""

    def __init__(self, data_dir: str, port: int, **settings: str) -> None:
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
        }
        self.env.update(
            FLASHCALL_DATA_DIR=data_dir,
            FLASHCALL_HTTP_PORT=str(port),
            PYTHONPATH=str(ROOT),
            **settings,
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
