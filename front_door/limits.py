"""In-process sliding windows: what one replica grants alone while PostgreSQL is away (the
limits themselves are shared by every replica: front_door/shared_limits.py), and Retry-After."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque


class PerWindow:
    """At most `limit` events per key in any `window`-second window (a sliding window of
    stamps). Keys idle for a whole window are dropped now and then, so that millions of
    distinct phone numbers do not stay in memory."""

    SWEEP_EVERY = 10_000

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._stamps: dict[object, deque[float]] = defaultdict(deque)
        self._takes = 0

    def take(self, key: object, now: float | None = None) -> float:
        """Count one event; returns 0 if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        self._takes += 1
        if self._takes % self.SWEEP_EVERY == 0:
            self._sweep(now)
        stamps = self._stamps[key]
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return stamps[0] + self.window - now
        stamps.append(now)
        return 0.0

    def give_back(self, key: object) -> None:
        """Undo the last `take` (the request failed before anything was accepted)."""
        stamps = self._stamps.get(key)
        if stamps:
            stamps.pop()

    def _sweep(self, now: float) -> None:
        idle = [
            k for k, stamps in self._stamps.items() if not stamps or stamps[-1] <= now - self.window
        ]
        for key in idle:
            del self._stamps[key]


class PerSecond(PerWindow):
    """At most `rate` events per key in any one-second window."""

    def __init__(self, rate: int) -> None:
        super().__init__(rate, 1.0)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
