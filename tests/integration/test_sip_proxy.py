"""The SIP carrier through a real carrier-side proxy (Kamailio: digest authentication,
record-routing) in front of a real user agent (sipp): rings, answers, hang-ups from either side,
declines and keep-alives, over UDP and TCP."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path

import pytest

from core.call_rules import FailReason
from core.trunks import parse_trunks
from launch.dnsmasq import dns_server
from launch.kamailio import proxy
from launch.sipp import header, uas
from processors.carriers import DialResult
from processors.sip.carrier import SipCarrier
from processors.sip.locate import Locator
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PHONE = "+989121234567"
CALLER = "+982191234567"
T1 = 0.2  # retransmissions a loaded machine does not provoke (Timer B: 12.8 s)


def carrier(trunk: str, **options: float) -> SipCarrier:
    return SipCarrier(
        parse_trunks(trunk),
        ring_seconds=options.get("ring_seconds", 0.3),
        max_concurrent=10,
        cps=100.0,
        t1=options.get("t1", T1),
        hangup_seconds=options.get("hangup_seconds", 0.0),
        options_interval=options.get("options_interval", 0.0),
    )


async def dial(sip: SipCarrier) -> tuple[DialResult, bool]:
    """The outcome (at the first ring), and whether someone picked up (once it is over)."""
    try:
        result = await sip.dial(uuid.uuid4(), PHONE, CALLER)
        assert result.answered is not None
        return result, await asyncio.wait_for(result.answered, 20)
    finally:
        await sip.close()


TRANSPORTS = pytest.mark.parametrize("transport", ["udp", "tcp"])


@TRANSPORTS
async def test_a_ring_through_the_proxy_is_delivered_and_cancelled(
    tmp_path: Path, transport: str
) -> None:
    with uas("ring_cancel", tmp_path, transport) as far, proxy(tmp_path, far.port, transport) as p:
        result, answered = await dial(carrier(p.trunk(transport)))
        assert result.failure is None and not answered
        wait_for(lambda: far.received("CANCEL"), timeout=10, what="the CANCEL through the proxy")
        invites = far.invites()
        assert f"<sip:{CALLER}@" in header(invites[-1], "P-Asserted-Identity")


@TRANSPORTS
async def test_an_answered_call_is_hung_up_through_the_route_set(
    tmp_path: Path, transport: str
) -> None:
    with (
        uas("answer_rr", tmp_path, transport, calls=1) as far,
        proxy(tmp_path, far.port, transport) as p,
    ):
        result, answered = await dial(carrier(p.trunk(transport)))
        assert result.failure is None and answered
        # The ACK and the BYE reached the handset through the proxy, and its 200 came back.
        wait_for(lambda: far.process.poll() is not None, timeout=15, what="sipp's scenario to end")
        assert far.process.returncode == 0, (far.messages.read_text()[-3000:], p.text()[-3000:])
        (ack,) = far.received("ACK")
        (bye,) = far.received("BYE")
        for request in (ack, bye):
            assert header(request, "Via").count(";branch=") >= 1
            assert f":{p.port}" in request  # it came by the proxy (its Via, record-routed)
        if transport == "tcp":
            contact = header(far.invites()[-1], "Contact")
            assert contact.endswith(";transport=tcp>"), contact


@TRANSPORTS
async def test_a_bye_from_the_callee_through_the_proxy_is_answered(
    tmp_path: Path, transport: str
) -> None:
    with (
        uas("callee_bye_rr", tmp_path, transport, calls=1) as far,
        proxy(tmp_path, far.port, transport) as p,
    ):
        # We would hang up after 5 s: the callee does first, and our 200 must reach it through
        # the proxy (every Via copied).
        sip = carrier(p.trunk(transport), hangup_seconds=5.0)
        started = asyncio.get_running_loop().time()
        result, answered = await dial(sip)
        assert result.failure is None and answered
        wait_for(lambda: far.process.poll() is not None, timeout=15, what="sipp's scenario to end")
        assert far.process.returncode == 0, (far.messages.read_text()[-3000:], p.text()[-3000:])
        assert not far.received("BYE")  # we sent none: the call was over
        assert asyncio.get_running_loop().time() - started < 5.0


async def test_busy_and_decline_through_the_proxy_fail_the_call_not_the_trunk(
    tmp_path: Path,
) -> None:
    for scenario, expected in (("busy", FailReason.BUSY), ("decline", FailReason.DECLINED)):
        with uas(scenario, tmp_path) as far, proxy(tmp_path, far.port, "udp") as p:
            sip = carrier(p.trunk("udp"))
            result, answered = await dial(sip)
            assert result.failure == expected and not answered
            assert all(t.healthy for t in sip.trunks), scenario  # one callee never rests a trunk


async def test_wrong_credentials_at_the_proxy_are_a_trunk_fault(tmp_path: Path) -> None:
    with uas("ring_cancel", tmp_path) as far, proxy(tmp_path, far.port, "udp") as p:
        sip = carrier(p.trunk("udp", password="wrong"))
        result, _ = await dial(sip)
        assert result.failure == FailReason.CARRIER_ERROR
        assert not sip.trunks[0].healthy
        assert not far.invites()  # the proxy never let it through


async def test_keepalives_take_a_silent_trunk_out_and_back(tmp_path: Path) -> None:
    with uas("ring_cancel", tmp_path) as far:
        with proxy(tmp_path, far.port, "udp") as p:
            sip = carrier(p.trunk("udp"), options_interval=0.2, t1=0.05)  # Timer F 3.2 s
            sip._start_keepalive()
            await asyncio.sleep(0)  # the first round starts
            trunk = sip.trunks[0]
            for _ in range(100):
                await asyncio.sleep(0.05)
            assert trunk.healthy
        # The proxy is gone: its trunk stops answering OPTIONS (Timer F: 64·T1 = 3.2 s).
        for _ in range(200):
            if not trunk.healthy:
                break
            await asyncio.sleep(0.05)
        assert not trunk.healthy
        await sip.close()


# ---------------------------------------------------------------------- TLS and DNS


async def test_a_tls_trunk_verifies_the_proxys_certificate_and_rings(tmp_path: Path) -> None:
    with (
        uas("ring_cancel", tmp_path, "tcp") as far,
        proxy(tmp_path, far.port, "tcp", tls=True) as p,
    ):
        assert p.certificate is not None
        trusted = ssl.create_default_context(cafile=str(p.certificate))
        sip = SipCarrier(parse_trunks(p.trunk("tls")), 0.3, 10, 100.0, t1=T1, tls=trusted)
        result, answered = await dial(sip)
        assert result.failure is None and not answered
        invite = far.invites()[-1]
        assert invite.startswith(f"INVITE sip:{PHONE}@127.0.0.1:{p.tls_port};transport=tls")
        assert "SIP/2.0/TLS" in invite  # our Via, below the proxy's
        assert header(invite, "Contact").endswith(";transport=tls>")
        # A certificate nobody vouches for is refused: no call, and the trunk rests.
        untrusted = SipCarrier(parse_trunks(p.trunk("tls")), 0.3, 10, 100.0, t1=T1)
        result, _ = await dial(untrusted)
        assert result.failure == FailReason.CARRIER_ERROR
        assert not untrusted.trunks[0].healthy


async def test_srv_records_locate_the_trunk_and_fail_over(tmp_path: Path) -> None:
    with uas("server_error", tmp_path) as broken, uas("ring_cancel", tmp_path) as working:
        records = [
            "--host-record=sbc1.carrier.test,127.0.0.1",
            "--host-record=sbc2.carrier.test,127.0.0.1",
            f"--srv-host=_sip._udp.carrier.test,sbc1.carrier.test,{broken.port},0,10",
            f"--srv-host=_sip._udp.carrier.test,sbc2.carrier.test,{working.port},10,10",
        ]
        with dns_server(tmp_path, records) as nameserver:
            locator = Locator(nameserver)
            sip = SipCarrier(
                parse_trunks("udp:carrier.test"), 0.3, 10, 100.0, t1=T1, locator=locator
            )
            result, _ = await dial(sip)
            assert result.failure is None  # the second target rang after the first's 503
            assert broken.invites() and working.invites()
            assert working.invites()[-1].startswith(f"INVITE sip:{PHONE}@carrier.test SIP/2.0")
            trunk = sip.trunks[0]
            assert trunk.healthy  # one target failed, not the trunk
            assert [t.port for t in trunk.target_down] == [broken.port]
            asked = locator.lookups
            assert await locator.targets(trunk.address)  # answered from the cache (TTL 60)
            assert locator.lookups == asked


async def test_naptr_chooses_the_transport_of_an_auto_trunk(tmp_path: Path) -> None:
    with uas("ring_cancel", tmp_path, "tcp") as far:
        records = [
            "--host-record=sbc.carrier.test,127.0.0.1",
            "--naptr-record=carrier.test,10,10,S,SIP+D2T,,_sip._tcp.carrier.test",
            "--naptr-record=carrier.test,20,10,S,SIP+D2U,,_sip._udp.carrier.test",
            f"--srv-host=_sip._tcp.carrier.test,sbc.carrier.test,{far.port},0,10",
        ]
        with dns_server(tmp_path, records) as nameserver:
            sip = SipCarrier(
                parse_trunks("auto:carrier.test"),
                0.3,
                10,
                100.0,
                t1=T1,
                locator=Locator(nameserver),
            )
            result, _ = await dial(sip)
            assert result.failure is None
            invite = far.invites()[-1]
            assert invite.startswith(f"INVITE sip:{PHONE}@carrier.test;transport=tcp SIP/2.0")
