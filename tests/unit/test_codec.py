"""Every event schema round-trips, and stays backward compatible with its released version."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from schemas.codec import (
    RELEASED_DIR,
    SCHEMA_DIR,
    UnknownSchema,
    decode,
    encode,
    new_event,
    schemas,
)
from schemas.topics import ALL_TOPICS, TOPIC_OF_EVENT

EVENT_TYPES = sorted(p.stem for p in SCHEMA_DIR.glob("*.avsc"))


def sample(schema: dict[str, Any]) -> dict[str, Any]:
    """A record filling every field of `schema` with a value of its type."""
    values: dict[str, Any] = {}
    for field in schema["fields"]:
        kind = field["type"]
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        if isinstance(kind, dict):
            logical = kind.get("logicalType")
            values[field["name"]] = (
                uuid.uuid4() if logical == "uuid" else datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
            )
        else:
            values[field["name"]] = {
                "string": "x",
                "int": 7,
                "long": 7,
                "boolean": True,
                "double": 1.5,
            }[kind]
    return values


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_round_trip(event_type: str) -> None:
    raw = json.loads((SCHEMA_DIR / f"{event_type}.avsc").read_text())
    assert raw["namespace"] == "io.flashcall.events"
    names = {f["name"] for f in raw["fields"]}
    assert {"event_id", "occurred_at", "schema_version"} <= names
    fields = {
        k: v
        for k, v in sample(raw).items()
        if k not in {"event_id", "occurred_at", "schema_version"}
    }
    event = new_event(event_type, **fields)
    decoded = decode(encode(event))
    assert decoded["event_type"] == event_type
    for key, value in fields.items():
        assert decoded[key] == value


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_backward_compatible_with_released_version(event_type: str) -> None:
    released_path = RELEASED_DIR / f"{event_type}.avsc"
    assert released_path.exists(), "a new event type needs its released copy committed"
    released = json.loads(released_path.read_text())
    old = parse_schema(released)
    buffer = io.BytesIO()
    record = sample(released)
    schemaless_writer(buffer, old, record)
    buffer.seek(0)
    # Data written with the released schema must be readable with the current one.
    read = schemaless_reader(buffer, old, schemas()[event_type])
    assert isinstance(read, dict)
    for key in record:
        if key in read:
            assert read[key] == record[key]


def test_every_event_belongs_to_exactly_one_topic_with_its_key() -> None:
    assert set(TOPIC_OF_EVENT) == set(EVENT_TYPES)
    for topic in ALL_TOPICS:
        for event_type in topic.events:
            fields = {
                f["name"]
                for f in json.loads((SCHEMA_DIR / f"{event_type}.avsc").read_text())["fields"]
            }
            assert topic.key_field in fields, (topic.name, event_type)


def test_unknown_records_are_refused() -> None:
    with pytest.raises(UnknownSchema):
        decode(b"{}")
    with pytest.raises(UnknownSchema):
        decode(b"\xc3\x01" + b"\x00" * 8 + b"rest")
