"""A long queue of dial claims on a live dialer is dialled, not failed as abandoned: one slot,
dials of a second each, and an abandon bound of 2 s, so that most of a batch's claims wait
longer than the bound for their slot. The worker keeps them alive (processors/dialer.py): every
call is delivered and rings once; none fails as carrier_error."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.support.client import Api, bearer, random_phone
from tests.support.stages import Ground, own_ground

pytestmark = pytest.mark.e2e

CALLS = 8


@pytest.fixture
def ground() -> Iterator[Ground]:
    """A broker and a database of their own: this platform dials one call at a time."""
    with own_ground("flashcall_dial_queue", 2) as made:
        yield made


def test_claims_queued_longer_than_the_abandon_bound_are_dialled_once(ground: Ground) -> None:
    plat = ground.platform(
        FLASHCALL_DIAL_CONCURRENCY="1",
        FLASHCALL_SIM_DIAL_MIN_MS="1000",
        FLASHCALL_SIM_DIAL_MAX_MS="1000",
        FLASHCALL_DIAL_ABANDON_SECONDS="2",
    )
    api = Api(plat.url)
    try:
        plat.start_worker()
        plat.start_api()
        tenant = api.tenant()
        phones = [random_phone() for _ in range(CALLS)]
        # One request: the decisions admit them together, and the dialer claims them in
        # one or two batches (two partitions), then waits for its one slot for each.
        answer = api.ok(
            api.http.post(
                "/v1/calls/batch",
                json={"calls": [{"phone": p} for p in phones]},
                headers=bearer(tenant.key),
            )
        )
        ids = [r["id"] for r in answer["results"]]
        assert len(ids) == CALLS
        finals = [api.wait_status(tenant.key, i, {"delivered", "failed"}, timeout=60) for i in ids]
        assert [(c["status"], c["failure_reason"]) for c in finals] == [("delivered", None)] * CALLS
        with psycopg.connect(ground.database_url) as conn:
            rings = conn.execute(
                "SELECT call_id, count(*) FROM sim_handset_calls GROUP BY call_id"
            ).fetchall()
            waited = conn.execute(
                "SELECT max(alive_at - claimed_at) > interval '2 seconds' FROM dials"
            ).fetchone()
        assert sorted((str(c), n) for c, n in rings) == sorted((i, 1) for i in ids)
        # Some claim did queue past the bound (else this test shows nothing).
        assert waited == (True,)
    finally:
        api.close()
        plat.stop_all()
