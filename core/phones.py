"""Phone-number parsing: everything we dial is E.164."""

from __future__ import annotations

import phonenumbers


class InvalidPhone(ValueError):
    """The input is not a valid phone number."""


def normalise(raw: str, default_region: str) -> str:
    """Return `raw` in E.164, reading national forms with `default_region`."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 32:
        raise InvalidPhone("phone must be a phone number")
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(str(exc)) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(f"{raw!r} is not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
