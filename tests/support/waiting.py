"""Waiting on conditions with deadlines (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 20.0,
    what: str = "condition",
    every: float = 0.02,
) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


async def until(probe: Callable[[], object], within: float = 20.0, what: str = "condition") -> None:
    """The async `wait_for`: await until `probe()` is truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if probe():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within}s waiting for {what}")
