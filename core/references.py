"""References: a customer's own id for a call request (docs/streaming.md).

A reference names one call of a service for REFERENCE_HOURS: asking again with it answers that
call and rings no one. What a reference may be is checked here, for every way in.
"""

from __future__ import annotations

from core.text import forbidden_character

MAX_REFERENCE = 64
REFERENCE_HOURS = 24


def reference_problem(reference: object) -> str | None:
    """What is wrong with a reference (None if nothing; an absent one is fine)."""
    if reference is None:
        return None
    if not isinstance(reference, str) or not reference:
        return "a non-empty string"
    if len(reference) > MAX_REFERENCE:
        return f"at most {MAX_REFERENCE} characters"
    if forbidden_character(reference) is not None:
        return "no control characters"
    return None
