"""Call-pumping detection, pure: when a number prefix of a service is being pumped (requests
surging above its own baseline while nobody verifies), and what prefix a number belongs to.
The decisions processor gathers the counts and applies the verdict (docs/fraud.md)."""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

# What prefix_of gives: + and the country code's and national number's first digits.
PREFIX_PATTERN = r"^\+[1-9][0-9]{1,14}$"


@dataclass(frozen=True)
class FraudRules:
    prefix_digits: int  # of the national number: the range an attacker leases
    window_seconds: float  # the sliding window requests and verifications are counted in
    baseline_seconds: float  # the history a prefix's usual volume is measured over
    min_unverified: int  # never blocked with fewer unverified requests in the window
    max_conversion: float  # blocked only if at most this share of the window's requests verified
    surge: float  # ... and the window holds this many times the prefix's usual volume
    cool_off_seconds: float  # how long a block lasts unless lifted


@dataclass(frozen=True)
class PrefixCounts:
    """A prefix's admitted requests within the window, those of them verified, and its
    requests in the baseline history before the window."""

    requests: int
    verified: int
    earlier: int


def prefix_of(phone: str, digits: int) -> str:
    """`+<country code><first `digits` digits of the national number>` of an E.164 number.

    Read off its digits (E.164 is the country code, then the national number, and no country
    code begins another): the decisions ask this of every request, and parsing the number
    again cost them about 8 % of their CPU. Anything but plain E.164 is parsed (and a number
    in national form raises NumberParseException)."""
    if phone[:1] == "+" and phone[1:].isascii() and phone[1:].isdigit():
        for length in (1, 2, 3):
            if int(phone[1 : 1 + length]) in COUNTRY_CODE_TO_REGION_CODE:
                return phone[: 1 + length + digits]
    parsed = phonenumbers.parse(phone, None)
    national = phonenumbers.national_significant_number(parsed)
    return f"+{parsed.country_code}{national[:digits]}"


def pumped(counts: PrefixCounts, rules: FraudRules) -> bool:
    """Whether the prefix is being pumped: enough unverified requests, (almost) none verified,
    and far more than its usual volume. A prefix whose requests are verified as usual is never
    pumped, however many there are."""
    if counts.requests - counts.verified < rules.min_unverified:
        return False
    if counts.verified > rules.max_conversion * counts.requests:
        return False
    history = max(rules.baseline_seconds - rules.window_seconds, rules.window_seconds)
    usual = counts.earlier * rules.window_seconds / history
    return counts.requests >= rules.surge * max(usual, 1.0)
