"""The profile's charging of samples to parts of the call path (bench/api_profile.py,
bench/samples.py)."""

from __future__ import annotations

from pathlib import Path

from bench.api_profile import PARTS
from bench.samples import charged, part_of

PLACE = "place_call (front_door/single_call.py:70)"
ENCODE = "encode (schemas/codec.py:170)"
APPEND = "EventProducer.append (producers/event_producer.py:117)"


def test_a_sample_is_charged_to_the_deepest_part_it_was_in() -> None:
    # Avro inside the append: Avro's, not the append's.
    assert part_of(["Runner.run (asyncio/runners.py:118)", PLACE, APPEND, ENCODE], PARTS) == "Avro"
    assert (
        part_of(["Runner.run (asyncio/runners.py:118)", PLACE, APPEND], PARTS)
        == "the append and its acknowledgement"
    )
    server = "the HTTP server and the event loop (uvicorn, asyncio)"
    assert (
        part_of(["Runner.run (asyncio/runners.py:118)", "send (uvicorn/x.py:1)"], PARTS) == server
    )
    # uvicorn's send under the metrics' wrapper of it is the server's.
    metrics = "RequestMetrics.__call__.<locals>.sending (api/observability.py:44)"
    assert part_of(
        ["Runner.run (asyncio/runners.py:118)", metrics, "send (uvicorn/x.py:1)"], PARTS
    ) == (server)
    assert (
        part_of([metrics, "observe (prometheus_client/metrics.py:9)"], PARTS)
        == "the request metrics"
    )
    assert part_of(["solve_dependencies (fastapi/dependencies/utils.py:5)"], PARTS) == (
        "Starlette and FastAPI (routing, dependencies, middleware)"
    )


def test_shares_are_counted_from_py_spys_raw_lines(tmp_path: Path) -> None:
    raw = tmp_path / "samples.txt"
    raw.write_text(
        f"Runner.run (a.py:1);{PLACE};{APPEND};{ENCODE} 3\n"
        f"Runner.run (a.py:1);{PLACE};{APPEND} 1\n"
        "Runner.run (asyncio/runners.py:1) 4\n\n",
        encoding="utf-8",
    )
    shares = charged(str(raw), PARTS)
    assert shares["Avro"] == 3 / 8
    assert shares["the append and its acknowledgement"] == 1 / 8
    assert shares["the HTTP server and the event loop (uvicorn, asyncio)"] == 4 / 8
    assert shares["the limits' round trip (PostgreSQL)"] == 0
