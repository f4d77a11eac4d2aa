"""Pacing that holds each trunk's calls per second."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Spaces starts at least 1/rate seconds apart, in arrival order: never more than `rate`
    starts in any one-second window, and callers queue (backpressure) rather than drop."""

    def __init__(self, rate: float) -> None:
        self._gap = 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._next > now:
                await asyncio.sleep(self._next - now)
            # From when this start really happens: a late wake-up never bunches the next one.
            self._next = time.monotonic() + self._gap
