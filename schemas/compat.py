"""Schema compatibility, checked with Apache Avro's own checker (`avro.compatibility`, the port
of the Java SchemaCompatibility that schema registries use).

Every event type's current version must be **backward compatible with every released
version** (transitively): a build reads whatever any earlier build wrote. The analysts' report
event must also be **forward compatible** with every released version (so: fully): analysts
upgrade on their own schedule, and their readers meet new records first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType
from avro.schema import Schema, parse

# Event types that readers outside this repository consume (docs/analytics.md).
FULLY_COMPATIBLE = frozenset({"CallReported"})


def _parse(schema: dict[str, Any]) -> Schema:
    return parse(json.dumps(schema))


def problems(reader: dict[str, Any], writer: dict[str, Any]) -> list[str]:
    """Why `reader` cannot read what `writer` wrote (empty: it can)."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(_parse(reader), _parse(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    kinds = ", ".join(sorted({i.value for i in result.incompatibilities})) or "incompatible"
    return [
        f"{kinds}: {'; '.join(sorted(result.messages))} (at {', '.join(sorted(result.locations))})"
    ]


def incompatibilities(
    event_type: str, current: dict[str, Any], released: Iterable[tuple[int, dict[str, Any]]]
) -> list[str]:
    """What keeps `current` from being released after the `released` versions."""
    found = []
    for version, old in released:
        found += [f"{event_type}: cannot read v{version}: {p}" for p in problems(current, old)]
        if event_type in FULLY_COMPATIBLE:
            found += [
                f"{event_type}: v{version} readers cannot read it: {p}"
                for p in problems(old, current)
            ]
    return found
