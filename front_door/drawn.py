"""What a create draws at random: the new thing's id, its event's id and moment, and a secret
shown once (an account's token, an access key).

With an Idempotency-Key these are kept with the key's claim before anything is appended
(migration 025), and a retry after a failure draws the same: an event the failure left durable
(appended, then the read model was behind, or the process died) is appended again as itself,
which every consumer takes once, instead of a second account, service, key or range being made.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Drawn:
    id: uuid.UUID
    event_id: str
    occurred_at: datetime
    secret: str | None = None

    def envelope(self) -> dict[str, Any]:
        """The event's id and moment, as `new_event` takes them."""
        return {"event_id": self.event_id, "occurred_at": self.occurred_at}

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "event_id": self.event_id,
            "occurred_at": self.occurred_at.isoformat(),
            "secret": self.secret,
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Drawn:
        return cls(
            uuid.UUID(value["id"]),
            value["event_id"],
            datetime.fromisoformat(value["occurred_at"]),
            value.get("secret"),
        )


def draw(secret: str | None = None, new_id: uuid.UUID | None = None) -> Drawn:
    """A new draw (`new_id` when the caller fixed the id already)."""
    return Drawn(new_id or uuid.uuid4(), str(uuid.uuid4()), datetime.now(UTC), secret)
