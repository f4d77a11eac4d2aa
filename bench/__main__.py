"""`make bench`: the platform's figures on this machine, each the median of several rounds.

Sections (`--only` picks some): the SIP carrier against sipp; the Kannel SMS carrier against its
fake SMSC; the processors (a lean hop as the baseline, each stage alone and its ratio to the
hop, an SMS step against a flash call, the whole pipeline with one and with two workers per
role); latency at 1,000 calls/s appended to the broker; the API over HTTP against
a bare endpoint (its ratio, whether the processors keep up, latency at 100 calls/s); reports
over ten million calls; the idle platform's CPU; pumping detection simulated over a day; what
drawing a caller number from ranges costs, and the ranges' health rule simulated over a day;
where the API's CPU goes on a single POST /v1/calls, and each stage's (py-spy).
docs/benchmarks.md explains each figure.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from bench import pipeline
from bench.api_load import api_figures, new_tenant
from bench.api_profile import profile
from bench.capacity import PerCall, capacity
from bench.fraud import fraud_figures
from bench.load import median
from bench.ranges import ranges_figures
from bench.reports import bulk_load, measure
from bench.sip import sip_figures
from bench.sms_gateway import kannel_figures
from bench.stage_profile import STAGES
from bench.stage_profile import profile as stage_profile
from bench.streaming import streaming_figures
from launch.orphans import die_with_parent

SECTIONS = (
    "sip",
    "kannel",
    "pipeline",
    "latency",
    "api",
    "streaming",
    "capacity",
    "reports",
    "idle",
    "fraud",
    "ranges",
    "profile",
    "stage-profile",
)


def rounds_of(n: int, measure_: Callable[[], float]) -> list[float]:
    return [measure_() for _ in range(n)]


def show(label: str, values: Sequence[float], unit: str, baseline: float | None = None) -> None:
    mid = median(list(values))
    ratio = f"  {mid / baseline:5.2f}× the hop" if baseline else ""
    each = ", ".join(f"{v:.0f}" for v in values)
    print(f"  {label:<44} {mid:8.0f} {unit}{ratio}   (each round: {each})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--events", type=int, default=20_000, help="records per stage run")
    parser.add_argument("--report-rows", type=int, default=10_000_000)
    parser.add_argument("--sip-dials", type=int, default=2000)
    parser.add_argument("--kannel-messages", type=int, default=1000)
    parser.add_argument("--stream-calls", type=int, default=20_000, help="calls per streamed round")
    parser.add_argument("--stream-end-to-end", type=int, default=100_000)
    parser.add_argument("--capacity-calls", type=int, default=3000)
    parser.add_argument("--capacity-rate", type=float, default=200.0)
    args = parser.parse_args()
    only = set(args.only.split(","))
    die_with_parent()
    print(
        f"flashcall bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores;"
        f" median of {args.rounds} rounds",
        flush=True,
    )
    if "sip" in only:
        sip(args)
    if "kannel" in only:
        kannel(args)
    if "pipeline" in only:
        processors(args)
    if "latency" in only:
        lat = [pipeline.appended_latency(1000.0, args.seconds) for _ in range(args.rounds)]
        print(
            "  request appended → dial command at 1000/s:"
            f" p50 {median([p for p, _ in lat]) * 1000:.1f} ms"
            f" p99 {median([q for _, q in lat]) * 1000:.1f} ms   (each round's p99: "
            + ", ".join(f"{q * 1000:.0f}" for _, q in lat)
            + ")",
            flush=True,
        )
    if "api" in only:
        api(args)
    if "streaming" in only:
        streaming(args)
    if "capacity" in only:
        print("capacity (what one call costs each part; docs/scaling.md):", flush=True)
        runs = [capacity(args.capacity_calls, args.capacity_rate) for _ in range(args.rounds)]
        for run in runs:
            print(
                "    a round: "
                + ", ".join(f"{n} {us:.0f} µs" for n, us in run.cpu_us.items())
                + f", {run.transactions:.2f} transactions, {run.wal_bytes:.0f} B of WAL",
                flush=True,
            )
        for line in PerCall.median_of(runs).lines():
            print(line, flush=True)
    if "reports" in only:
        reports(args)
    if "fraud" in only:
        print("pumping detection (simulated, the platform's rule):", flush=True)
        print(f"  {fraud_figures()}", flush=True)
    if "ranges" in only:
        print("caller ranges (docs/ranges.md):", flush=True)
        for line in ranges_figures(args.rounds):
            print(f"  {line}", flush=True)
    if "profile" in only:
        call_profile(args)
    if "stage-profile" in only:
        stages_profile(args)
    if "idle" in only:
        idle = [pipeline.idle_cpu() for _ in range(args.rounds)]
        totals = [sum(i.values()) for i in idle]
        names = idle[0].keys()
        print(
            f"  idle platform, % of one core: {median(totals):.1f} in all   ("
            + ", ".join(f"{n} {median([i[n] for i in idle]):.1f}" for n in names)
            + "; each round's total: "
            + ", ".join(f"{t:.1f}" for t in totals)
            + ")",
            flush=True,
        )


NO_PY_SPY = "  py-spy is not installed (make setup installs the dev tools)"


def call_profile(args: argparse.Namespace) -> None:
    """Where the API's CPU goes on POST /v1/calls (bench/api_profile.py)."""
    print("where the API's CPU goes on POST /v1/calls (py-spy, 32 clients, one key):", flush=True)
    done = [r for r in (profile(args.seconds) for _ in range(args.rounds)) if r is not None]
    if not done:
        print(NO_PY_SPY, flush=True)
        return
    show_profiled(f"at {median([r.rate for r in done]):.0f} calls/s:", "call", done)
    bare = median([r.bare_us for r in done])
    print(
        f"  a bare FastAPI endpoint, same server and clients: {bare:.0f}"
        f" µs of CPU per request; a call {median([r.ratio for r in done]):.2f}× it   (each round: "
        + ", ".join(f"{r.ratio:.2f}" for r in done)
        + ")",
        flush=True,
    )


def stages_profile(args: argparse.Namespace) -> None:
    """Where each stage's CPU goes (bench/stage_profile.py), --events records a run."""
    print("where each stage's CPU goes (py-spy, each stage alone):", flush=True)
    for stage in STAGES:
        runs = (stage_profile(stage, args.events) for _ in range(args.rounds))
        done = [r for r in runs if r is not None]
        if not done:
            print(NO_PY_SPY, flush=True)
            return
        show_profiled(f"{stage}, {median([r.rate for r in done]):.0f} events/s:", "event", done)


def show_profiled(head: str, unit: str, done: Sequence[Any]) -> None:
    """A profile's medians: the CPU per `unit`, then each part's."""
    print(
        f"  {head} {median([r.cpu_us for r in done]):.0f} µs of CPU per {unit}, every thread"
        f" ({median([r.main_us for r in done]):.0f} µs the event loop's)   (each round: "
        + ", ".join(f"{r.cpu_us:.0f}" for r in done)
        + ")",
        flush=True,
    )
    for part in done[0].parts:
        print(f"    {part:<64} {median([r.parts[part] for r in done]):6.0f} µs", flush=True)


def sip(args: argparse.Namespace) -> None:
    for dials, cps in ((args.sip_dials, 100_000.0), (args.sip_dials // 5, 100.0)):
        figures = sip_figures(args.rounds, dials, cps)
        print(
            f"  SIP carrier, {dials} dials to sipp (UDP, loopback) paced at {cps:.0f}/s:"
            f" {figures['rate']:.0f} dials/s; INVITE → 180 p50 {figures['p50'] * 1000:.1f} ms"
            f" p90 {figures['p90'] * 1000:.1f} ms p99 {figures['p99'] * 1000:.1f} ms"
            "   (each round: " + ", ".join(f"{r['rate']:.0f}/s" for r in figures["runs"]) + ")",
            flush=True,
        )


def kannel(args: argparse.Namespace) -> None:
    messages = args.kannel_messages
    figures = kannel_figures(args.rounds, messages)
    print(
        f"  Kannel carrier, {messages} Persian SMS through bearerbox and smsbox to the fake"
        f" SMSC, each report recorded: {figures['rate']:.0f} messages/s   (each round: "
        + ", ".join(f"{r['rate']:.0f}/s, {r['received']} received" for r in figures["runs"])
        + ")",
        flush=True,
    )


def processors(args: argparse.Namespace) -> None:
    n, events = args.rounds, args.events
    hop = rounds_of(n, lambda: pipeline.lean_hop(events))
    base = median(hop)
    show("lean hop (baseline)", hop, "events/s")
    show(
        "decisions, 1 hot service",
        rounds_of(n, lambda: pipeline.decisions_stage(events)),
        "events/s",
        base,
    )
    # The account-wide limit's cost (docs/billing.md): every decision about any of one
    # account's services locks the account's row; with two workers they take turns on it.
    for workers in (1, 2):
        for one_account in (False, True):
            show(
                f"decisions, 200 services of {'one account' if one_account else '200 accounts'},"
                f" {workers} worker(s)",
                rounds_of(
                    n,
                    lambda w=workers, o=one_account: pipeline.decisions_stage(events, 200, o, w),
                ),
                "events/s",
                base,
            )
    dials = rounds_of(n, lambda: pipeline.dialer_stage(events))
    show("dialer", dials, "events/s", base)
    # An SMS step against a flash call (docs/workflows.md): the same stage, the same run.
    messages = rounds_of(n, lambda: pipeline.dialer_stage(events, sms=True))
    show("dialer, SMS steps (simulated SMS centre)", messages, "events/s", base)
    print(
        f"  {'SMS steps against flash calls, dialer':<44} {median(messages) / median(dials):8.2f}×"
    )
    show("projection", rounds_of(n, lambda: pipeline.projection_stage(events)), "events/s", base)
    for workers in (1, 2):
        show(
            f"end to end, {workers} worker(s) per role",
            rounds_of(n, lambda w=workers: pipeline.end_to_end(events, w)),
            "calls/s",
        )
    # The same pipeline, each call a one-step workflow of each channel, alternated round by
    # round so that both meet the same machine.
    flash: list[float] = []
    sms: list[float] = []
    for _ in range(n):
        flash.append(pipeline.end_to_end(events, 1, "flash_call"))
        sms.append(pipeline.end_to_end(events, 1, "sms"))
    show("end to end, a flash-call step, 1 worker per role", flash, "calls/s")
    show("end to end, an SMS step, 1 worker per role", sms, "calls/s")
    print(
        f"  {'SMS steps against flash calls, end to end':<44} {median(sms) / median(flash):8.2f}×"
    )


def api(args: argparse.Namespace) -> None:
    loads, latencies = api_figures(args.rounds, args.seconds, args.concurrency, 100.0)
    ms = 1000

    def mid(get: Callable[[Any], float]) -> float:
        return median([get(r) for r in loads])

    print(
        f"  POST /v1/calls (concurrency {args.concurrency}, {args.seconds:.0f} s rounds)"
        f" {mid(lambda r: r.calls_rate):6.0f} calls/s  p50 {mid(lambda r: r.calls_p50) * ms:.1f}"
        f" ms  p99 {mid(lambda r: r.calls_p99) * ms:.1f} ms   non-201: "
        f"{sum(r.refused for r in loads)}\n"
        f"  bare FastAPI endpoint {mid(lambda r: r.bare_rate):6.0f} req/s  p50"
        f" {mid(lambda r: r.bare_p50) * ms:.1f} ms  p99 {mid(lambda r: r.bare_p99) * ms:.1f} ms\n"
        f"  ratio calls/bare {mid(lambda r: r.ratio):.2f}   (each round: "
        + ", ".join(f"{r.ratio:.2f}" for r in loads)
        + ")\n"
        f"  processed while accepting: {mid(lambda r: r.processed_rate / r.calls_rate):.2f} of"
        " the accept rate   (each round: "
        + ", ".join(f"{r.processed_rate:.0f}/{r.calls_rate:.0f}" for r in loads)
        + ")",
        flush=True,
    )
    print(
        f"  request → dial command at 100/s over HTTP (achieved"
        f" {median([r.achieved for r in latencies]):.0f}/s):"
        f" p50 {median([r.p50 for r in latencies]) * ms:.1f} ms"
        f" p99 {median([r.p99 for r in latencies]) * ms:.1f} ms;"
        f" created_at → dialed_at p50 {median([r.dialed_p50 for r in latencies]) * ms:.1f} ms"
        f" p99 {median([r.dialed_p99 for r in latencies]) * ms:.1f} ms",
        flush=True,
    )


def streaming(args: argparse.Namespace) -> None:
    rounds, whole = streaming_figures(args.rounds, args.stream_calls, args.stream_end_to_end)
    show("accepted over one NDJSON stream", [r.http_rate for r in rounds], "calls/s")
    show("accepted over the Kafka ingress", [r.kafka_rate for r in rounds], "calls/s")
    show("API CPU per streamed call", [r.stream_cpu_us for r in rounds], "µs")
    show("API CPU per single POST /v1/calls", [r.single_cpu_us for r in rounds], "µs")
    ratios = [r.cpu_ratio for r in rounds]
    print(
        f"  streamed/single CPU per call {median(ratios):.2f}   (each round: "
        + ", ".join(f"{x:.2f}" for x in ratios)
        + ")",
        flush=True,
    )
    print(
        f"  {whole.calls} calls streamed: all accepted in {whole.accepted_seconds:.1f} s, all"
        f" delivered with their results published in {whole.seconds:.1f} s:"
        f" {whole.rate:.0f} calls/s end to end",
        flush=True,
    )


def reports(args: argparse.Namespace) -> None:
    """Reports over --report-rows calls of one tenant, through an API of their own."""
    with pipeline.stage() as s:
        plat = pipeline.platform(s)
        try:
            plat.start_workers()
            api_proc = plat.start_api("api-reports")
            with httpx.Client(base_url=plat.url, timeout=30) as http:
                account, service, key = new_tenant(http, "reports")
                other = http.post(
                    f"/v1/services/{service['id']}/keys",
                    json={"label": "second"},
                    headers={"Authorization": f"Bearer {account['token']}"},
                ).json()
            started = datetime.now(UTC)
            keys = (key["id"], other["id"])
            bulk_load(s.database_url, account["id"], service["id"], keys, args.report_rows)
            loaded = (datetime.now(UTC) - started).total_seconds()
            figures = [
                measure(plat.url, s.database_url, account, service["id"], key["id"], api_proc.pid)
                for _ in range(args.rounds)
            ]
        finally:
            plat.stop_all()
    for f in figures:
        print(f.line(args.report_rows, loaded), flush=True)


if __name__ == "__main__":
    main()
