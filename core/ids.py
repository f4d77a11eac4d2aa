"""Deterministic ids: an effect derived from an event gets the same id however often it is made."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("5c2f9b2e-35a4-4d7a-9f8e-4f1c3e7d6a10")


def derived_id(*parts: object) -> uuid.UUID:
    """A UUID fixed by `parts` (e.g. a source event id and the name of the effect)."""
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))
