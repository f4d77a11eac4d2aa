"""The mobile network a phone number belongs to, as phonenumbers' carrier data names it
(`IR-MCI`, `Irancell`, `Rightel`, …): what caller ranges are judged and routed by
(docs/ranges.md). A number ported to another network keeps its original network's name here:
the data knows number blocks, not porting."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import carrier

UNKNOWN_NETWORK = "unknown"  # a number the carrier data does not place


@lru_cache(maxsize=65536)
def network_of(phone: str) -> str:
    """The network of an E.164 number (`unknown` where the data has no name for it)."""
    try:
        parsed = phonenumbers.parse(phone)
    except phonenumbers.NumberParseException:
        return UNKNOWN_NETWORK
    return carrier.name_for_number(parsed, "en") or UNKNOWN_NETWORK


def network_name_fa(network: str) -> str:
    """The Persian name of a network, for the panel (the English one where none is known)."""
    return PERSIAN_NAMES.get(network, network)


# phonenumbers' Persian carrier names for Iran's networks (carrier data "fa").
PERSIAN_NAMES = {
    "IR-MCI": "همراه اول",
    "Irancell": "ایرانسل",
    "Rightel": "رایتل",
    UNKNOWN_NETWORK: "نامعلوم",
}
