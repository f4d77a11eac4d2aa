"""What the API answers, as typed values (unknown fields are kept in `raw`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class Call:
    id: str
    status: str
    phone: str
    service_id: str
    attempt: int
    code_length: int
    created_at: datetime | None
    expires_at: datetime | None
    failure_reason: str | None = None
    reference: str | None = None
    code: str | None = None
    # What the handset sees: caller_prefix and then code_length digits (match_incoming).
    caller_prefix: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, body: dict[str, Any]) -> Call:
        return cls(
            id=body["id"],
            status=body["status"],
            phone=body["phone"],
            service_id=body["service_id"],
            attempt=body["attempt"],
            code_length=body["code_length"],
            created_at=_time(body.get("created_at")),
            expires_at=_time(body.get("expires_at")),
            failure_reason=body.get("failure_reason"),
            reference=body.get("reference"),
            code=body.get("code"),
            caller_prefix=body.get("caller_prefix"),
            raw=body,
        )


@dataclass(frozen=True)
class Verification:
    id: str
    verified: bool
    status: str
    reason: str | None
    attempts_left: int

    @classmethod
    def of(cls, body: dict[str, Any]) -> Verification:
        return cls(
            body["id"], body["verified"], body["status"], body["reason"], body["attempts_left"]
        )


@dataclass(frozen=True)
class ItemResult:
    """One item of a batch or a stream: an id and status, or an error code and detail."""

    index: int
    reference: str | None
    id: str | None = None
    status: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    caller_prefix: str | None = None
    code_length: int | None = None

    @property
    def ok(self) -> bool:
        return self.error_code is None

    @classmethod
    def of(cls, body: dict[str, Any], offset: int = 0) -> ItemResult:
        error = body.get("error") or {}
        return cls(
            body["index"] + offset,
            body.get("reference"),
            body.get("id"),
            body.get("status"),
            error.get("code"),
            error.get("detail"),
            body.get("caller_prefix"),
            body.get("code_length"),
        )
