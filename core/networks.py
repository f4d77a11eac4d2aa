"""The mobile network a phone number belongs to, as phonenumbers' carrier data names it
(`IR-MCI`, `Irancell`, `Rightel`, …): what caller ranges are judged and routed by
(docs/ranges.md). A number ported to another network keeps its original network's name here:
the data knows number blocks, not porting."""

from __future__ import annotations

from functools import lru_cache

from phonenumbers.carrierdata import CARRIER_DATA, CARRIER_LONGEST_PREFIX

UNKNOWN_NETWORK = "unknown"  # a number the carrier data does not place


def network_of(phone: str) -> str:
    """The network of an E.164 number the API accepted (`unknown` where the data has no name
    for it): the name of the longest prefix of its digits in the carrier data, as
    phonenumbers' `name_for_valid_number` finds it, without parsing the number again (the
    prefixes are at most CARRIER_LONGEST_PREFIX digits, so that many digits decide it)."""
    return network_of_digits(phone[1 : 1 + CARRIER_LONGEST_PREFIX])


@lru_cache(maxsize=65536)
def network_of_digits(digits: str) -> str:
    for length in range(len(digits), 0, -1):
        names = CARRIER_DATA.get(digits[:length])
        if names:
            return str(names.get("en") or UNKNOWN_NETWORK)
    return UNKNOWN_NETWORK


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
