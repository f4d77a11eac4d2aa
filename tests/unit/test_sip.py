"""SIP pieces without a network: outcome mapping, trunk settings, digest, message framing."""

from __future__ import annotations

import pytest

from core.call_rules import FailReason
from core.trunks import TrunkAddress, parse_trunks
from processors.sip.digest import authorization
from processors.sip.locate import srv_order
from processors.sip.message import Message, frame_length, parse, uri_of, values
from processors.sip.uac import dialog_of, failure_for, is_trunk_fault, retry_after


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (486, FailReason.BUSY),
        (600, FailReason.BUSY),
        (404, FailReason.INVALID_NUMBER),
        (484, FailReason.INVALID_NUMBER),
        (604, FailReason.INVALID_NUMBER),
        (408, FailReason.UNREACHABLE),
        (480, FailReason.UNREACHABLE),
        (403, FailReason.CARRIER_ERROR),
        (488, FailReason.CARRIER_ERROR),
        (302, FailReason.CARRIER_ERROR),
        (503, FailReason.CARRIER_ERROR),
        (603, FailReason.DECLINED),
    ],
)
def test_final_responses_map_to_failures(status: int, failure: FailReason) -> None:
    assert failure_for(status) == failure


@pytest.mark.parametrize(
    ("status", "trunk_fault"),
    [
        (500, True),
        (503, True),
        (407, True),
        (401, True),
        (403, False),
        (488, False),
        (603, False),
        (600, False),
        (486, False),
        (404, False),
        (302, False),
    ],
)
def test_only_the_trunks_own_failures_rest_it(status: int, trunk_fault: bool) -> None:
    """One callee's decline, or a destination the carrier refuses, never takes a trunk out."""
    assert is_trunk_fault(status) is trunk_fault


def test_a_503_says_how_long_the_trunk_rests() -> None:
    busy = parse(b"SIP/2.0 503 Service Unavailable\r\nRetry-After: 120 (maintenance)\r\n\r\n")
    assert retry_after(busy) == 120.0
    assert retry_after(parse(b"SIP/2.0 503 Service Unavailable\r\n\r\n")) is None
    assert busy.phrase == "Service Unavailable"


def ok_with(*headers: str) -> Message:
    return parse(("SIP/2.0 200 OK\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode())


def test_in_dialog_requests_follow_the_record_route_reversed() -> None:
    ok = ok_with(
        "Record-Route: <sip:10.0.0.2;lr>, <sip:10.0.0.3;lr;ftag=x>",
        "Record-Route: <sip:10.0.0.4;lr>",
        "To: <sip:+98912@x>;tag=abc",
        "Contact: <sip:handset@192.0.2.9:5062;transport=tcp>",
    )
    dialog = dialog_of(ok, "sip:fallback@x")
    assert dialog.request_uri == "sip:handset@192.0.2.9:5062;transport=tcp"
    assert dialog.routes == ("<sip:10.0.0.4;lr>", "<sip:10.0.0.3;lr;ftag=x>", "<sip:10.0.0.2;lr>")
    assert dialog.to_tag == "abc"


def test_a_strict_router_takes_the_request_uri_and_the_target_goes_last() -> None:
    ok = ok_with("Record-Route: <sip:10.0.0.2;lr>, <sip:10.0.0.5>", "Contact: <sip:h@192.0.2.9>")
    dialog = dialog_of(ok, "sip:fallback@x")
    assert dialog.request_uri == "sip:10.0.0.5"
    assert dialog.routes == ("<sip:10.0.0.2;lr>", "<sip:h@192.0.2.9>")


def test_without_record_route_the_contact_is_the_target() -> None:
    dialog = dialog_of(ok_with("Contact: <sip:h@192.0.2.9>"), "sip:fallback@x")
    assert (dialog.request_uri, dialog.routes) == ("sip:h@192.0.2.9", ())
    assert dialog_of(ok_with(), "sip:fallback@x").request_uri == "sip:fallback@x"


def test_header_values_split_on_commas_outside_brackets_and_quotes() -> None:
    assert values(['"a, b" <sip:x;lr>, <sip:y,z>', "<sip:w>"]) == [
        '"a, b" <sip:x;lr>',
        "<sip:y,z>",
        "<sip:w>",
    ]


def test_trunks_parse_with_and_without_credentials() -> None:
    assert parse_trunks("udp:10.0.0.1:5060, tcp:sbc.example:5080") == [
        TrunkAddress("udp", "10.0.0.1", 5060),
        TrunkAddress("tcp", "sbc.example", 5080),
    ]
    (trunk,) = parse_trunks("udp:alice:pa:ss@w0rd@sbc:5060")
    assert (trunk.username, trunk.password, trunk.host) == ("alice", "pa:ss@w0rd", "sbc")
    # (a space or a NUL in the host: a range names its trunk, and PostgreSQL stores no NUL)
    bad_hosts = ("udp:a b:5060", "udp:a\x00b:5060", "tcp:h\n:5060")
    for bad in ("sctp:h:5060", "udp:h:99999", "udp::5060", "auto:h:5060", "udp:h:x", *bad_hosts):
        with pytest.raises(ValueError):
            parse_trunks(bad)


def test_a_trunk_without_a_port_is_located_by_dns() -> None:
    assert parse_trunks("tls:u:p@carrier.example, auto:carrier.example") == [
        TrunkAddress("tls", "carrier.example", None, "u", "p"),
        TrunkAddress("auto", "carrier.example", None),
    ]
    assert str(TrunkAddress("tls", "carrier.example", None)) == "tls:carrier.example"


def test_srv_records_go_by_priority_then_weight() -> None:
    records = [(20, 0, 5062, "backup"), (10, 60, 5060, "a"), (10, 40, 5061, "b")]
    firsts = {srv_order(records)[0][1] for _ in range(200)}
    assert firsts == {"a", "b"}  # weighted among the lowest priority
    assert all(srv_order(records)[-1] == (5062, "backup") for _ in range(50))


def test_digest_matches_rfc_2617_example() -> None:
    challenge = (
        'Digest realm="testrealm@host.com", qop="auth,auth-int",'
        ' nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    answer = authorization(
        challenge, "GET", "/dir/index.html", "Mufasa", "Circle Of Life", cnonce="0a4f113b"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in answer
    assert "nc=00000001" in answer and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in answer


def test_responses_parse_with_compact_and_folded_headers() -> None:
    raw = (
        b"SIP/2.0 180 Ringing\r\nv: SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bKabc;rport\r\n"
        b"f: <sip:+982191234567@1.2.3.4>;tag=x\r\nTo: <sip:+989121234567@h>\r\n ;tag=y\r\n"
        b"i: id@h\r\nCSeq: 2 INVITE\r\nl: 0\r\n\r\n"
    )
    message = parse(raw)
    assert message.is_response and message.status == 180
    assert message.branch == "z9hG4bKabc" and message.cseq == (2, "INVITE")
    assert message.to_tag == "y" and message.header("call-id") == "id@h"
    assert uri_of(message.header("from") or "") == "sip:+982191234567@1.2.3.4"


def test_stream_framing_waits_for_the_whole_body() -> None:
    message = b"SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    assert frame_length(message[:-1]) is None
    assert frame_length(message + b"SIP/2.0") == len(message)
