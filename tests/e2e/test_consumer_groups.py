"""A consumer group the embedded broker left stuck does not stop the platform: the worker that
waits for its partitions longer than FLASHCALL_KAFKA_GROUP_STUCK_SECONDS moves its consumer to
the next generation's group (recorded in PostgreSQL), calls are dialled, and a worker started
later joins that group, not the stuck one (runtime/consumer_groups.py). The tenants' ingress,
subscribed by pattern, moves too, once a tenant's topic exists."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from schemas import topics
from tests.support.client import Api, random_phone
from tests.support.stages import Ground, own_ground
from tests.support.streams import Results, enable_streams, produce, request_value
from tests.support.stuck_group import leave_stuck
from tests.support.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def ground() -> Iterator[Ground]:
    """The embedded broker and a database of their own: this test breaks a group."""
    with own_ground("flashcall_groups", 2) as made:
        yield made


def generations(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT consumer, generation FROM consumer_groups").fetchall()
    return {str(consumer): int(generation) for consumer, generation in rows}


def test_a_stuck_group_is_left_for_a_new_one_that_every_worker_joins(ground: Ground) -> None:
    leave_stuck(ground.bootstrap, "flashcall-dialer", [topics.DIAL_COMMANDS.name])
    plat = ground.platform(FLASHCALL_KAFKA_GROUP_STUCK_SECONDS="3")
    api = Api(plat.url)
    try:
        # Ready once each of its consumers holds partitions: the dialer's only in a new group.
        plat.start_worker()
        plat.start_api()
        assert generations(ground.database_url) == {"dialer": 1}
        tenant = api.tenant()
        call = api.place(tenant.key, random_phone())
        api.wait_status(tenant.key, call["id"], {"delivered"}, timeout=30)

        plat.start_worker("worker-dialer-2", "dialer")
        calls = [api.place(tenant.key, random_phone()) for _ in range(4)]
        for placed in calls:
            api.wait_status(tenant.key, placed["id"], {"delivered"}, timeout=30)
        assert generations(ground.database_url) == {"dialer": 1}
    finally:
        api.close()
        plat.stop_all()


def test_a_stuck_ingress_group_is_left_once_a_tenant_topic_exists(ground: Ground) -> None:
    """No tenant topic at first: the ingress has nothing to wait for and stays in its group.
    Once a tenant's topic exists its wait counts, and it moves; the tenant's request is
    answered."""
    leave_stuck(ground.bootstrap, "flashcall-ingress", ["flashcall.ingress.none"])
    plat = ground.platform(
        FLASHCALL_KAFKA_GROUP_STUCK_SECONDS="3", FLASHCALL_INGRESS_DISCOVERY_MS="500"
    )
    api = Api(plat.url)
    try:
        plat.start_worker()
        plat.start_api()
        tenant = api.tenant()
        # No move yet: no tenant topic exists, and the other consumers got their partitions.
        assert generations(ground.database_url) == {}
        topics = enable_streams(api, tenant)
        results = Results(ground.bootstrap, topics["results_topic"])
        try:
            phone = random_phone()
            offsets = produce(
                ground.bootstrap,
                topics["ingress_topic"],
                [(request_value(phone, "r-1"), tenant.key)],
            )
            answers = wait_for(
                lambda: results.answering(offsets), timeout=60, what="the request's answer"
            )
        finally:
            results.close()
        answer = answers[offsets[0]]
        assert (answer["status"], answer["reference"], answer["phone"]) == ("queued", "r-1", phone)
        assert generations(ground.database_url) == {"ingress": 1}
    finally:
        api.close()
        plat.stop_all()
