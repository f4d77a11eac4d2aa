"""Avro's logical types (`uuid`, `timestamp-micros`) converted by a plan made once per schema
instead of by fastavro's dispatch per value: records are read and written with the schema's
plain types (strings, longs), and only the fields that hold a logical type are converted, by
the rules fastavro applies (an aware datetime in UTC, a `uuid.UUID`; fastavro's own function
for what is unusual, such as a naive datetime). A CallRequested decodes in ~10 µs this way
against ~12 µs through fastavro's conversion (docs/benchmarks-history.md, 2026-12-07).

A schema whose logical values could not be told apart once plain (a union of a logical branch
and a branch other than null) has no plan; codec.py reads and writes it with fastavro's own
conversion.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro.write
from fastavro import parse_schema

Convert = Callable[[Any], Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_new = object.__new__
_set = object.__setattr__
_fastavro_micros = fastavro.write.LOGICAL_WRITERS["long-timestamp-micros"]


def uuid_of(text: str) -> uuid.UUID:
    """`uuid.UUID(text)`, without its parsing of the forms an event never holds (braces, URNs):
    a canonical text's 32 hex digits are its value."""
    digits = text.replace("-", "")
    if len(text) != 36 or len(digits) != 32:
        return uuid.UUID(text)
    value = _new(uuid.UUID)
    _set(value, "int", int(digits, 16))
    _set(value, "is_safe", uuid.SafeUUID.unknown)
    return value


def text_of_uuid(value: Any) -> Any:
    """What fastavro writes for a uuid: the text of a `uuid.UUID`, anything else as it is."""
    return str(value) if isinstance(value, uuid.UUID) else value


def datetime_of(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def micros_of(value: Any) -> Any:
    """Microseconds since the epoch of an aware datetime; anything else (a naive datetime, a
    number) as fastavro converts it."""
    if type(value) is datetime and value.tzinfo is not None:
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _fastavro_micros(value, {})  # its schema argument is unused


# (read, write) of each logical type this plan converts, by (plain type, logical type).
CONVERSIONS: dict[tuple[str, str], tuple[Convert, Convert]] = {
    ("string", "uuid"): (uuid_of, text_of_uuid),
    ("long", "timestamp-micros"): (datetime_of, micros_of),
}


class Unplanned(ValueError):
    """A schema whose logical values cannot be told apart once plain."""


@dataclass(frozen=True)
class Plan:
    plain: Any  # the parsed schema without logical types
    read: Convert  # a record read with `plain` -> its logical values (converted in place)
    write: Convert  # an event -> a record `plain` writes (a new dict: the event is not changed)


def plan_of(schema: Any) -> Plan | None:
    """The plan of a parsed record schema, or None when it has none (see the module's note)."""
    try:
        convert = _converters(schema, {})
    except Unplanned:
        return None
    read, write = convert or (_same, _same)
    return Plan(parse_schema(_plain(schema)), read, write)


def _same(value: Any) -> Any:
    return value


# What a parsed schema holds beside its types: fastavro's marks (a schema marked parsed is not
# parsed again, and would keep its named types' logical ones).
_NOT_PLAIN = frozenset({"logicalType", "__fastavro_parsed", "__named_schemas"})


def _plain(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k not in _NOT_PLAIN}
    if isinstance(schema, list):
        return [_plain(s) for s in schema]
    return schema


Named = dict[str, "tuple[Convert, Convert] | None"]


def _converters(schema: Any, named: Named) -> tuple[Convert, Convert] | None:
    """(read, write) for values of `schema`, or None when they hold no logical type. `named`:
    the named types defined so far (a later use of one is its name alone)."""
    if isinstance(schema, list):
        return _union(schema, named)
    if isinstance(schema, str):
        return named.get(schema)
    kind = schema["type"]
    if isinstance(kind, (dict, list)):
        return _converters(kind, named)
    if "logicalType" in schema:
        known = CONVERSIONS.get((kind, schema["logicalType"]))
        if known is None:
            raise Unplanned(f"logical type {schema['logicalType']} of {kind}")
        return known
    if kind == "array":
        items = _converters(schema["items"], named)
        if items is None:
            return None
        read_item, write_item = items
        return (
            lambda values: [read_item(v) for v in values],
            lambda values: [write_item(v) for v in values],
        )
    if kind == "map":
        if _converters(schema["values"], named) is not None:
            raise Unplanned("a map of logical values")
        return None
    if kind == "record":
        named[schema["name"]] = converted = _record(schema, named)
        return converted
    return None


def _union(branches: list[Any], named: Named) -> tuple[Convert, Convert] | None:
    """A union converts when one branch holds logical values and null is the only other."""
    converting = [c for b in branches if (c := _converters(b, named)) is not None]
    if not converting:
        return None
    if len(branches) != 2 or "null" not in branches:
        raise Unplanned("a union of a logical branch and another than null")
    [(read, write)] = converting
    return (
        lambda value: None if value is None else read(value),
        lambda value: None if value is None else write(value),
    )


def _record(schema: dict[str, Any], named: Named) -> tuple[Convert, Convert] | None:
    fields = [(f["name"], c) for f in schema["fields"] if (c := _converters(f["type"], named))]
    if not fields:
        return None
    reads = tuple((name, read) for name, (read, _) in fields)
    writes = tuple((name, write) for name, (_, write) in fields)

    def read(record: dict[str, Any]) -> dict[str, Any]:
        for name, convert in reads:
            value = record[name]
            if value is not None:
                record[name] = convert(value)
        return record

    def write(event: dict[str, Any]) -> dict[str, Any]:
        record = dict(event)
        for name, convert in writes:
            value = record.get(name)
            if value is not None:
                record[name] = convert(value)
        return record

    return read, write
