"""SIP pieces without a network: outcome mapping, trunk settings, digest, message framing."""

from __future__ import annotations

import pytest

from core.call_rules import FailReason
from core.trunks import TrunkAddress, parse_trunks
from processors.sip.digest import authorization
from processors.sip.message import frame_length, parse, uri_of
from processors.sip.uac import failure_for, is_trunk_fault


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
        (503, FailReason.CARRIER_ERROR),
        (603, FailReason.CARRIER_ERROR),
    ],
)
def test_final_responses_map_to_failures(status: int, failure: FailReason) -> None:
    assert failure_for(status) == failure
    assert is_trunk_fault(status) == (failure == FailReason.CARRIER_ERROR)


def test_trunks_parse_with_and_without_credentials() -> None:
    assert parse_trunks("udp:10.0.0.1:5060, tcp:sbc.example:5080") == [
        TrunkAddress("udp", "10.0.0.1", 5060),
        TrunkAddress("tcp", "sbc.example", 5080),
    ]
    (trunk,) = parse_trunks("udp:alice:pa:ss@w0rd@sbc:5060")
    assert (trunk.username, trunk.password, trunk.host) == ("alice", "pa:ss@w0rd", "sbc")
    for bad in ("sctp:h:5060", "udp:h", "udp:h:99999", "udp::5060"):
        with pytest.raises(ValueError):
            parse_trunks(bad)


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
