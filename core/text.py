"""What text an event may carry: Unicode in NFC without control characters.

One rule for every string that reaches a topic. PostgreSQL's text refuses NUL, and one NUL in
an event once crash-looped every consumer that applied it; the other C0/C1 controls, lone
surrogates (not encodable as UTF-8), noncharacters and bidirectional overrides have no place in
a name, a label or a reference, and mislead whoever reads them next. Persian needs the zero-width
(non-)joiner and the direction marks, so those are allowed.
"""

from __future__ import annotations

import re
import unicodedata

# Astral noncharacters (U+1FFFE, U+1FFFF, …, U+10FFFF).
_ASTRAL_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)
)
FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls, DEL (NUL, tab and newline among them)
    "\ud800-\udfff"  # lone surrogates
    "\u202a-\u202e\u2066-\u2069"  # bidirectional embeddings, overrides and isolates
    "\ufdd0-\ufdef\ufffe\uffff" + _ASTRAL_NONCHARACTERS + "]"
)
# The same rule for OpenAPI (a JSON Schema `pattern`): no forbidden character anywhere.
PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufdd0-\ufdef\ufffe\uffff]*$"


class UnstorableText(ValueError):
    """The text holds a character no event may carry."""


def forbidden_character(value: str) -> str | None:
    """The first character of `value` no event may carry, if any."""
    if value.isascii() and value.isprintable():  # U+0020..U+007E: none is forbidden, and
        return None  # most texts are (ids, phones); the search costs several times more
    match = FORBIDDEN.search(value)
    return match.group() if match else None


def clean(value: str, max_length: int) -> str:
    """`value` trimmed and in NFC, or UnstorableText saying what is wrong with it."""
    bad = forbidden_character(value)
    if bad is not None:
        raise UnstorableText(f"must not contain control characters (found U+{ord(bad):04X})")
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise UnstorableText("must not be empty")
    if len(value) > max_length:
        raise UnstorableText(f"must be at most {max_length} characters")
    return value
