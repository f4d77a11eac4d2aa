"""schemas/logical.py converts Avro's logical types as fastavro's own conversion does: every
schema's records, written through a plan, are the bytes fastavro writes, and read back through
a plan, the values fastavro reads (fastavro is the oracle here, not the code under test)."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import fastavro.read
import fastavro.write
import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.logical import datetime_of, micros_of, plan_of, uuid_of
from schemas.registry import registry
from tests.support.avro_samples import sample

REGISTRY = registry()
SCHEMAS = [(t, "current", text) for t, text in REGISTRY.current_text().items()] + [
    (v.event_type, f"v{v.number}", v.text) for vs in REGISTRY.released().values() for v in vs
]


def nulls(schema: dict[str, Any]) -> dict[str, Any]:
    """`sample(schema)` with every nullable field null."""
    record = sample(schema)
    for field in schema["fields"]:
        if isinstance(field["type"], list) and "null" in field["type"]:
            record[field["name"]] = None
    return record


def written(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    schemaless_writer(out, schema, record)
    return out.getvalue()


@pytest.mark.parametrize(
    ("event_type", "version", "text"), SCHEMAS, ids=[f"{t}-{v}" for t, v, _ in SCHEMAS]
)
def test_a_plan_writes_and_reads_what_fastavro_does(
    event_type: str, version: str, text: dict[str, Any]
) -> None:
    schema = parse_schema(text)
    plan = plan_of(schema)
    assert plan is not None  # every schema of ours has one
    for record in (sample(text), nulls(text)):
        before = dict(record)
        ours = written(plan.plain, plan.write(record))
        assert ours == written(schema, record)
        assert record == before  # the event written is not changed
        theirs = schemaless_reader(io.BytesIO(ours), schema, None)
        assert plan.read(schemaless_reader(io.BytesIO(ours), plan.plain, None)) == theirs


def test_a_union_of_a_uuid_and_another_text_has_no_plan() -> None:
    """Once plain, a uuid and a text in one union could not be told apart: fastavro converts."""
    schema = parse_schema(
        {
            "type": "record",
            "name": "Odd",
            "fields": [{"name": "v", "type": [{"type": "string", "logicalType": "uuid"}, "long"]}],
        }
    )
    assert plan_of(schema) is None


def test_a_named_record_used_twice_converts_both_times() -> None:
    stamp = {"type": "long", "logicalType": "timestamp-micros"}
    text = {
        "type": "record",
        "name": "Pair",
        "fields": [
            {
                "name": "a",
                "type": {"type": "record", "name": "At", "fields": [{"name": "t", "type": stamp}]},
            },
            {"name": "b", "type": "At"},
        ],
    }
    schema = parse_schema(text)
    plan = plan_of(schema)
    assert plan is not None
    at = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)
    record = {"a": {"t": at}, "b": {"t": at + timedelta(seconds=1)}}
    body = written(plan.plain, plan.write(record))
    assert body == written(schema, record)
    assert plan.read(schemaless_reader(io.BytesIO(body), plan.plain, None)) == record


@pytest.mark.parametrize(
    "text",
    [
        "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "6BA7B810-9DAD-11D1-80B4-00C04FD430C8",
        "{6ba7b810-9dad-11d1-80b4-00c04fd430c8}",
        "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        "6ba7b8109dad11d180b400c04fd430c8",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ],
)
def test_a_uuid_is_read_as_uuid_UUID_reads_it(text: str) -> None:
    value = uuid_of(text)
    assert type(value) is uuid.UUID
    assert (value, value.int, value.is_safe, str(value)) == (
        uuid.UUID(text),
        uuid.UUID(text).int,
        uuid.SafeUUID.unknown,
        str(uuid.UUID(text)),
    )
    assert hash(value) == hash(uuid.UUID(text))


@pytest.mark.parametrize(
    "text", ["6ba7b810-9dad-11d1-80b4-00c04fd430cg", "6ba7b810-9dad-11d1-80b4", "x" * 36, ""]
)
def test_a_text_uuid_UUID_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        uuid.UUID(text)
    with pytest.raises(ValueError):
        uuid_of(text)


@pytest.mark.parametrize(
    "micros", [0, 1, -1, 1_796_000_000_123_456, -86_400_000_001, 253_402_300_799_999_999]
)
def test_microseconds_and_datetimes_convert_both_ways(micros: int) -> None:
    at = fastavro.read.LOGICAL_READERS["long-timestamp-micros"](micros, None, None)
    assert datetime_of(micros) == at and datetime_of(micros).tzinfo is UTC
    assert micros_of(at) == micros
    assert micros_of(at.astimezone(timezone(timedelta(hours=-3, minutes=-30)))) == micros
    assert micros_of(micros) == micros
    naive = datetime(2026, 12, 7, 7, 30)  # fastavro's local time: what it does, we do
    assert micros_of(naive) == fastavro.write.LOGICAL_WRITERS["long-timestamp-micros"](naive, {})
