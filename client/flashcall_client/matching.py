"""Recognising our flash call on the handset: the rule an app applies to an incoming number.

The rule, exactly: strip the incoming number of spaces, dashes, dots and parentheses; read a
leading `00` as `+`, and a number of digits alone (no `+`, no leading `0`) as international
(`982191012345` is `+982191012345`). The call is ours when that number is `caller_prefix`
followed by exactly `code_length` digits, and those digits are the code. A national number (one
leading `0`, as some phones show a call from their own country) matches when it is
`caller_prefix` without its `+` and its country code (1 to 3 digits), behind that `0`,
followed by exactly `code_length` digits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flashcall_client.models import Call

_FORMATTING = re.compile(r"[\s\-.()]")


def match_incoming(caller_number: str, call: Call | Mapping[str, Any]) -> str | None:
    """The code an incoming call from `caller_number` carries if it is `call`'s flash call,
    else None. `call` is a placed call (`Call`, or its JSON body, or a batch or stream item)."""
    prefix, length = _prefix_and_length(call)
    if not prefix or not length:
        return None
    number = _FORMATTING.sub("", caller_number)
    if number.startswith("00"):
        number = "+" + number[2:]
    elif number.startswith("0"):
        return _national_match(number[1:], prefix, length)
    elif number.isdigit():
        number = "+" + number
    if not number.startswith(prefix):
        return None
    code = number[len(prefix) :]
    return code if len(code) == length and code.isdigit() else None


def _national_match(national: str, prefix: str, length: int) -> str | None:
    digits = prefix.removeprefix("+")
    for country_code in (1, 2, 3):
        head = digits[country_code:]
        code = national[len(head) :]
        if national.startswith(head) and len(code) == length and code.isdigit():
            return code
    return None


def _prefix_and_length(call: Call | Mapping[str, Any]) -> tuple[str | None, int | None]:
    if isinstance(call, Call):
        return call.caller_prefix, call.code_length
    return call.get("caller_prefix"), call.get("code_length")
