"""Avro encoding of events: single-object encoding (magic C3 01, CRC-64-AVRO fingerprint, body).

An event is written with the oldest released version of its type that holds every value it
has: a field added since that version and left at its default is not needed to say it (its
readers fill the default in). So a build writes a new version only for events that use what it
added, and the builds before it, which do not know that version, keep reading everything else
(a worker of the previous release beside a new one during an upgrade). A record is read with its own
writer schema, found by its fingerprint among every released version (schemas/registry.py),
and resolved into the current schema (Avro schema resolution: fields added with defaults
filled in, removed fields dropped, promoted types widened): a record any released build wrote
is readable by every later build. A version that holds its record in the current schema's terms
(the only change since: fields added with plain defaults) is read with its own schema and the
defaults set, which is what resolution gives at about half its cost; the logical types are
converted by schemas/logical.py. A decoded event says which version wrote it
(`schema_version`, from the fingerprint). docs/events.md shows how to read records elsewhere.
"""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from core.text import forbidden_character
from schemas.logical import Plan, plan_of
from schemas.registry import PACKAGE_DIR, fingerprint_of, registry

MAGIC = b"\xc3\x01"
HEADER_EVENT_TYPE = "event_type"

Event = dict[str, Any]


class Undecodable(ValueError):
    """The record cannot be read as an event."""


class UnknownSchema(Undecodable):
    """The record was written with a schema this build does not know."""

    def __init__(self, message: str, fingerprint: bytes | None = None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint


class UnstorableEvent(ValueError):
    """The event holds text no consumer could store (the API refuses such input first)."""


@dataclass(frozen=True)
class Writer:
    event_type: str
    version: int | None  # None: the current schema, not released yet (development)
    fingerprint: bytes
    schema: Any  # parsed
    current: bool
    plan: Plan | None  # its logical types' conversion (schemas/logical.py)
    # The current schema's fields added since this version, with their defaults, when the
    # version can say whatever the current one says with them at their defaults (an event
    # may then be written in it); None: fields were removed or changed since. () if current.
    added: tuple[tuple[str, Any], ...] | None
    # Its records read with its own schema and `added` set are what resolving them into the
    # current schema gives (the defaults are plain values): read so, at about half the cost.
    direct: bool


@dataclass(frozen=True)
class Catalog:
    readers: dict[str, Any]  # event type -> parsed current schema
    writers: dict[bytes, Writer]  # fingerprint -> writer schema
    current_fingerprint: dict[str, bytes]
    older: dict[str, list[Writer]]  # event type -> the older versions it may be written in


_root = PACKAGE_DIR


def use_schemas(root: Path | None) -> None:
    """Read schemas from `root` (holding events/ and released/) instead of this package's:
    FLASHCALL_SCHEMA_DIR, for tests that evolve the schemas and for staged rollouts."""
    global _root
    _root = root or PACKAGE_DIR
    _catalog.cache_clear()


@cache
def _catalog() -> Catalog:
    reg = registry(_root)
    texts = reg.current_text()
    readers = {event_type: parse_schema(text) for event_type, text in texts.items()}
    writers: dict[bytes, Writer] = {}
    for event_type, versions in reg.released().items():
        for v in versions:
            added = _added_since(v.text, texts[event_type]) if event_type in texts else None
            writers[v.fingerprint] = _writer(
                event_type, v.number, v.fingerprint, v.text, added, current=False
            )
    current, older = {}, {}
    for event_type, text in texts.items():
        fp = current[event_type] = fingerprint_of(text)
        known = writers.get(fp)
        version = known.version if known else None
        writers[fp] = _writer(event_type, version, fp, text, (), current=True)
        older[event_type] = [
            writers[v.fingerprint]
            for v in reg.released().get(event_type, [])
            if v.fingerprint != fp and writers[v.fingerprint].added is not None
        ]
    return Catalog(readers, writers, current, older)


def _writer(
    event_type: str,
    version: int | None,
    fingerprint: bytes,
    text: dict[str, Any],
    added: tuple[tuple[str, Any], ...] | None,
    current: bool,
) -> Writer:
    parsed = parse_schema(text)
    plan = plan_of(parsed)
    # Null, a boolean, a number, a text or an empty list: what resolution fills in as it is.
    plain = added is not None and all(type(d) in PLAIN or d in (None, []) for _, d in added)
    direct = plan is not None and plain
    return Writer(event_type, version, fingerprint, parsed, current, plan, added, direct)


PLAIN = frozenset({bool, int, float, str})


def _added_since(old: dict[str, Any], new: dict[str, Any]) -> tuple[tuple[str, Any], ...] | None:
    """The fields `new` added to `old`, with their defaults, if `old` can say whatever `new`
    says with those fields at their defaults: every field of `old` is in `new`, of the same
    type, and every added field has a default (None otherwise)."""
    new_fields = {f["name"]: f for f in new["fields"]}
    for field in old["fields"]:
        same = new_fields.get(field["name"])
        if same is None or _shape(same["type"]) != _shape(field["type"]):
            return None
    names = {f["name"] for f in old["fields"]}
    added = [f for f in new["fields"] if f["name"] not in names]
    if any("default" not in f for f in added):
        return None
    return tuple((f["name"], f["default"]) for f in added)


def _shape(schema: Any) -> Any:
    """A field's type without its documentation."""
    if isinstance(schema, dict):
        return {k: _shape(v) for k, v in schema.items() if k != "doc"}
    if isinstance(schema, list):
        return [_shape(s) for s in schema]
    return schema


def writer_schema(record: bytes) -> Any:
    """The parsed schema a single-object-encoded record was written with."""
    return _catalog().writers[record[2:10]].schema


def schemas() -> dict[str, Any]:
    """Parsed current schema of every event type, by its short name."""
    return _catalog().readers


def new_event(event_type: str, event_id: str | None = None, **fields: Any) -> Event:
    """An event record of `event_type` with its envelope filled in."""
    if event_type not in schemas():
        raise KeyError(event_type)
    return {
        "event_type": event_type,
        "event_id": event_id or str(uuid.uuid4()),
        "occurred_at": fields.pop("occurred_at", None) or datetime.now(UTC),
        **fields,
    }


def encode(event: Event) -> bytes:
    """Encode an event made by `new_event` in the oldest version of its type that holds it
    (see the module's note)."""
    event_type = event["event_type"]
    if forbidden_character("".join(_texts(event.values()))) is not None:  # one scan of all
        for name, value in event.items():
            if forbidden_character("".join(_texts([value]))) is not None:
                raise UnstorableEvent(f"{event_type}.{name} holds a control character")
    catalog = _catalog()
    writer = catalog.writers[catalog.current_fingerprint[event_type]]
    for version in catalog.older[event_type]:
        if all(event.get(name, default) == default for name, default in version.added or ()):
            writer = version
            break
    out = io.BytesIO()
    out.write(MAGIC)
    out.write(writer.fingerprint)
    if writer.plan is None:
        schemaless_writer(out, writer.schema, event)
    else:
        schemaless_writer(out, writer.plan.plain, writer.plan.write(event))
    return out.getvalue()


def _texts(values: Iterable[Any]) -> Iterator[str]:
    """The strings among `values` and in their lists (the forbidden characters are single
    characters: the strings can be scanned as one)."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (t for t in value if isinstance(t, str))


def decode(data: bytes) -> Event:
    """Decode a single-object-encoded record into an event of the current schema, with its
    `event_type` and the `schema_version` it was written with."""
    if data[:2] != MAGIC:
        raise UnknownSchema("not an Avro single-object record")
    fingerprint = data[2:10]
    catalog = _catalog()
    writer = catalog.writers.get(fingerprint)
    if writer is None:
        raise UnknownSchema(f"unknown schema fingerprint {fingerprint.hex()}", fingerprint)
    reader = catalog.readers.get(writer.event_type)
    if reader is None:
        raise UnknownSchema(
            f"{writer.event_type} (fingerprint {fingerprint.hex()}) is no event type of this build",
            fingerprint,
        )
    try:
        record = _read(io.BytesIO(data[10:]), writer, reader)
    except Exception as exc:  # fastavro raises what the truncated or garbled body provokes
        raise Undecodable(f"a {writer.event_type} record that does not decode: {exc!r}") from exc
    assert isinstance(record, dict)
    record["event_type"] = writer.event_type
    record["schema_version"] = writer.version
    return record


def _read(body: io.BytesIO, writer: Writer, reader: Any) -> Any:
    """The record in the current schema: read with its writer's (a version that holds it only
    lacks defaults, filled in here) or resolved into the current one."""
    if not writer.direct or writer.plan is None or writer.added is None:
        return schemaless_reader(body, writer.schema, None if writer.current else reader)
    record = schemaless_reader(body, writer.plan.plain, None)
    assert isinstance(record, dict)
    for name, default in writer.added:
        record[name] = copy.copy(default)
    return writer.plan.read(record)
