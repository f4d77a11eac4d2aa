"""The ingress processor: tenants' call requests from their Kafka ingress topics.

Each record of `flashcall.ingress.<account_id>` is a CallRequest (the published Avro schema)
with the tenant's access key in the `flashcall-key` header. The key must be one of that
account's; then the request goes through every check `POST /v1/calls` makes
(front_door/many_calls.py, the same code). In one PostgreSQL transaction with the consumed
offsets, the outbox takes the CallRequested of each accepted request and a CallResult for each
request, accepted or refused, for the account's results topic. A record with a bad key, or one
that does not decode, is answered there too: nothing is dropped.

Exactness: a call's id is derived from its reference, or else from the request's topic,
partition and offset, so a request read again (a crash before the commit) names the same call,
and the decisions place a call id once. The key's rate paces the reading (a request waits
its turn; it is not refused for the key's rate).
"""

from __future__ import annotations

import itertools
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from core.ids import derived_id
from core.text import FORBIDDEN
from front_door.context import Context
from front_door.credentials import key_for_secret
from front_door.directory import KeyView
from front_door.many_calls import Item, KeyRate, copy_duplicates, count_items, decide, read_item
from front_door.problems import ApiError
from runtime.batches import Consumed
from runtime.outbox import Outbox
from runtime.stream_topics import KEY_HEADER, account_of_ingress, result_record
from schemas.codec import Event, Undecodable, decode

log = logging.getLogger(__name__)

CONSUMER = "ingress"
REQUEST = "CallRequest"


@dataclass
class Request:
    """One ingress record and the item it became."""

    record: Consumed
    account_id: uuid.UUID
    item: Item
    key: KeyView | None = None


class Ingress:
    """Reads the records itself (`read`): a tenant's record that does not decode is answered,
    not a poison record that stops the partition."""

    handles = frozenset({REQUEST})
    deduplicated: frozenset[str] = frozenset()

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def read(self, record: Consumed) -> Event:
        return {"event_type": REQUEST, "event_id": None, "record": record}

    async def handle(self, conn: psycopg.AsyncConnection, events: list[Event], out: Outbox) -> None:
        requests = [await self._request(e["record"]) for e in events]
        try:
            # Consecutive requests of one key are decided together, in order.
            for key, run in itertools.groupby(requests, key=lambda r: r.key):
                group = list(run)
                if key is not None:
                    derive = f"{group[0].record.topic}:{group[0].record.partition}"
                    await decide(
                        self.ctx, key, [r.item for r in group], KeyRate.PACE, derive=derive
                    )
            copy_duplicates([r.item for r in requests])
        except Exception:
            # The batch is applied again (its calls keep their ids, so the phone rule counts
            # them once), or its requests are answered otherwise: their takes go.
            await self._give_back(requests)
            raise
        count_items("kafka", [r.item for r in requests])
        for request in requests:
            if request.item.event is not None:
                out.emit(request.item.event)
            out.emit_record(answer(request))

    async def _request(self, record: Consumed) -> Request:
        account_id = account_of_ingress(record.topic)
        if account_id is None:  # the subscription's pattern admits no other topic
            raise ValueError(f"{record.topic} is no account's ingress topic")
        item = Item(record.offset)
        request = Request(record, account_id, item)
        secret = record.header(KEY_HEADER)
        try:
            key = await key_for_secret(self.ctx, secret or "")
        except ApiError as exc:
            item.refuse(exc.code, f"the {KEY_HEADER} header: {exc.detail}")
            return request
        if key.account_id != account_id:
            item.refuse("unauthorized", f"the {KEY_HEADER} header: a key of another account")
            return request
        try:
            value = decode(record.value)
        except Undecodable as exc:
            item.refuse("invalid_request", f"the record does not decode as a {REQUEST}: {exc}")
            return request
        if value["event_type"] != REQUEST:
            item.refuse("invalid_request", f"a {value['event_type']} is no {REQUEST}")
            return request
        fields = {"phone": value["phone"], "reference": value.get("reference")}
        request.item = read_item(record.offset, {k: v for k, v in fields.items() if v is not None})
        request.key = key
        return request

    async def _give_back(self, requests: list[Request]) -> None:
        taken = [
            r.item.call_id
            for r in requests
            if r.item.phone_taken and r.item.event is not None and r.item.call_id is not None
        ]
        await self.ctx.limits.give_back_calls(taken)


def answer(request: Request) -> Any:
    """The CallResult that says what became of a request."""
    item, record = request.item, request.record
    where = f"{record.partition}:{record.offset}"
    fields: dict[str, Any] = {
        "reference": item.reference,
        "request_partition": record.partition,
        "request_offset": record.offset,
        "service_id": request.key.service_id if request.key else None,
    }
    if item.error is not None:
        code, detail = item.error
        fields.update(status="refused", error_code=code, error_detail=printable(detail[:1000]))
    else:
        fields.update(
            status=item.status,
            call_id=item.call_id,
            phone=item.phone,
            caller_prefix=item.caller_prefix,
            code_length=item.code_length,
            channel=item.channel or "flash_call",
        )
    key = item.reference or (str(item.call_id) if item.call_id else where)
    event_id = derived_id(record.topic, record.partition, record.offset, "CallResult")
    return result_record(request.account_id, key, event_id, **fields)


def printable(text: str) -> str:
    """`text` with what no event may carry replaced (an error may quote a tenant's bytes)."""
    return FORBIDDEN.sub("\ufffd", text)
