"""`POST /v1/calls` without FastAPI's machinery per request: the route is matched by walking
every route's pattern, its dependencies solved one by one and its answer validated twice,
which cost the API more CPU than the call itself (docs/benchmarks.md: the profile).

The route stays declared in FastAPI (OpenAPI, the docs, and every request not taken here).
Only an ordinary request is answered here: no query string, one `Authorization: Bearer` of a
usable key this replica knows, at most one valid `Idempotency-Key`, a JSON body the route's
own model accepts. It is answered by the same service function, through the same response
model, and its failures are rendered as the route's are (api/errors.py). Anything else goes
on to the route, its body replayed, and is answered exactly as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import FastAPI
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import bearer_token
from api.errors import failure
from api.http_params import created_as
from api.models import CallCreate, CallOut
from api.service_layer import calls
from front_door.context import Context
from front_door.directory import KeyView
from front_door.idempotency import valid_key
from front_door.secrets import hash_secret

PATH = "/v1/calls"
# A call's body is a phone number and a reference: a bigger one is not ordinary.
MAX_BODY = 4096
JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})


@dataclass(frozen=True)
class Matched:
    """What the router would have put in the scope as the matched route, as far as anything
    reads it (the request metrics: its path template)."""

    path: str


MATCHED = Matched(PATH)


class FastCalls:
    """In front of the FastAPI application (inside the request metrics: api/app.py)."""

    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "POST"
            or scope["query_string"]
        ):
            await self.app(scope, receive, send)
            return
        messages, body = await _read(receive)
        try:
            taken = None if body is None else self._ordinary(scope, body)
        except Exception as exc:  # a fault of this path itself: 500, as the application answers
            await failure("POST", PATH, exc)(scope, receive, send)
            return
        if taken is None:
            await self.app(scope, _replaying(messages, receive), send)
            return
        key, call, idempotency_key = taken
        scope["route"] = MATCHED  # the request metrics' label
        try:
            answer, replayed = await calls.place(
                self._context(), key, call.phone, call.reference, idempotency_key
            )
            response: Response = created_as(CallOut, answer, replayed)
        except Exception as exc:
            response = failure("POST", PATH, exc)
        await response(scope, receive, send)

    def _ordinary(self, scope: Scope, body: bytes) -> tuple[KeyView, CallCreate, str | None] | None:
        """The key, body and Idempotency-Key of an ordinary request; None for any other."""
        token = content_type = idempotency_key = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if token is not None:
                    return None
                token = value
            elif name == b"content-type":
                if content_type is not None:
                    return None
                content_type = value
            elif name == b"idempotency-key":
                if idempotency_key is not None:
                    return None
                idempotency_key = value.decode("latin-1")
        if token is None or content_type is None or content_type.lower() not in JSON_TYPES:
            return None
        if idempotency_key is not None and not valid_key(idempotency_key):
            return None
        secret = bearer_token(token.decode("latin-1"))
        if secret is None:
            return None
        key = self._context().directory.key_for_secret(hash_secret(secret))
        if key is None or key.revoked_at is not None:
            return None  # perhaps issued a moment ago through another replica: the route looks
        try:
            call = CallCreate.model_validate(json.loads(body))
        except (ValueError, ValidationError, RecursionError):  # the route says what is wrong
            return None
        return key, call, idempotency_key

    def _context(self) -> Context:
        context: Context = self.api.state.context
        return context


async def _read(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages up to MAX_BODY bytes of body, and the body if that was all of
    it (None: a longer body, or the client went away)."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        if size > MAX_BODY:
            return messages, None
        if not message.get("more_body", False):
            return messages, b"".join(m.get("body", b"") for m in messages)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """`receive` as if nothing had been read from it yet."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
