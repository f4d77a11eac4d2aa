"""What must hold whatever the broker and the processes do: replays, rebalances, kills,
restarts, and a second API instance."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from launch.platform import Platform
from tests.conftest import TTL_MINUTE
from tests.support.client import FINISHED, Api, Tenant, bearer, random_phone
from tests.support.histories import cut_off_and_restore_an_account, pump_lift_and_allow
from tests.support.read_models import (
    assert_rebuild_matches_live,
    rollup_differences,
    settled,
    snapshot,
)
from tests.support.topics_replay import end_offsets, reappend_everything
from tests.support.waiting import wait_for

OUTCOME_BY_ENDING = {
    "0000": "unreachable",
    "1111": "busy",
    "2222": "invalid_number",
    "3333": "carrier_error",
}


@pytest.fixture
def worker(platform: Platform) -> Iterator[None]:
    """Tests here stop and start workers; whatever they do, one worker runs afterwards."""
    yield
    if not platform.running("worker"):
        platform.start_worker()


def stop_worker(platform: Platform, sig: int = signal.SIGTERM) -> None:
    for proc in platform.running("worker"):
        platform.stop(proc, sig)


def test_a_revoked_key_is_refused_within_a_second_on_another_instance(
    api: Api, second_api: Api, tenant: Tenant
) -> None:
    # Reading a call of the key's authenticates without side effects, and answers at once.
    probe = f"/v1/calls/{api.place(tenant.key, random_phone())['id']}"
    wait_for(
        lambda: second_api.http.get(probe, headers=bearer(tenant.key)).status_code == 200,
        what="the second instance to know the key and the call",
    )
    revoke = api.http.delete(
        f"/v1/services/{tenant.service_id}/keys/{tenant.key_id}", headers=bearer(tenant.token)
    )
    assert revoke.status_code == 204
    wait_for(
        lambda: second_api.http.get(probe, headers=bearer(tenant.key)).status_code == 401,
        timeout=1.0,
        what="the revocation to reach the second instance",
    )


def test_expiry_fires_after_the_processor_restarts(
    api: Api, platform: Platform, worker: None
) -> None:
    tenant = api.tenant(code_length=4, code_ttl_minutes=1)
    call = api.place(tenant.key, random_phone())
    delivered = api.wait_status(tenant.key, call["id"], {"delivered"})
    stop_worker(platform)
    expires_at = datetime.fromisoformat(delivered["expires_at"])
    wait_for(lambda: datetime.now(UTC) > expires_at, timeout=TTL_MINUTE + 5, what="expires_at")
    assert api.call(tenant.key, call["id"])["status"] == "delivered"  # nobody expired it
    platform.start_worker()
    api.wait_status(tenant.key, call["id"], {"expired"})


def stream_calls(api: Api, tenants: list[Tenant], count: int) -> list[dict[str, Any]]:
    """Place `count` calls over the tenants, with every simulated outcome represented."""
    endings = [None, None, None, "0000", "1111", "2222", "3333"]
    placed = []
    for i in range(count):
        tenant = tenants[i % len(tenants)]
        phone = random_phone(endings[i % len(endings)])
        placed.append({**api.place(tenant.key, phone), "key": tenant.key})
    return placed


def check_each_call_has_one_outcome(
    api: Api, placed: list[dict[str, Any]], allow_abandoned: bool = False
) -> None:
    for call in placed:
        final = api.wait_status(call["key"], call["id"], {"delivered"} | FINISHED, timeout=30)
        rings = api.handset(call["phone"])
        expected = OUTCOME_BY_ENDING.get(call["phone"][-4:])
        if final["status"] == "delivered":
            assert expected is None, final
            assert len(rings) == 1, (final, rings)  # dialled exactly once
        else:
            assert final["status"] == "failed", final
            abandoned = allow_abandoned and final["failure_reason"] == "carrier_error"
            assert final["failure_reason"] == expected or abandoned, final
            assert len(rings) <= (1 if abandoned else 0), (final, rings)


def check_each_delivered_call_is_charged_once(
    api: Api, tenants: list[Tenant], placed: list[dict[str, Any]]
) -> None:
    for tenant in tenants:
        calls = [c for c in placed if c["key"] == tenant.key]
        delivered = sorted(
            c["id"] for c in calls if api.call(tenant.key, c["id"])["status"] != "failed"
        )
        ledger_path = f"/v1/services/{tenant.service_id}/ledger?limit=1000"

        def debited(path: str = ledger_path, token: str = tenant.token) -> list[str]:
            items = api.ok(api.http.get(path, headers=bearer(token)))["items"]
            return sorted(e["call_id"] for e in items)

        assert wait_for(lambda d=debited, want=delivered: d() == want or None, what="debits")
        svc = api.ok(
            api.http.get(f"/v1/services/{tenant.service_id}", headers=bearer(tenant.token))
        )
        assert svc["balance"] == -1000 * len(delivered)


def test_two_workers_in_one_group_give_the_results_of_one(
    api: Api, platform: Platform, worker: None
) -> None:
    tenants = [api.tenant() for _ in range(3)]
    placed = stream_calls(api, tenants, 30)
    second = platform.start_worker("worker-2", wait=False)
    placed += stream_calls(api, tenants, 60)
    platform.stop(second)  # a rebalance back to one worker, mid-stream
    placed += stream_calls(api, tenants, 30)
    check_each_call_has_one_outcome(api, placed)
    check_each_delivered_call_is_charged_once(api, tenants, placed)
    for call in placed:
        if call["phone"][-4:] not in OUTCOME_BY_ENDING:
            code = api.handset(call["phone"])[0]["caller_number"][-5:]
            assert api.verify(call["key"], call["id"], code)["verified"] is True


def test_a_worker_killed_mid_stream_loses_and_repeats_nothing(
    api: Api, platform: Platform, worker: None
) -> None:
    tenants = [api.tenant() for _ in range(2)]
    placed = stream_calls(api, tenants, 40)
    stop_worker(platform, signal.SIGKILL)
    placed += stream_calls(api, tenants, 20)  # accepted while no worker runs
    platform.start_worker()
    placed += stream_calls(api, tenants, 20)
    check_each_call_has_one_outcome(api, placed, allow_abandoned=True)
    check_each_delivered_call_is_charged_once(api, tenants, placed)


def test_replaying_every_topic_changes_nothing(
    api: Api, platform: Platform, database_url: str
) -> None:
    tenant = api.tenant()
    placed = stream_calls(api, [tenant], 14)
    check_each_call_has_one_outcome(api, placed)
    call = next(c for c in placed if c["phone"][-4:] not in OUTCOME_BY_ENDING)
    api.verify(tenant.key, call["id"], "00000")
    api.ok(
        api.http.patch(
            f"/v1/services/{tenant.service_id}",
            json={"name": "renamed"},
            headers=bearer(tenant.token),
        )
    )

    wait_for(
        lambda: settled(database_url, end_offsets(platform.bootstrap)),
        what="the platform to settle",
    )
    before = snapshot(database_url)
    ends = reappend_everything(platform.bootstrap)
    wait_for(
        lambda: settled(database_url, ends),
        timeout=60,
        what="every consumer to read the replayed copies",
    )
    assert snapshot(database_url) == before
    assert rollup_differences(database_url) == []


def test_rebuilding_the_projection_yields_the_same_rows(
    api: Api, platform: Platform, database_url: str
) -> None:
    tenant = api.tenant()
    check_each_call_has_one_outcome(api, stream_calls(api, [tenant], 7))
    cut_off_and_restore_an_account(api)  # so that every read model has rows to compare
    pump_lift_and_allow(api, "+989125554")
    wait_for(
        lambda: settled(database_url, end_offsets(platform.bootstrap)),
        what="the platform to settle",
    )
    assert_rebuild_matches_live(platform.environment(), database_url)
