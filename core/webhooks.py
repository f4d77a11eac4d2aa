"""Webhook rules the API and the delivery worker share: event types, the targets refused, the
retry schedule, the signature (Standard Webhooks, with the maintained `standardwebhooks`)."""

from __future__ import annotations

import base64
import ipaddress
import random
import secrets
import socket
import uuid
from datetime import datetime, timedelta
from typing import Literal, get_args
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from core.ids import derived_id

CALL_EVENTS = {
    "delivered": "call.delivered",
    "failed": "call.failed",
    "verified": "call.verified",
    "expired": "call.expired",
    "rejected": "call.rejected",
}
EventType = Literal[
    "call.delivered",
    "call.failed",
    "call.verified",
    "call.expired",
    "call.rejected",
    "credit.low",
    "service.cut_off",
    "service.restored",
    # The account-wide limit (docs/billing.md): sent to the account's endpoints, those scoped
    # to one service included (an account cut off stops every service).
    "account.credit_low",
    "account.cut_off",
    "account.restored",
    # A number prefix of the service blocked as pumped (docs/fraud.md).
    "fraud.suspected",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# The operator's own events (docs/ranges.md), sent to the operator's endpoints
# (/v1/operator/webhooks), kept under an account id no account has.
OperatorEventType = Literal["range.quarantined", "range.released"]
OPERATOR_EVENT_TYPES: tuple[str, ...] = get_args(OperatorEventType)
OPERATOR_ACCOUNT = derived_id("operator", "webhooks")
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"

# Attempt n waits SCHEDULE[n-1] × the base (5 s, then 5 min, 30 min, 2 h, 5 h, 10 h, 10 h…), with
# ±20 % jitter; a delivery still failing after the retry window is failed.
SCHEDULE = (1, 60, 360, 1440, 3600, 7200, 7200)


def delivery_id(endpoint_id: uuid.UUID, event_id: object) -> uuid.UUID:
    """The stable webhook-id of one event for one endpoint (every attempt carries it)."""
    return derived_id(endpoint_id, "webhook", event_id)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, at: datetime, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the secret's base64 part."""
    return Webhook(secret).sign(msg_id, at, body)


def signatures(secrets_: list[str], msg_id: str, at: datetime, body: str) -> str:
    """The webhook-signature header: one signature per valid secret (rotation overlap)."""
    return " ".join(sign(s, msg_id, at, body) for s in secrets_)


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    step = SCHEDULE[min(attempts, len(SCHEDULE)) - 1] if attempts > 0 else 1
    return timedelta(seconds=base_seconds * step * random.uniform(0.8, 1.2))


class RefusedTarget(ValueError):
    """A webhook URL we will not call."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return bool(ip.is_global) and not ip.is_multicast


def check_url(url: str, allow_private: bool) -> None:
    """http(s) only; and unless `allow_private`, a host whose every address is public (no
    private, loopback or link-local target: the metadata service, the database). Never a
    control character (a NUL cannot even be stored)."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise RefusedTarget("url must not contain control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on access: "http://h:x/" raises here
    except ValueError as exc:  # "http://[/", a port out of range
        raise RefusedTarget(f"url is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedTarget("url must be an http or https URL with a host")
    if parts.username or parts.password:
        raise RefusedTarget("url must not carry credentials")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise RefusedTarget(f"url's host does not resolve: {exc}") from exc
    for *_, sockaddr in infos:
        if not is_public(str(sockaddr[0])):
            raise RefusedTarget("url points to a private, loopback or link-local address")
