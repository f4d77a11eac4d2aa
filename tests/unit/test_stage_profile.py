"""The stage profile's charging of samples to the parts of a stage (bench/stage_profile.py)."""

from __future__ import annotations

from bench.samples import part_of
from bench.stage_profile import parts_of

APPLY = "apply_records (runtime/batches.py:90)"
ADMIT = "admit (processors/decisions/admission.py:48)"
DIAL = "Dialer._dial (processors/dialer.py:90)"


def test_a_stage_sample_is_charged_to_the_deepest_part_it_was_in() -> None:
    decisions, dialer = parts_of("decisions"), parts_of("dialer")
    # A statement the rules make is PostgreSQL's, not the rules'.
    execute = "AsyncCursor.execute (psycopg/cursor_async.py:9)"
    assert part_of([APPLY, ADMIT, execute], decisions) == "PostgreSQL statements (psycopg)"
    # A derived id made by the rules (core/ids.py) is the rules'.
    assert part_of(
        [APPLY, ADMIT, "derived_id (core/ids.py:12)", "uuid5 (uuid.py:1)"], decisions
    ) == ("the decisions' rules (admission, credit, fraud, ranges)")
    # The log context (core/logs.py) is the logs', though core/ is the decisions' rules.
    assert part_of([DIAL, "bind_task (core/logs.py:36)"], decisions) == "the log context, metrics"
    # The simulated carrier's sleep is the event loop's timers.
    sleep = "sleep (asyncio/tasks.py:643)"
    assert part_of([DIAL, "SimCarrier.dial (processors/carriers.py:120)", sleep], dialer) == (
        "the event loop (tasks, timers, wake-ups)"
    )
    assert part_of([APPLY, "decode (schemas/codec.py:211)"], dialer) == "Avro decoding"
    assert part_of([APPLY, "Outbox.write (runtime/outbox.py:55)"], dialer) == (
        "the batch: offsets, dedup, outbox"
    )
    assert part_of(["run (threading.py:1)"], dialer) == "anything else"
