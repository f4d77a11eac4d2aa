"""Local rate limits the API answers 429 from. The decisions processor enforces the phone limit
authoritatively; these let one instance refuse early and say when to come back."""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque


class PerSecond:
    """At most `rate` events per key in any one-second window (a sliding window of stamps)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._stamps: dict[object, deque[float]] = defaultdict(deque)

    def take(self, key: object, now: float | None = None) -> float:
        """Count one event; returns 0 if allowed, else the seconds to wait."""
        return _take(self._stamps[key], self.rate, 1.0, now)


class PerWindow:
    """At most `limit` events per key in any `window`-second window."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._stamps: dict[object, deque[float]] = defaultdict(deque)

    def take(self, key: object, now: float | None = None) -> float:
        return _take(self._stamps[key], self.limit, self.window, now)

    def give_back(self, key: object) -> None:
        """Undo the last `take` (the request failed before anything was accepted)."""
        stamps = self._stamps.get(key)
        if stamps:
            stamps.pop()


def _take(stamps: deque[float], limit: int, window: float, now: float | None) -> float:
    now = time.monotonic() if now is None else now
    while stamps and stamps[0] <= now - window:
        stamps.popleft()
    if len(stamps) >= limit:
        return stamps[0] + window - now
    stamps.append(now)
    return 0.0


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
