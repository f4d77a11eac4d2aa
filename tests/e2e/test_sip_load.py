"""A hundred verifications at once through the SIP carrier, with sipp as the far end of the
trunk and two dialer workers in front of it: each call rings exactly once, within the trunk's
calls per second and concurrent dialogs (the two workers' together), gets exactly one outcome,
and verifies with the code its INVITE carried."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from launch.platform import Platform
from launch.sipp import Uas, header, uas
from tests.support.client import Api, random_phone
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e

CALLS = 100
CPS = 50
DIALOGS = 20  # the trunk's concurrent dialogs: with a ring of 1 s, fewer than CPS would fill


def sip_worker(
    platform: Platform, name: str, far: Uas, roles: str | None = None
) -> subprocess.Popen[bytes]:
    """A worker whose dialer is on the SIP carrier, sipp behind its one trunk."""
    return platform.start_worker(
        name,
        roles,
        FLASHCALL_CARRIER="sip",
        FLASHCALL_SIP_TRUNKS=far.trunk,
        FLASHCALL_SIP_CPS=str(CPS),
        FLASHCALL_SIP_MAX_CONCURRENT=str(DIALOGS),
        FLASHCALL_SIP_RING_SECONDS="1",
        FLASHCALL_SIP_T1_MS="100",
        FLASHCALL_DIAL_ABANDON_SECONDS="60",
    )


@pytest.fixture
def sip_trunk(platform: Platform, tmp_path: Path) -> Iterator[Uas]:
    """The platform's workers with their dialers on the SIP carrier, two of them (the second a
    dialer only), sipp behind the one trunk; each has the trunk's CPS as its setting: the
    limit is the trunk's, so theirs together."""
    with uas("ring_cancel", tmp_path) as far:
        for proc in platform.running("worker"):
            platform.stop(proc)
        workers = [
            sip_worker(platform, "worker-sip", far),
            sip_worker(platform, "worker-sip-dialer", far, "dialer"),
        ]
        try:
            yield far
        finally:
            for proc in workers:
                platform.stop(proc)
            platform.start_worker()


def busiest_second(invites: dict[str, tuple[datetime, str]]) -> int:
    """The most new INVITEs in any second (sipp's receive times; 5 ms for loopback jitter)."""
    times = sorted(at for at, _ in invites.values())
    window = timedelta(seconds=1) - timedelta(milliseconds=5)
    return max(sum(1 for t in times[i:] if t - start < window) for i, start in enumerate(times))


def most_at_once(
    starts: dict[str, tuple[datetime, str]], ends: dict[str, tuple[datetime, str]]
) -> int:
    """The most dialogs up at one moment (an end before a start at the same moment)."""
    moments = sorted(
        [(at, 1) for at, _ in starts.values()] + [(at, -1) for at, _ in ends.values()],
    )
    up = most = 0
    for _, change in moments:
        up += change
        most = max(most, up)
    return most


def test_a_hundred_concurrent_verifications_through_sip(api: Api, sip_trunk: Uas) -> None:
    tenant = api.tenant(code_length=5)
    phones = [random_phone() for _ in range(CALLS)]
    with ThreadPoolExecutor(20) as pool:
        calls = list(pool.map(lambda phone: api.place(tenant.key, phone), phones))
    for call in calls:
        api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=60)

    # Every call rang exactly once: one INVITE (Call-ID) per phone, nothing lost or doubled.
    invites = sip_trunk.first_invites()
    assert len(invites) == CALLS
    dialled = {header(m, "To").split("sip:")[1].split("@")[0]: m for _, m in invites.values()}
    assert set(dialled) == set(phones)

    # Both workers dialled (each from its own SIP port), and no more than the trunk's CPS
    # together (each pacing alone, they sent up to 90 in a second). A wake-up late by a few
    # milliseconds may come that much closer to the other worker's next INVITE: two of slack.
    sent_from = {header(m, "Via").split()[1].split(";")[0] for _, m in invites.values()}
    assert len(sent_from) == 2, sent_from
    assert busiest_second(invites) <= CPS + 2

    # Nor more dialogs at once than the trunk's limit, together: each is up from its INVITE to
    # its CANCEL (the slot is freed after that), as sipp saw them.
    def all_cancelled() -> dict[str, tuple[datetime, str]] | None:
        cancels = sip_trunk.first_received("CANCEL")
        return cancels if len(cancels) == CALLS else None

    cancels = wait_for(all_cancelled, what="every dialog's CANCEL")
    assert set(cancels) == set(invites)
    assert most_at_once(invites, cancels) == DIALOGS

    # The code each user would read off the ring verifies: the INVITE carried the caller number.
    def verify(call: dict[str, str]) -> bool:
        caller = header(dialled[call["phone"]], "From").split("sip:")[1].split("@")[0]
        verdict = api.verify(tenant.key, call["id"], caller[-5:])
        return bool(verdict["verified"])

    with ThreadPoolExecutor(20) as pool:
        assert all(pool.map(verify, calls))
    wait_for(
        lambda: all(api.call(tenant.key, c["id"])["status"] == "verified" for c in calls),
        what="every call to be verified",
    )


@pytest.fixture
def answering_trunk(platform: Platform, tmp_path: Path) -> Iterator[Uas]:
    """The dialer on the SIP carrier, with a handset that picks up (sipp's answer scenario)."""
    with uas("answer", tmp_path) as far:
        for proc in platform.running("worker"):
            platform.stop(proc)
        sip = platform.start_worker(
            "worker-sip-answer",
            FLASHCALL_CARRIER="sip",
            FLASHCALL_SIP_TRUNKS=far.trunk,
            FLASHCALL_SIP_T1_MS="100",
            FLASHCALL_DIAL_ABANDON_SECONDS="60",
        )
        try:
            yield far
        finally:
            platform.stop(sip)
            platform.start_worker()


def test_an_answered_call_is_reported_as_answered(api: Api, answering_trunk: Uas) -> None:
    """Someone picked up: the call is delivered (the number was shown), hung up at once, and
    reports and the report's export say it was answered (carriers bill answered seconds)."""
    tenant = api.tenant(code_length=5)
    call = api.place(tenant.key, random_phone())
    api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=60)
    wait_for(lambda: answering_trunk.received("BYE"), timeout=20, what="our BYE")

    def answered() -> dict[str, object] | None:
        page = api.ok(
            api.http.get(
                "/v1/reports/calls",
                params={"service_id": tenant.service_id},
                headers={"Authorization": f"Bearer {tenant.token}"},
            )
        )
        (row,) = page["items"]
        return row if row.get("answered") else None

    row = wait_for(answered, timeout=20, what="the report to say answered")
    assert row["id"] == call["id"] and row["status"] == "delivered"
