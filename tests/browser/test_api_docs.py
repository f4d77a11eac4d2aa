"""/docs renders with the network to anywhere but the app blocked, as behind a filter that
blocks CDNs: every asset it loads is the app's own."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route

from launch.platform import Platform

pytestmark = pytest.mark.browser


@pytest.fixture
def offline(platform: Platform, browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A page whose requests to any other origin are aborted (and listed)."""
    context = browser.new_context(base_url=platform.url)
    context.set_default_timeout(20_000)
    app = urlsplit(platform.url).netloc
    blocked: list[str] = []

    def only_the_app(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == app or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    context.route("**/*", only_the_app)
    yield context.new_page(), blocked
    context.close()


def test_swagger_ui_renders_every_operation_offline(offline: tuple[Page, list[str]]) -> None:
    page, blocked = offline
    page.goto("/docs")
    page.locator(".opblock").first.wait_for()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/calls" in {p.replace("\u200b", "") for p in paths}
    assert page.locator(".opblock").count() >= 42
    assert blocked == []


def test_there_is_no_redoc(platform: Platform) -> None:
    """ReDoc's page loads Redocly's logo from their CDN whatever it is told (api/api_docs.py)."""
    assert httpx.get(platform.url + "/redoc").status_code == 404
