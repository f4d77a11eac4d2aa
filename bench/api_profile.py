"""Where the API's CPU goes on `POST /v1/calls` (`make bench --only profile`): the API, a
broker, a database and the projection (which account and key creation wait for; no other
worker, so that the machine's second core is the load's), 32 keep-alive clients on one key,
the API's CPU per accepted call from /proc, and py-spy's samples of the API while it holds the
GIL, each charged to the deepest part of the call path it was in."""

from __future__ import annotations

import asyncio
import collections
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import httpx

from bench.api_load import new_tenant
from bench.load import closed_loop
from bench.pipeline import cpu_seconds, platform, stage

# The parts of the call path, each by frames that belong to it; a sample is charged to the
# deepest frame it holds that names one (Avro inside the append is Avro's).
SERVER = "the HTTP server and the event loop (uvicorn, asyncio)"
PARTS = (
    (SERVER, ("uvicorn/", "asyncio/", "uvloop")),
    ("Starlette and FastAPI (routing, dependencies, middleware)", ("fastapi/", "starlette/")),
    ("authentication and the request's body", ("FastCalls._ordinary",)),
    ("the phone number (parsing, destination rule)", ("parse_phone", "check_destination")),
    ("the limits' round trip (PostgreSQL)", ("SharedLimits.",)),
    (
        "the service, credit and range checks, the caller number",
        ("active_service", "request_event"),
    ),
    ("Avro", ("encode (schemas/codec.py",)),
    ("the append and its acknowledgement", ("EventProducer.", "Context.append", "_settle")),
    ("the answer (response model, JSON)", ("created_as", "placed_body", "call_body")),
    ("the request metrics", ("RequestMetrics.",)),
    ("the directory feed", ("EventFeed.",)),
)
OTHER = "anything else"


@dataclass
class Profile:
    cpu_us: float  # the API's CPU per accepted POST, every thread
    main_us: float  # of which its Python thread
    rate: float  # accepted calls/s while measured
    parts: dict[str, float]  # µs per accepted POST, by part (the Python thread's share)


def profile(seconds: float = 10.0) -> Profile | None:
    """None when py-spy is not installed (it is a dev dependency)."""
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        return None
    with stage() as s:
        plat = platform(s)
        try:
            plat.start_worker("projections", roles="projections")
            api = plat.start_api()
            with httpx.Client(base_url=plat.url, timeout=30) as http:
                key = new_tenant(http, "profile")[2]["key"]
            url = plat.url + "/v1/calls"

            def auth() -> dict[str, str]:
                return {"Authorization": f"Bearer {key}"}

            asyncio.run(closed_loop(url, auth, 32, 3))  # warm-up
            with tempfile.TemporaryDirectory() as tmp:
                samples = os.path.join(tmp, "samples.txt")
                cpu_before, main_before = cpu_seconds(api.pid), _main_thread_cpu(api.pid)
                record = ["record", "-p", str(api.pid), "-r", "200", "-d", str(int(seconds))]
                recorder = subprocess.Popen(
                    [spy, *record, "-f", "raw", "-o", samples, "--gil", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                done = asyncio.run(closed_loop(url, auth, 32, seconds))
                recorder.wait()
                calls = max(done.ok, 1)
                cpu = (cpu_seconds(api.pid) - cpu_before) / calls * 1e6
                main = (_main_thread_cpu(api.pid) - main_before) / calls * 1e6
                shares = charged(samples)
            return Profile(cpu, main, done.rate, {p: share * main for p, share in shares.items()})
        finally:
            plat.stop_all()


def charged(path: str) -> dict[str, float]:
    """Each part's share of the samples in py-spy's raw (collapsed) output."""
    counts: collections.Counter[str] = collections.Counter()
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            stack, _, n = line.rstrip().rpartition(" ")
            counts[part_of(stack.split(";"))] += int(n)
    total = sum(counts.values()) or 1
    return {p: counts[p] / total for p in [*(name for name, _ in PARTS), OTHER]}


def part_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, marks in PARTS:
            if any(mark in frame for mark in marks):
                return name
    return OTHER


def _main_thread_cpu(pid: int) -> float:
    """CPU seconds of the process's first thread (the event loop's)."""
    for task in glob.glob(f"/proc/{pid}/task/{pid}/stat"):
        with open(task, encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0
