"""Each consumer subscribes to exactly the topics its handler table handles: a topic whose
events it does not all handle would stop or park it at the first (runtime/batches.py), and
an event type it handles on no topic it reads would never reach it."""

from __future__ import annotations

from typing import Any

from processors.consumers import CONSUMERS
from processors.decisions import Decisions
from processors.dialer import Dialer
from processors.webhooks import WebhookFanout
from projections.read_models import Projector
from schemas import topics
from tests.integration.test_handlers import RULES

HANDLERS: dict[str, Any] = {
    "decisions": Decisions(RULES),
    "dialer": Dialer,
    "projection": Projector(publish_reports=False),
    "webhooks": WebhookFanout(lambda: None),
}


def test_every_consumer_but_the_ingress_is_checked() -> None:
    assert set(CONSUMERS) == {*HANDLERS, "ingress"}


def test_each_consumer_handles_every_event_of_its_topics_and_nothing_else() -> None:
    for name, handler in HANDLERS.items():
        read = CONSUMERS[name].topics
        carried = {e for t in read for e in t.events}
        # Types no longer written to a topic, whose old records its readers pass over.
        retired = {e for t in read for e in topics.RETIRED_ROUTES.get(t.name, ())}
        assert set(handler.handles) <= carried, (name, set(handler.handles) - carried)
        assert carried - set(handler.handles) <= retired, (name, carried - set(handler.handles))


def test_retired_routes_name_topics_that_exist() -> None:
    names = {t.name for t in topics.ALL_TOPICS}
    assert set(topics.RETIRED_ROUTES) <= names


def test_every_role_has_its_start_and_every_consumer_a_role() -> None:
    from processors.faust_app import ROLE_STARTS, ROLE_TIMERS, ROLES

    assert list(ROLE_STARTS) == list(ROLES)  # started in this order
    assert set(ROLE_TIMERS) <= set(ROLES)
    assert {spec.role for spec in CONSUMERS.values()} <= set(ROLES)
