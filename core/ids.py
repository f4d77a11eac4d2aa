"""Deterministic ids: an effect derived from an event gets the same id however often it is made."""

from __future__ import annotations

import hashlib
import uuid

NAMESPACE = uuid.UUID("5c2f9b2e-35a4-4d7a-9f8e-4f1c3e7d6a10")

_NAMESPACE_BYTES = NAMESPACE.bytes
# RFC 9562's version 5 and variant bits, set in the first 16 bytes of the SHA-1.
_VERSION_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_SET = (5 << 76) | (0x8000 << 48)
_new = object.__new__
_set = object.__setattr__


def derived_id(*parts: object) -> uuid.UUID:
    """A UUID fixed by `parts` (e.g. a source event id and the name of the effect): what
    `uuid.uuid5(NAMESPACE, "part:part:…")` gives, made without UUID's own parsing of its
    arguments (a third of the time, and a stage derives an id or two for every event)."""
    name = ":".join([p if type(p) is str else str(p) for p in parts])
    digest = hashlib.sha1(_NAMESPACE_BYTES + name.encode()).digest()
    value = _new(uuid.UUID)
    _set(value, "int", int.from_bytes(digest[:16]) & _VERSION_CLEAR | _VERSION_SET)
    _set(value, "is_safe", uuid.SafeUUID.unknown)
    return value
