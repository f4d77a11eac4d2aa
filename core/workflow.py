"""A service's workflow: the channels a verification tries, in order, each with a timeout
(docs/workflows.md). The API checks a workflow against these rules, the decisions follow it,
and the projection shows it; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Channel(StrEnum):
    FLASH_CALL = "flash_call"
    SMS = "sms"


MIN_TIMEOUT_SECONDS = 15
MAX_TIMEOUT_SECONDS = 900
MAX_STEPS = 3
MAX_TEMPLATE_LENGTH = 200
CODE_PLACEHOLDER = "{code}"
DEFAULT_SMS_TEMPLATE = "کد تأیید شما: {code}"


@dataclass(frozen=True)
class Step:
    channel: Channel
    timeout_seconds: int


# The seed's behaviour: one flash call, and the code's validity is all the wait there is.
DEFAULT_WORKFLOW: tuple[Step, ...] = (Step(Channel.FLASH_CALL, 60),)


def workflow_of(raw: Sequence[dict[str, Any]] | None) -> tuple[Step, ...]:
    """A workflow as events and rows carry it (None: the default, as before workflows)."""
    if not raw:
        return DEFAULT_WORKFLOW
    return tuple(Step(Channel(s["channel"]), int(s["timeout_seconds"])) for s in raw)


def as_records(workflow: Sequence[Step]) -> list[dict[str, Any]]:
    return [{"channel": s.channel.value, "timeout_seconds": s.timeout_seconds} for s in workflow]


def workflow_problem(raw: Sequence[dict[str, Any]]) -> str | None:
    """Why a workflow is refused (None: it is fine)."""
    if not 1 <= len(raw) <= MAX_STEPS:
        return f"a workflow has 1 to {MAX_STEPS} steps"
    for index, step in enumerate(raw):
        if step.get("channel") not in set(Channel):
            return f"step {index}: channel is one of {', '.join(c.value for c in Channel)}"
        timeout = step.get("timeout_seconds")
        if (
            not isinstance(timeout, int)
            or isinstance(timeout, bool)
            or not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS
        ):
            return (
                f"step {index}: timeout_seconds is a whole number from {MIN_TIMEOUT_SECONDS}"
                f" to {MAX_TIMEOUT_SECONDS}"
            )
    return None


def template_problem(template: str) -> str | None:
    """Why an SMS template is refused (None: it is fine)."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        return f"sms_template has at most {MAX_TEMPLATE_LENGTH} characters"
    if CODE_PLACEHOLDER not in template:
        return f"sms_template must contain {CODE_PLACEHOLDER}"
    return None


def sms_text(template: str | None, code: str) -> str:
    """The message an SMS step sends: every {code} replaced, nothing else interpreted."""
    return (template or DEFAULT_SMS_TEMPLATE).replace(CODE_PLACEHOLDER, code)


def step_price(channel: Channel, price_per_call: int, price_per_sms: int) -> int:
    """What a delivered step is charged (a flash call and an SMS of one call are two charges)."""
    return price_per_sms if channel == Channel.SMS else price_per_call


@dataclass(frozen=True)
class StepAt:
    """Where a call stands in its workflow, as the decisions hold it."""

    index: int
    workflow: tuple[Step, ...]

    @property
    def step(self) -> Step:
        return self.workflow[self.index]

    @property
    def has_next(self) -> bool:
        return self.index + 1 < len(self.workflow)

    def next(self) -> StepAt:
        return StepAt(self.index + 1, self.workflow)
