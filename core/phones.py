"""Phone-number parsing: everything we dial is E.164."""

from __future__ import annotations

import unicodedata

import phonenumbers

MAX_INPUT = 32
# Besides digits (of any script) and spaces, what people write in phone numbers. Letters are
# refused: phonenumbers reads "1-800-FLOWERS" as a keypad would, and we would ring it.
PUNCTUATION = frozenset("+-().")


class InvalidPhone(ValueError):
    """The input is not a valid phone number."""


def normalise(raw: str, default_region: str) -> str:
    """Return `raw` in E.164, reading national forms with `default_region`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_INPUT:
        raise InvalidPhone(f"phone must be a phone number of at most {MAX_INPUT} characters")
    try:
        parsed = phonenumbers.parse(ascii_digits(raw).strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("phone is not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("phone is not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


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
