"""Derived ids are RFC 9562 version-5 UUIDs: the standard library's uuid5 is the oracle."""

from __future__ import annotations

import uuid

import pytest

from core.ids import NAMESPACE, derived_id

EVENT = uuid.UUID("0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b")


@pytest.mark.parametrize(
    "parts",
    [
        (EVENT, "PlaceCall"),
        (str(EVENT), "PlaceCall"),
        (EVENT, 3, "SendSms"),
        ("range", "IR-MCI", 0),
        ("کد", "تأیید"),  # non-ASCII names are hashed as UTF-8
        ("",),
        (EVENT,),
    ],
)
def test_a_derived_id_is_uuid5_of_the_parts_joined_by_colons(parts: tuple[object, ...]) -> None:
    expected = uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))
    derived = derived_id(*parts)
    assert type(derived) is uuid.UUID
    assert (derived, str(derived), hash(derived)) == (expected, str(expected), hash(expected))
    assert (derived.version, derived.variant) == (5, uuid.RFC_4122)


def test_a_derived_id_is_pinned() -> None:
    """Ids already on topics and in databases must never change."""
    assert str(derived_id(EVENT, "PlaceCall")) == "b9d391fe-8975-5bdf-b6e4-feaddb9db37b"
