"""Restarts the platform's processes when they die: one failure never stops the others.

A child that exits is started again after a backoff (1 s, doubling to 30 s, back to 1 s once a
child has run a minute), with a log line each time. The broker and the database are not
children of the supervisor: a worker or the API dying never takes them down.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0

Start = Callable[[], subprocess.Popen[bytes]]


@dataclass
class Child:
    name: str
    start: Start
    proc: subprocess.Popen[bytes]
    started_at: float
    backoff: float = FIRST_BACKOFF
    restart_at: float | None = None
    restarts: int = 0


def _log(line: str) -> None:
    print(f"[supervisor] {line}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, log: Callable[[str], None] = _log) -> None:
        self._children: dict[str, Child] = {}
        self._log = log
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, name: str, proc: subprocess.Popen[bytes], start: Start) -> None:
        """Restart `proc` with `start` whenever it exits (until `forget` or `close`)."""
        with self._lock:
            self._children[name] = Child(name, start, proc, time.monotonic())

    def forget(self, name: str) -> None:
        with self._lock:
            self._children.pop(name, None)

    def restarts(self, name: str) -> int:
        with self._lock:
            child = self._children.get(name)
            return child.restarts if child else 0

    def tick(self) -> None:
        """Notice exits and start what is due."""
        now = time.monotonic()
        with self._lock:
            for child in self._children.values():
                if child.restart_at is None:
                    code = child.proc.poll()
                    if code is None:
                        if now - child.started_at > HEALTHY_AFTER:
                            child.backoff = FIRST_BACKOFF
                        continue
                    child.restart_at = now + child.backoff
                    self._log(
                        f"{child.name} exited with {code}; restarting in {child.backoff:.0f} s"
                        f" (restart {child.restarts + 1})"
                    )
                    child.backoff = min(child.backoff * 2, MAX_BACKOFF)
                elif now >= child.restart_at:
                    try:
                        child.proc = child.start()
                    except Exception as exc:  # could not even spawn it: try again later
                        self._log(f"{child.name} could not be started: {exc!r}")
                        child.restart_at = now + child.backoff
                        continue
                    child.started_at, child.restart_at = now, None
                    child.restarts += 1
                    self._log(f"{child.name} restarted (pid {child.proc.pid})")

    def run_in_background(self, interval: float = 0.2) -> None:
        # Children this thread starts die with it (PR_SET_PDEATHSIG follows the thread that
        # forked), so it must not die of an error: it logs and goes on.
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.tick()
                except Exception as exc:
                    self._log(f"could not look after the children: {exc!r}")

        self._thread = threading.Thread(target=loop, name="supervisor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._children.clear()
