"""Logging: one JSON object a line (FLASHCALL_LOG_FORMAT=json, as compose runs it) or text
(`make run`), with the context a line belongs to: `call_id`, `service_id`, `event_id`,
`consumer`, `partition`, `route` — from `bind()` or a log call's `extra`."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("call_id", "service_id", "event_id", "consumer", "topic", "partition", "route")
_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "flashcall_log_context", default=None
)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Lines logged inside carry these fields (in this task and what it awaits)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bind_task(**fields: Any) -> None:
    """Lines logged by the rest of the current task carry these fields: for a task that lives
    for one piece of work (a task runs in a copy of its creator's context, so the fields leave
    with it). Cheaper than `bind` where thousands of such tasks run a second."""
    _context.set({**(_context.get() or {}), **fields})


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    found = dict(_context.get() or {})
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            found[name] = value
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **{k: str(v) for k, v in context_of(record).items()},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = context_of(record)
        if context:
            text += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return text


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure(kind: str, level: int = logging.INFO) -> None:
    """Every handler of the root logger (and a new one on stderr if none) uses `kind`."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    for handler in root.handlers:
        handler.setFormatter(formatter(kind))
    root.setLevel(min(root.level or level, level) if root.level else level)


def dict_config(kind: str) -> dict[str, Any]:
    """The root logger through `kind`'s formatter on stderr, as a logging.config dict: what
    faust sets up when a worker starts, so even its first lines are in the format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"flashcall": {"()": f"{__name__}.{type(formatter(kind)).__name__}"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "flashcall",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"]},
    }


def uvicorn_log_config(kind: str) -> dict[str, Any]:
    """uvicorn's loggers (the access log included) through the same formatter."""
    return {
        **dict_config(kind),
        "root": {"handlers": ["default"], "level": "INFO"},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
