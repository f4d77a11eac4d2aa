"""Where the API's CPU goes on `POST /v1/calls` (`make bench --only profile`): the API, a
broker, a database and the projection (which account and key creation wait for; no other
worker, so that the machine's second core is the load's), 32 keep-alive clients on one key,
the API's CPU per accepted call from /proc, and py-spy's samples of the API while it holds the
GIL, each charged to the deepest part of the call path it was in. The baseline, in the same
round: a bare FastAPI endpoint (bench/bare_app.py) under the same server and clients, its CPU
per request from /proc (#36's aim: a call at most 1.5× it)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass

import httpx

from bench.api_load import new_tenant
from bench.load import closed_loop
from bench.pipeline import cpu_seconds, platform, stage
from bench.samples import sampled, spy
from launch.orphans import die_with_parent
from launch.platform import ROOT
from launch.ports import free_port, wait_for_port

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


@dataclass
class Profile:
    cpu_us: float  # the API's CPU per accepted POST, every thread
    main_us: float  # of which its Python thread
    rate: float  # accepted calls/s while measured
    parts: dict[str, float]  # µs per accepted POST, by part (the Python thread's share)
    bare_us: float  # the bare endpoint's CPU per request, same server and clients

    @property
    def ratio(self) -> float:
        return self.cpu_us / self.bare_us


def profile(seconds: float = 10.0) -> Profile | None:
    """None when py-spy is not installed (it is a dev dependency)."""
    py_spy = spy()
    if py_spy is None:
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
            with sampled(py_spy, api.pid, PARTS) as found:
                done = asyncio.run(closed_loop(url, auth, 32, seconds))
            calls = max(done.ok, 1)
            main = found.main / calls * 1e6
            return Profile(
                found.cpu / calls * 1e6,
                main,
                done.rate,
                {p: share * main for p, share in found.shares.items()},
                bare_cpu_us(seconds),
            )
        finally:
            plat.stop_all()


def bare_cpu_us(seconds: float) -> float:
    """The bare endpoint's CPU per answered request under 32 keep-alive clients."""
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", str(port)], cwd=ROOT, preexec_fn=die_with_parent
    )
    try:
        wait_for_port("127.0.0.1", port)
        url = f"http://127.0.0.1:{port}/bare"
        asyncio.run(closed_loop(url, dict, 32, 3))  # warm-up, as the API's
        before = cpu_seconds(bare.pid)
        done = asyncio.run(closed_loop(url, dict, 32, seconds))
        return (cpu_seconds(bare.pid) - before) / max(done.ok, 1) * 1e6
    finally:
        bare.terminate()
        bare.wait()
