"""Records that fill every field of a schema, for reading them back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def sample(schema: dict[str, Any]) -> dict[str, Any]:
    """A record filling every field of `schema` with a value of its type."""
    values: dict[str, Any] = {}
    for field in schema["fields"]:
        kind = field["type"]
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        if isinstance(kind, dict) and kind.get("type") == "array":
            items = kind["items"]
            values[field["name"]] = (
                [sample(items), sample(items)] if isinstance(items, dict) else ["x", "y"]
            )
        elif isinstance(kind, dict):
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
