"""The SIP carrier against sipp as the trunk's far end: each outcome of the flash call, and that
every INVITE carried the allocated caller number (From and P-Asserted-Identity)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from pathlib import Path

import pytest

from core.call_rules import FailReason
from core.trunks import parse_trunks
from launch.ports import free_port
from launch.sipp import Uas, header, uas
from processors.sip.carrier import SipCarrier
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PHONE = "+989121234567"
CALLER = "+982191234567"
T1 = 0.05  # Timer B (64·T1) is 3.2 s here


def carrier(trunks: str, ring_seconds: float = 0.2, **limits: float) -> SipCarrier:
    return SipCarrier(
        parse_trunks(trunks),
        ring_seconds=ring_seconds,
        max_concurrent=int(limits.get("max_concurrent", 10)),
        cps=limits.get("cps", 100.0),
        t1=T1,
    )


def assert_invite_carried_the_caller(far: Uas, caller: str = CALLER) -> None:
    invites = far.invites()
    assert invites, "sipp received no INVITE"
    for invite in invites:
        assert invite.startswith(f"INVITE sip:{PHONE}@127.0.0.1:{far.port}")
        assert f"<sip:{caller}@" in header(invite, "From")
        assert f"<sip:{caller}@" in header(invite, "P-Asserted-Identity")


async def dial_and_close(sip: SipCarrier, caller: str = CALLER) -> tuple[FailReason | None, float]:
    start = time.monotonic()
    result = await sip.dial(uuid.uuid4(), PHONE, caller)
    returned_after = time.monotonic() - start
    await sip.close()
    return result.failure, returned_after


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_a_ring_is_delivered_then_cancelled(tmp_path: Path, transport: str) -> None:
    with uas("ring_cancel", tmp_path, transport) as far:
        sip = carrier(far.trunk, ring_seconds=0.5)
        failure, returned_after = await dial_and_close(sip)
        assert failure is None
        assert returned_after < 0.5  # at the ring, not after it
        wait_for(lambda: far.received("ACK"), timeout=5, what="the ACK of the 487")
        assert len(far.received("CANCEL")) == 1
        assert_invite_carried_the_caller(far)
        assert len(sip.stats.ring_delays) == 1


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("busy", FailReason.BUSY),
        ("not_found", FailReason.INVALID_NUMBER),
        ("no_answer", FailReason.UNREACHABLE),
        ("server_error", FailReason.CARRIER_ERROR),
    ],
)
async def test_final_responses_map_to_outcomes(
    tmp_path: Path, scenario: str, expected: FailReason
) -> None:
    with uas(scenario, tmp_path) as far:
        failure, _ = await dial_and_close(carrier(far.trunk))
        assert failure == expected
        wait_for(lambda: far.received("ACK"), timeout=5, what="the ACK of the final response")
        assert_invite_carried_the_caller(far)


async def test_an_answered_call_is_delivered_and_hung_up_at_once(tmp_path: Path) -> None:
    with uas("answer", tmp_path) as far:
        failure, _ = await dial_and_close(carrier(far.trunk))
        assert failure is None
        assert len(far.received("ACK")) == 1 and len(far.received("BYE")) == 1
        assert_invite_carried_the_caller(far)


async def test_a_digest_challenge_is_answered(tmp_path: Path) -> None:
    with uas("digest", tmp_path) as far:
        trunk = f"udp:trunkuser:s3cret@127.0.0.1:{far.port}"
        failure, _ = await dial_and_close(carrier(trunk))
        assert failure is None  # sipp verified the credentials, then rang
        invites = far.invites()
        assert len(invites) == 2 and "Authorization: Digest" in invites[1]
        assert len(far.received("CANCEL")) == 1
        assert_invite_carried_the_caller(far)


async def test_wrong_credentials_are_refused(tmp_path: Path) -> None:
    with uas("digest", tmp_path) as far:
        failure, _ = await dial_and_close(carrier(f"udp:trunkuser:wrong@127.0.0.1:{far.port}"))
        assert failure == FailReason.CARRIER_ERROR


async def test_no_response_is_unreachable_after_timer_b(tmp_path: Path) -> None:
    silent = free_port()  # nobody listens: the INVITE is retransmitted, then given up
    failure, returned_after = await dial_and_close(carrier(f"udp:127.0.0.1:{silent}"))
    assert failure == FailReason.UNREACHABLE
    assert 64 * T1 <= returned_after < 64 * T1 + 2


async def test_an_unanswered_invite_is_retransmitted_with_doubling_intervals() -> None:
    """Timer A over UDP: the INVITE goes again after T1, 2·T1, 4·T1 … until Timer B."""
    arrivals: list[float] = []

    class Silent(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if data.startswith(b"INVITE "):
                arrivals.append(time.monotonic())

    loop = asyncio.get_running_loop()
    listener, _ = await loop.create_datagram_endpoint(Silent, local_addr=("127.0.0.1", 0))
    port = listener.get_extra_info("sockname")[1]
    try:
        failure, _ = await dial_and_close(carrier(f"udp:127.0.0.1:{port}"))
    finally:
        listener.close()
    assert failure == FailReason.UNREACHABLE
    # Sent at 0, 1, 3, 7, 15, 31 (and 63) T1 within Timer B; a busy machine only delays a
    # retransmission, so each gap is at least its doubled interval.
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 6, arrivals
    for i, gap in enumerate(gaps):
        assert gap >= T1 * 2**i * 0.9, gaps


async def test_a_refused_tcp_connection_is_a_carrier_error() -> None:
    failure, _ = await dial_and_close(carrier(f"tcp:127.0.0.1:{free_port()}"))
    assert failure == FailReason.CARRIER_ERROR


async def test_the_next_trunk_takes_the_dials_when_one_fails(tmp_path: Path) -> None:
    with uas("server_error", tmp_path) as failing, uas("ring_cancel", tmp_path) as working:
        sip = carrier(f"{failing.trunk},{working.trunk}")
        first = await sip.dial(uuid.uuid4(), PHONE, CALLER)
        second = await sip.dial(uuid.uuid4(), PHONE, CALLER)
        await sip.close()
        assert first.failure is None and second.failure is None
        assert len(failing.invites()) == 1  # tried once, then rested
        assert len(working.invites()) == 2
