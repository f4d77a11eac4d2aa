from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from api.observability import RequestMetrics
from core import metrics
from core.logs import JsonFormatter, TextFormatter, bind
from processors import health


def record(message: str, **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("flashcall.test", logging.WARNING, __file__, 1, message, (), None)
    rec.__dict__.update(extra)
    return rec


def test_a_json_line_carries_the_context_it_was_logged_in() -> None:
    with bind(consumer="decisions", partition=3):
        line = json.loads(JsonFormatter().format(record("stopped", call_id="c-1")))
    assert line["message"] == "stopped" and line["level"] == "warning"
    assert (line["consumer"], line["partition"], line["call_id"]) == ("decisions", "3", "c-1")
    assert "consumer" not in json.loads(JsonFormatter().format(record("later")))


def test_text_lines_show_the_context_at_their_end() -> None:
    with bind(call_id="c-2"):
        assert TextFormatter().format(record("rang")).endswith("rang [call_id=c-2]")


class FakeConsumer:
    def __init__(self, name: str, assigned: bool, age: float) -> None:
        self.name = name
        self.assigned = threading.Event()
        if assigned:
            self.assigned.set()
        self.age = age

    def poll_age(self) -> float:
        return self.age


def test_a_worker_is_ready_only_while_each_consumer_polls() -> None:
    consumers: Any = [
        FakeConsumer("decisions", True, 0.5),
        FakeConsumer("dialer", True, health.STALE_SECONDS + 1),
        FakeConsumer("projection", False, 0.1),
    ]
    checks = asyncio.run(health.readiness(consumers, lambda: None))
    assert checks["decisions"] == "ok"
    assert checks["dialer"].startswith("has not polled for")
    assert checks["projection"] == "joining its group"
    assert checks["postgres"].startswith("unavailable")


def test_ops_lag_is_never_negative() -> None:
    from launch.ops import Lag

    assert Lag("decisions", "t", 0, stored=10, high=7).lag == 0
    assert Lag("decisions", "t", 0, stored=7, high=10).lag == 3


def test_webhook_targets_on_private_addresses_are_refused() -> None:
    import pytest

    from core.webhooks import RefusedTarget, check_url

    for url in (
        "http://127.0.0.1/x",
        "http://10.0.0.5/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://192.168.1.1:8080/x",
    ):
        with pytest.raises(RefusedTarget):
            check_url(url, allow_private=False)
        check_url(url, allow_private=True)
    check_url("https://93.184.216.34/hook", allow_private=False)
    for bad in (
        "ftp://93.184.216.34/x",
        "http://user:pw@93.184.216.34/x",
        "https:///x",
        "http://[/x",  # urlsplit's own ValueError: once a 500
        "http://93.184.216.34:99999/x",
        "https://\u00e9\u00b1\x00",  # a NUL cannot be stored: once a 500 (the fuzz's)
        "http://example.com/a\nb",
    ):
        with pytest.raises(RefusedTarget):
            check_url(bad, allow_private=True)


def test_retries_back_off_to_hours() -> None:
    from core.webhooks import retry_delay

    first, later = retry_delay(1, 5.0).total_seconds(), retry_delay(6, 5.0).total_seconds()
    assert 4 <= first <= 6 and later >= 8 * 3600


def test_the_request_metrics_in_front_of_the_application_label_answers_by_route() -> None:
    """api/app.py serves the request metrics outside FastAPI: the route the router matched
    still names each answer's series (a path with ids would explode the labels)."""
    app = FastAPI()
    router = APIRouter(prefix="/v1/widgets")

    @router.get("/{widget_id}")
    async def widget(widget_id: str) -> dict[str, str]:
        return {"id": widget_id}

    app.include_router(router)

    def answered(route: str, status: str) -> float:
        return metrics.HTTP_REQUESTS.labels(route, "GET", status)._value.get()

    before = answered("/v1/widgets/{widget_id}", "200"), answered("unmatched", "404")

    async def ask() -> list[int]:
        transport = httpx.ASGITransport(app=RequestMetrics(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [(await client.get(path)).status_code for path in ("/v1/widgets/a-1", "/no")]

    assert asyncio.run(ask()) == [200, 404]
    after = answered("/v1/widgets/{widget_id}", "200"), answered("unmatched", "404")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)
