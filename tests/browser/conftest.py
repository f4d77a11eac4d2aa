"""Headless Chromium (the system's /usr/bin/chromium) driven by Playwright, against the real
platform; each test gets a fresh browser context (its own cookies)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from core.settings import Settings
from launch.platform import ROOT, Platform

# The customer's browser is in the panel's zone, as a customer in Tehran's is: the Jalali date
# picker's "today" is the browser's (in UTC it was yesterday for Tehran from 20:30 UTC on).
BROWSER_ZONE = Settings.model_fields["panel_timezone"].default

SHOTS = ROOT / "var" / "screenshots"


def chromium_path() -> str:
    path = os.environ.get("FLASHCALL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    return path


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope: sync Playwright keeps an event loop running in this thread while it is
    # open, and the other tests' asyncio.run() would refuse to start beside it.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def panel(platform: Platform, browser: Browser) -> Iterator[Page]:
    """A page in a fresh context, at the panel's base URL, with downloads allowed."""
    context: BrowserContext = browser.new_context(
        base_url=platform.url,
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
        timezone_id=BROWSER_ZONE,
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
