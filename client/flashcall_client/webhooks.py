"""Checking that a webhook request came from flashcall (Standard Webhooks signatures)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class InvalidSignature(Exception):
    """The request is not flashcall's, was altered, or is older than five minutes."""


def verify_webhook(secret: str, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
    """The event (`{"type", "timestamp", "data"}`) if `webhook-signature` matches `secret`
    (`whsec_…`); InvalidSignature otherwise. Pass the body exactly as received."""
    try:
        event: dict[str, Any] = Webhook(secret).verify(body, dict(headers))
    except WebhookVerificationError as exc:
        raise InvalidSignature(str(exc)) from exc
    return event
