"""How an SMS text is coded and split (core/sms_encoding.py), and what a Kannel delivery report
type means (processors/kannel.py)."""

from __future__ import annotations

import pytest

from core.sms_encoding import encoded
from processors.kannel import _result_of


@pytest.mark.parametrize(
    ("text", "coding", "units", "parts"),
    [
        ("Your code: 12345", 0, 16, 1),
        ("x" * 160, 0, 160, 1),
        ("x" * 161, 0, 161, 2),  # 153 a part once split
        ("x" * 306, 0, 306, 2),
        ("x" * 307, 0, 307, 3),
        ("€" * 80, 0, 160, 1),  # the extension table takes two septets a character
        ("€" * 81, 0, 162, 2),
        ("کد تأیید شما: 12345", 2, 19, 1),
        ("ک" * 70, 2, 70, 1),
        ("ک" * 71, 2, 71, 2),  # 67 a part once split
        ("ک" * 134, 2, 134, 2),
        ("ک" * 135, 2, 135, 3),
        ("ک" * 200 + "12345678", 2, 208, 4),  # the longest template with an 8-digit code
        ("code 😀", 2, 7, 1),  # outside the BMP: two UTF-16 units
    ],
)
def test_a_text_is_gsm_when_it_can_be_else_ucs2_in_as_many_parts_as_it_takes(
    text: str, coding: int, units: int, parts: int
) -> None:
    found = encoded(text)
    assert (found.coding, found.units, found.parts) == (coding, units, parts)


def test_only_final_delivery_reports_end_a_step() -> None:
    delivered, undelivered, rejected = _result_of(1), _result_of(2), _result_of(16)
    assert delivered is not None and delivered.failure is None
    assert undelivered is not None and undelivered.failure == "unreachable"
    assert rejected is not None and rejected.failure == "carrier_error"
    assert _result_of(4) is None and _result_of(8) is None  # buffered, accepted by the SMSC


async def test_a_report_that_is_not_ours_is_refused_and_records_nothing() -> None:
    from aiohttp.test_utils import make_mocked_request

    from processors.kannel import KannelConfig, KannelSms

    recorded: list[object] = []

    async def late(command: object, result: object) -> None:
        recorded.append(command)

    sms = KannelSms(KannelConfig("http://127.0.0.1:9/cgi-bin/sendsms", "u", "p", "", 1, 1, 1))
    sms.on_late(late)
    for query in ("type=1", "type=1&claim=x", "type=x&claim=" + "0" * 32, "claim=" + "0" * 32):
        response = await sms.on_report(make_mocked_request("GET", f"/kannel/dlr?{query}"))
        assert response.status == 400, query
    good = (
        "type=1&claim=00000000-0000-0000-0000-000000000001&call=00000000-0000-0000-0000-"
        "000000000002&service=00000000-0000-0000-0000-000000000003&step=1&ttl=180.0&fails=0"
    )
    response = await sms.on_report(make_mocked_request("GET", f"/kannel/dlr?{good}"))
    assert response.status == 200 and len(recorded) == 1
    await sms.close()
