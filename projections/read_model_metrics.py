"""What the read model measures as it applies a batch (not mutated by `make mutation`: the
fast tests read no metric; the e2e tests do)."""

from __future__ import annotations

from typing import Any

from core import metrics
from schemas.codec import Event


def observe_dial_latency(events: list[Event], changed: list[dict[str, Any]]) -> None:
    """Request → dial for the calls whose dial outcome this batch brought."""
    dialled = {e["call_id"] for e in events if e["event_type"] in ("CallDelivered", "CallFailed")}
    for row in changed:
        if row["id"] in dialled and row["created_at"] and row["dialed_at"]:
            seconds = (row["dialed_at"] - row["created_at"]).total_seconds()
            metrics.REQUEST_TO_DIAL.observe(max(seconds, 0.0))
