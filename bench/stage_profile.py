"""Where each stage's CPU goes (`make bench --only stage-profile`): each stage alone on records
appended straight to the broker, as the `pipeline` section runs it, its worker sampled by py-spy
while it holds the GIL (bench/samples.py), each sample charged to the deepest part it was in."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bench import pipeline
from bench.samples import Parts, Sampled, sampled, spy

# Parts every stage has; a stage adds its own rules (STAGES). Within one frame the first part
# that names it wins: the logging context is the logs', not the rules' of core/.
COMMON: Parts = (
    ("Avro decoding", ("decode (schemas/codec.py",)),
    ("Avro encoding (the outbox's events)", ("encode (schemas/codec.py",)),
    ("PostgreSQL statements (psycopg)", ("psycopg/", "psycopg_pool/")),
    ("producing, delivery reports", ("EventProducer.", "_Deliveries.")),
    ("consuming, the batch's records", ("PartitionedConsumer.", "Consumed.", "futures/")),
    ("the log context, metrics", ("core/logs.py", "prometheus_client/")),
    ("the batch: offsets, dedup, outbox", ("runtime/",)),
)
EVENT_LOOP: Parts = (("the event loop (tasks, timers, wake-ups)", ("asyncio/", "selectors")),)


@dataclass(frozen=True)
class StageSpec:
    rules: Parts  # the stage's own code
    run: Callable[[int, pipeline.Observe], float]  # events a second, its worker observed
    events_per_call: int  # records the stage applies per call it is given


STAGES: dict[str, StageSpec] = {
    "decisions": StageSpec(
        (("the decisions' rules (admission, credit, fraud, ranges)", ("processors/", "core/")),),
        lambda calls, observe: pipeline.decisions_stage(calls, observe=observe),
        1,
    ),
    "dialer": StageSpec(
        (("the dialer's own (claims, outcomes, the simulated carrier)", ("processors/",)),),
        lambda calls, observe: pipeline.dialer_stage(calls, observe=observe),
        1,
    ),
    "projection": StageSpec(
        (("the projection's rules (read model, rollup, reports)", ("projections/",)),),
        lambda calls, observe: pipeline.projection_stage(calls, observe=observe),
        3,
    ),
}


def parts_of(stage: str) -> Parts:
    return (*COMMON, *STAGES[stage].rules, *EVENT_LOOP)


@dataclass
class StageProfile:
    rate: float  # events a second
    cpu_us: float  # the worker's CPU per event, every thread
    main_us: float  # of which its event loop's thread
    parts: dict[str, float]  # µs per event, by part (the event loop thread's share)


def profile(stage: str, calls: int) -> StageProfile | None:
    """None when py-spy is not installed (it is a dev dependency)."""
    py_spy = spy()
    if py_spy is None:
        return None
    spec = STAGES[stage]
    found: list[Sampled] = []

    @contextlib.contextmanager
    def observe(worker: subprocess.Popen[bytes]) -> Iterator[None]:
        with sampled(py_spy, worker.pid, parts_of(stage)) as taken:
            found.append(taken)
            yield

    rate = spec.run(calls, observe)
    events = calls * spec.events_per_call
    main = found[0].main / events * 1e6
    return StageProfile(
        rate,
        found[0].cpu / events * 1e6,
        main,
        {p: share * main for p, share in found[0].shares.items()},
    )
