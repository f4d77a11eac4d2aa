"""The documented analyst consumer, run as documented, finds each call's final state, and
reads records of every released version of CallReported."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from typing import Any

from fastavro import parse_schema, schemaless_writer

from launch.platform import ROOT, Platform
from schemas.codec import MAGIC
from schemas.registry import registry
from tests.support.avro_samples import sample
from tests.support.client import Api, random_phone
from tests.support.waiting import wait_for

CONSUMER = ROOT / "docs" / "examples" / "conversion_by_day.py"


def run_consumer(bootstrap: str) -> str:
    result = subprocess.run(
        [sys.executable, str(CONSUMER), bootstrap, str(ROOT / "schemas")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_conversion_per_service_per_day(platform: Platform) -> None:
    api = Api(platform.url)
    try:
        tenant = api.tenant()
        phones = [random_phone() for _ in range(3)]
        calls = [api.place(tenant.key, p) for p in phones] + [
            api.place(tenant.key, random_phone("1111"))
        ]
        code = api.code_for(phones[0], 5)
        api.wait_status(tenant.key, calls[0]["id"], {"delivered"})

        def judged() -> dict[str, Any] | None:  # asked again while the decisions catch up
            verdict: dict[str, Any] = api.verify(tenant.key, calls[0]["id"], code)
            return None if verdict["reason"] == "not_delivered" else verdict

        assert wait_for(judged, what="the decisions to know of the ring")["verified"]
        for call in calls[1:3]:
            api.wait_status(tenant.key, call["id"], {"delivered"})
        api.wait_status(tenant.key, calls[3]["id"], {"failed"})
        day = calls[0]["created_at"][:10]

        def line() -> str | None:
            for row in run_consumer(platform.bootstrap).splitlines():
                if row.startswith(tenant.service_id):
                    fields = row.split()
                    if fields[1:] == [day, "3", "1", "0.333"]:
                        return row
            return None

        assert wait_for(line, timeout=30, what="the report topic to reach the final states")
    finally:
        api.close()


def test_the_example_reads_every_released_version() -> None:
    spec = importlib.util.spec_from_file_location("conversion_by_day", CONSUMER)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    root = ROOT / "schemas"
    reader, writers = (
        example.parse(root / "events" / "CallReported.avsc"),
        example.writer_schemas(root),
    )
    released = registry().released()["CallReported"]
    assert len(writers) == len(released) >= 2
    for version in released:
        record = sample(version.text)
        out = io.BytesIO()
        out.write(MAGIC + version.fingerprint)
        schemaless_writer(out, parse_schema(version.text), record)
        read = example.read(out.getvalue(), reader, writers)
        assert read["call_id"] == record["call_id"] and read["status"] == record["status"]
