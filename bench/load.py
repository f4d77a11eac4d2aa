"""HTTP load: closed loop at a fixed concurrency, or open loop at a fixed rate."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    sent_at: dict[str, float] = field(default_factory=dict)  # call id -> wall clock at send

    @property
    def ok(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def random_phone() -> str:
    return f"+98912{random.randrange(10**7):07d}"


async def _send(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], result: Result
) -> None:
    started, wall = time.perf_counter(), time.time()
    async with session.post(url, json={"phone": random_phone()}, headers=headers) as response:
        body = await response.json()
    result.latencies.append(time.perf_counter() - started)
    result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
    if response.status == 201 and "id" in body:
        result.sent_at[str(body["id"])] = wall


async def closed_loop(
    url: str, headers: Callable[[], dict[str, str]], concurrency: int, seconds: float
) -> Result:
    """`concurrency` clients, each sending as soon as its last answer came back."""
    result = Result(seconds)
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while time.perf_counter() < deadline:
                await _send(session, url, headers(), result)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return result


async def paced(
    rate: float, seconds: float, start: Callable[[aiohttp.ClientSession, int], Awaitable[None]]
) -> None:
    """`start(session, i)` for i = 0, 1, … at a fixed `rate` for `seconds`, whatever the
    answers take; returns when every one has finished."""
    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        began = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(start(session, i)))
        await asyncio.gather(*tasks)


async def open_loop(
    url: str, headers: Callable[[], dict[str, str]], rate: float, seconds: float
) -> Result:
    """Requests started at a fixed `rate`, whatever the answers take."""
    result = Result(seconds)
    await paced(rate, seconds, lambda session, _: _send(session, url, headers(), result))
    return result
