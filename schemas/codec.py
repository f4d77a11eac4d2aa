"""Avro encoding of events: single-object encoding (magic C3 01, CRC-64-AVRO fingerprint, body).

The fingerprint names the writer schema, so a reader needs only the files in schemas/events
(no registry) to decode any record; docs/events.md shows how.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from schemas.text import forbidden_character

SCHEMA_DIR = Path(__file__).parent / "events"
RELEASED_DIR = Path(__file__).parent / "released"
MAGIC = b"\xc3\x01"
HEADER_EVENT_TYPE = "event_type"

Event = dict[str, Any]


class Undecodable(ValueError):
    """The record cannot be read as an event."""


class UnknownSchema(Undecodable):
    """The record was written with a schema this build does not know."""


class UnstorableEvent(ValueError):
    """The event holds text no consumer could store (the API refuses such input first)."""


@cache
def schemas() -> dict[str, Any]:
    """Parsed schema of every event type, by its short name."""
    return {
        p.stem: parse_schema(json.loads(p.read_text())) for p in sorted(SCHEMA_DIR.glob("*.avsc"))
    }


@cache
def _fingerprints() -> dict[bytes, str]:
    return {_fingerprint(s): name for name, s in schemas().items()}


def _fingerprint(parsed: Any) -> bytes:
    # CRC-64-AVRO is little-endian in single-object encoding.
    return int(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"), 16).to_bytes(
        8, "little"
    )


@cache
def _fingerprint_of(event_type: str) -> bytes:
    return _fingerprint(schemas()[event_type])


def new_event(event_type: str, event_id: str | None = None, **fields: Any) -> Event:
    """An event record of `event_type` with its envelope filled in."""
    if event_type not in schemas():
        raise KeyError(event_type)
    return {
        "event_type": event_type,
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": fields.pop("occurred_at", None) or datetime.now(UTC),
        "schema_version": 1,
        **fields,
    }


def encode(event: Event) -> bytes:
    """Encode an event made by `new_event` (its `event_type` picks the schema)."""
    event_type = event["event_type"]
    for name, value in event.items():
        if isinstance(value, str) and forbidden_character(value) is not None:
            raise UnstorableEvent(f"{event_type}.{name} holds a control character")
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(_fingerprint_of(event_type))
    schemaless_writer(out, schemas()[event_type], event)
    return out.getvalue()


def decode(data: bytes) -> Event:
    """Decode a single-object-encoded record into an event dict with its `event_type`."""
    if data[:2] != MAGIC:
        raise UnknownSchema("not an Avro single-object record")
    event_type = _fingerprints().get(data[2:10])
    if event_type is None:
        raise UnknownSchema(f"unknown schema fingerprint {data[2:10].hex()}")
    try:
        record = schemaless_reader(io.BytesIO(data[10:]), schemas()[event_type], None)
    except Exception as exc:  # fastavro raises what the truncated or garbled body provokes
        raise Undecodable(f"a {event_type} record that does not decode: {exc!r}") from exc
    assert isinstance(record, dict)
    record["event_type"] = event_type
    return record
