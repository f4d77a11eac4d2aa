"""Where a process's CPU goes: py-spy's samples of it while it holds the GIL, each charged to
the deepest part of a path it was in, and its CPU from /proc over the same time
(bench/api_profile.py: the API's call path; bench/stage_profile.py: each stage's)."""

from __future__ import annotations

import collections
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from bench.pipeline import cpu_seconds

# A part of a path: its name and the marks of the frames that belong to it.
Parts = Sequence[tuple[str, tuple[str, ...]]]
OTHER = "anything else"


def spy() -> str | None:
    """py-spy (a dev dependency), or None when it is not installed."""
    found = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    return found if os.path.exists(found) else None


@dataclass
class Sampled:
    """What `sampled` found once its block is over."""

    cpu: float = 0.0  # CPU seconds of the process, every thread
    main: float = 0.0  # of which its first thread's (the event loop's)
    shares: dict[str, float] = field(default_factory=dict)  # each part's share of the samples


@contextlib.contextmanager
def sampled(py_spy: str, pid: int, parts: Parts) -> Iterator[Sampled]:
    """Sample `pid` for as long as the block runs."""
    found = Sampled()
    with tempfile.TemporaryDirectory() as tmp:
        samples = os.path.join(tmp, "samples.txt")
        cpu_before, main_before = cpu_seconds(pid), main_thread_cpu(pid)
        record = ["record", "-p", str(pid), "-r", "200", "-f", "raw", "-o", samples]
        recorder = subprocess.Popen(
            [py_spy, *record, "--gil", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield found
        finally:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its samples and stops
            recorder.wait()
        found.cpu = cpu_seconds(pid) - cpu_before
        found.main = main_thread_cpu(pid) - main_before
        found.shares = charged(samples, parts)


def charged(path: str, parts: Parts) -> dict[str, float]:
    """Each part's share of the samples in py-spy's raw (collapsed) output."""
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            stack, _, n = line.rstrip().rpartition(" ")
            if n.isdigit():  # (py-spy stopped by SIGINT may end on an empty line)
                counts[part_of(stack.split(";"), parts)] += int(n)
    total = sum(counts.values()) or 1
    return {p: counts[p] / total for p in [*(name for name, _ in parts), OTHER]}


def part_of(frames: list[str], parts: Parts) -> str:
    for frame in reversed(frames):
        for name, marks in parts:
            if any(mark in frame for mark in marks):
                return name
    return OTHER


def main_thread_cpu(pid: int) -> float:
    """CPU seconds of the process's first thread (the event loop's)."""
    for task in glob.glob(f"/proc/{pid}/task/{pid}/stat"):
        with open(task, encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0
