"""How an SMS text is sent: the GSM 7-bit default alphabet when every character is in it, else
UCS-2 (Persian always is), and how many parts that takes (3GPP TS 23.038 and 23.040: a part
holds 160 GSM septets or 70 UCS-2 units alone, 153 or 67 with the concatenation header)."""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "^{}\\[~]|€\f"  # each takes two septets (an escape, then the character)

# Kannel's `coding`: 0 the 7-bit default alphabet, 2 UCS-2.
CODING_GSM = 0
CODING_UCS2 = 2


@dataclass(frozen=True)
class Encoded:
    coding: int
    units: int  # septets (GSM) or UTF-16 code units (UCS-2)
    parts: int


def encoded(text: str) -> Encoded:
    """The coding a text needs and how many parts it is sent in."""
    if all(c in GSM_BASIC or c in GSM_EXTENSION for c in text):
        units = sum(2 if c in GSM_EXTENSION else 1 for c in text)
        return Encoded(CODING_GSM, units, _parts(units, 160, 153))
    units = len(text.encode("utf-16-be")) // 2
    return Encoded(CODING_UCS2, units, _parts(units, 70, 67))


def _parts(units: int, alone: int, each: int) -> int:
    return 1 if units <= alone else math.ceil(units / each)
