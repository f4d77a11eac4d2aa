"""The one rule for text that reaches a topic (core/text.py), and the codec's backstop."""

from __future__ import annotations

import re
import uuid

import pytest

from core import text
from schemas.codec import UnstorableEvent, encode, new_event


@pytest.mark.parametrize(
    "bad",
    [
        "\x00",
        "\x01",
        "\t",
        "\n",
        "\x7f",
        "\x85",
        "\ud800",
        "\u202e",
        "\u2066",
        "\ufffe",
        "\U0010ffff",
    ],
)
def test_control_characters_and_friends_are_refused(bad: str) -> None:
    with pytest.raises(text.UnstorableText, match="control characters"):
        text.clean(f"a{bad}b", 200)
    assert text.forbidden_character(f"a{bad}b") == bad


def test_persian_joiners_and_direction_marks_are_kept() -> None:
    name = "باقی\u200cمانده \u200fتست"
    assert text.clean(name, 200) == name


def test_text_is_trimmed_and_composed() -> None:
    assert text.clean("  e\u0301  ", 200) == "\u00e9"


@pytest.mark.parametrize(("value", "problem"), [("   ", "empty"), ("x" * 201, "at most 200")])
def test_blank_and_long_text_is_refused(value: str, problem: str) -> None:
    with pytest.raises(text.UnstorableText, match=problem):
        text.clean(value, 200)


def test_the_openapi_pattern_says_the_same_for_the_basic_plane() -> None:
    pattern = re.compile(text.PATTERN)
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # lone surrogates cannot reach JSON Schema validators as text
        assert (pattern.fullmatch(char) is None) == (text.forbidden_character(char) is not None), (
            code
        )


def test_the_codec_refuses_to_encode_an_event_with_a_nul() -> None:
    event = new_event(
        "AccessKeyIssued",
        key_id=uuid.uuid4(),
        service_id=uuid.uuid4(),
        account_id=uuid.uuid4(),
        label="x\x00y",
        prefix="fk_live_abc",
        key_hash="h",
    )
    with pytest.raises(UnstorableEvent, match="label"):
        encode(event)
