"""A call's workflow steps as the projection keeps them (calls.steps): flat keys
"<step>.<field>" (channel, status, started_at, ended_at, failure_reason), each written once by
the event that knows it, so the events of a call merge in any order, like its other columns.
The API and the report show them as a list (`listed`); the cost counts each delivered step at
its channel's price."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.workflow import Channel, workflow_of
from schemas.codec import Event

FIELDS = ("channel", "status", "started_at", "ended_at", "failure_reason")


def step_keys(e: Event) -> tuple[int, dict[str, Any]] | None:
    """The step an event is about and what it says of it; None if it says nothing of one."""
    kind, at = e["event_type"], e["occurred_at"]
    if kind == "CallRequested":
        first = workflow_of(e.get("workflow"))[0].channel.value
        return 0, {"0.channel": first, "0.started_at": at.isoformat()}
    step = e.get("step", 0)
    if kind == "StepStarted":
        return step, {f"{step}.channel": e["channel"], f"{step}.started_at": at.isoformat()}
    if kind == "CallDelivered":
        return step, {
            f"{step}.channel": e.get("channel", Channel.FLASH_CALL.value),
            f"{step}.status": "delivered",
            f"{step}.ended_at": at.isoformat(),
        }
    if kind == "CallFailed":
        return step, {
            f"{step}.channel": e.get("channel", Channel.FLASH_CALL.value),
            f"{step}.status": "failed",
            f"{step}.ended_at": at.isoformat(),
            f"{step}.failure_reason": e["reason"],
        }
    return None


def listed(steps: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The steps in order, each {channel, status, started_at, ended_at, failure_reason}
    (status "started" while it has no outcome)."""
    if not steps:
        return []
    indexes = sorted({int(key.split(".", 1)[0]) for key in steps})
    out = []
    for i in indexes:
        step = {name: steps.get(f"{i}.{name}") for name in FIELDS}
        step["status"] = step["status"] or "started"
        out.append(step)
    return out


def timed(steps: dict[str, Any] | None) -> list[dict[str, Any]]:
    """`listed`, with its times as datetimes (for the report topic and the panel)."""
    return [
        {**step, "started_at": _time(step["started_at"]), "ended_at": _time(step["ended_at"])}
        for step in listed(steps)
    ]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def cost(steps: dict[str, Any], price_per_call: int | None, price_per_sms: int | None) -> int:
    """What a call's delivered steps cost (the SQL twin is flashcall_call_cost)."""
    total = 0
    for key, value in steps.items():
        if key.endswith(".status") and value == "delivered":
            channel = steps.get(key.replace(".status", ".channel"))
            total += (price_per_sms if channel == Channel.SMS else price_per_call) or 0
    return total
