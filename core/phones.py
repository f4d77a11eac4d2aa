"""Phone-number parsing: everything we dial is E.164."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

MAX_INPUT = 32
# Besides digits (of any script) and spaces, what people write in phone numbers. Letters are
# refused: phonenumbers reads "1-800-FLOWERS" as a keypad would, and we would ring it.
PUNCTUATION = frozenset("+-().")


class InvalidPhone(ValueError):
    """The input is not a valid phone number."""


@dataclass(frozen=True)
class Facts:
    """What the metadata says of a valid number."""

    region: str | None
    kind: int  # a phonenumbers.PhoneNumberType


# Numbers read lately, E.164 → their facts: a number is matched against the metadata once on
# its way in, not again for each rule that asks a moment later in the same request (the
# matching is most of a check's cost). A few thousand cover the requests in flight.
_FACTS: dict[str, Facts] = {}
MAX_REMEMBERED = 10_000


def normalise(raw: str, default_region: str) -> str:
    """Return `raw` in E.164, reading national forms with `default_region`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT:
        raise InvalidPhone(f"phone must be a phone number of at most {MAX_INPUT} characters")
    try:
        parsed = phonenumbers.parse(ascii_digits(raw).strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("phone is not a phone number") from exc
    # A number is valid when the metadata gives it a type (phonenumbers' is_valid_number asks
    # the same; tests/unit/test_phones.py holds the two equal).
    kind = phonenumbers.number_type(parsed)
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhone("phone is not a valid phone number")
    e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    _remember(e164, Facts(phonenumbers.region_code_for_number(parsed), kind))
    return e164


def facts(e164: str) -> Facts:
    """The region and type of a number `normalise` returned."""
    known = _FACTS.get(e164)
    if known is None:
        parsed = phonenumbers.parse(e164, None)
        known = Facts(phonenumbers.region_code_for_number(parsed), phonenumbers.number_type(parsed))
        _remember(e164, known)
    return known


def _remember(e164: str, found: Facts) -> None:
    if len(_FACTS) >= MAX_REMEMBERED:
        _FACTS.clear()  # cheaper than ordering them: the next calls fill it again
    _FACTS[e164] = found


def ascii_digits(raw: str) -> str:
    """`raw` with its digits in ASCII (Persian ۰۹۱۲ → 0912); InvalidPhone for anything but
    digits, spaces and + - ( ) ."""
    out = []
    for char in raw:
        if char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        elif char in PUNCTUATION or unicodedata.category(char) == "Zs":
            out.append(char if char in PUNCTUATION else " ")
        else:
            raise InvalidPhone("phone may hold only digits, spaces and + - ( ) .")
    return "".join(out)
