from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest

from core.caller_ranges import seed_ranges
from core.number_pool import NumberPool
from core.references import reference_problem
from front_door import limits, many_calls
from front_door.directory import Directory, KeyView, ServiceView
from front_door.many_calls import Item, copy_duplicates, read_item
from tests.support.limits import MemoryLimits


def directory_of(svc: ServiceView) -> Directory:
    directory = Directory()
    directory.services[svc.id] = svc
    return directory


def test_a_call_item_keeps_phone_and_reference() -> None:
    item = read_item(3, {"phone": "09121234567", "reference": "order-1"})
    assert (item.index, item.phone, item.reference, item.error) == (
        3,
        "09121234567",
        "order-1",
        None,
    )


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ([1, 2], "each call is a JSON object with a phone"),
        ({}, "phone: a string is required"),
        ({"phone": 989121234567}, "phone: a string is required"),
        ({"phone": "0912", "extra": 1}, "unknown field 'extra'"),
        ({"phone": "9" * 33}, "phone: at most 32 characters"),
        ({"phone": "0912", "reference": ""}, "reference: a non-empty string"),
        ({"phone": "0912", "reference": "r" * 65}, "reference: at most 64 characters"),
        ({"phone": "0912", "reference": "a\x00b"}, "reference: no control characters"),
    ],
)
def test_what_is_not_a_call_is_an_invalid_request(value: object, detail: str) -> None:
    item = read_item(0, value)
    assert item.error == ("invalid_request", detail)
    assert item.body()["error"] == {"code": "invalid_request", "detail": detail}


def test_a_bad_reference_is_not_echoed_but_a_good_one_is() -> None:
    assert read_item(0, {"phone": "0912", "reference": "a\x00b"}).body()["reference"] is None
    assert read_item(0, {"reference": "ok"}).body()["reference"] == "ok"


def test_reference_rules() -> None:
    assert reference_problem(None) is None
    assert reference_problem("r" * 64) is None
    assert reference_problem(7) == "a non-empty string"


def test_an_accepted_item_answers_its_id_status_and_what_an_app_knows_the_call_by() -> None:
    call_id = uuid.uuid4()
    item = Item(2, "+989121234567", "r")
    item.answer(call_id, "queued", "+982191012345", 5, "sms")
    assert item.body() == {
        "index": 2,
        "reference": "r",
        "id": str(call_id),
        "status": "queued",
        "caller_prefix": "+9821910",
        "code_length": 5,
        "channel": "sms",
    }


def test_a_repeated_reference_answers_as_its_first_item() -> None:
    first = Item(0, "+989121234567", "r")
    first.answer(uuid.uuid4(), "queued", "+98219101234", 4, "flash_call")
    same = Item(1, "+989121234567", "r", same_as=first)
    other_phone = Item(2, "+989121234568", "r", same_as=first)
    refused = Item(3, error=("rate_limited", "too many"))
    after_refused = Item(4, "+989121234567", "q", same_as=refused)
    copy_duplicates([first, same, other_phone, refused, after_refused])
    assert (same.call_id, same.status) == (first.call_id, "queued")
    assert (same.caller_prefix, same.code_length, same.channel) == ("+9821910", 4, "flash_call")
    assert other_phone.error is not None and other_phone.error[0] == "invalid_request"
    assert after_refused.error == ("rate_limited", "too many")


def test_the_key_rate_paces_a_stream_and_refuses_a_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # time passes only when slept
        waits.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(limits.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(many_calls.asyncio, "sleep", sleep)
    svc = ServiceView(uuid.uuid4(), uuid.uuid4(), 5, 2, False, "active")
    ctx = SimpleNamespace(
        settings=SimpleNamespace(
            pool=NumberPool.parse("+9821xxxxxxxx"),
            seeded_ranges=seed_ranges(NumberPool.parse("+9821xxxxxxxx"), "+9821xxxxxxxx"),
            range_probe_share=0.1,
            code_secret="s",
            price_per_call=1000,
            price_per_sms=1500,
            default_region="IR",
        ),
        directory=directory_of(svc),
        limits=MemoryLimits(key_rate=2),
        pool=None,  # no references: nothing is looked up
    )
    key = KeyView(uuid.uuid4(), svc.id, svc.account_id, None)

    def items(n: int) -> list[Item]:
        return [Item(i, f"+98912123456{i}") for i in range(n)]

    batch = items(3)
    asyncio.run(many_calls.decide(ctx, key, batch, many_calls.KeyRate.REFUSE))  # type: ignore[arg-type]
    assert [i.status for i in batch] == ["queued", "queued", None]
    assert batch[2].error == ("rate_limited", "too many calls for this access key")
    assert waits == []
    stream = items(4)
    asyncio.run(many_calls.decide(ctx, key, stream, many_calls.KeyRate.PACE))  # type: ignore[arg-type]
    assert [i.status for i in stream] == ["queued"] * 4
    assert waits and sum(waits) >= 1.0  # four more at two a second: it waited its turn
