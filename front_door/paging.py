"""Opaque keyset cursors over (created_at, id), newest first: stable while rows are added."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from front_door.problems import invalid


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{row_id}".encode()).decode()


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        created, _, row_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("cursor is not one this API returned") from exc


def keyset(cursor: str | None, params: list[Any], prefix: str = "") -> str:
    """SQL condition continuing after `cursor` (empty when there is none)."""
    position = decode_cursor(cursor)
    if position is None:
        return ""
    params.extend(position)
    return f" AND ({prefix}created_at, {prefix}id) < (%s, %s)"


def page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Rows were fetched with limit + 1: split off the probe row into a next cursor."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(rows[-1]["created_at"], rows[-1]["id"])
