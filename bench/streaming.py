"""The streaming ways in (docs/streaming.md): accepted calls per second over the NDJSON stream
and over the Kafka ingress (the append side: until every request has its answer), the API's CPU
per streamed call against a single POST's, and a large streamed load end to end (decided,
dialled and projected, with each delivery on the results topic)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import httpx
from confluent_kafka import Consumer, Producer, TopicPartition

from bench.api_load import new_tenant
from bench.load import closed_loop
from bench.pipeline import cpu_seconds, platform, stage
from core.settings import DEV_ADMIN_TOKEN
from launch.platform import Platform
from runtime.stream_topics import KEY_HEADER
from schemas.codec import decode, encode

_phones = itertools.count()


def phones(n: int) -> list[str]:
    """Distinct valid mobile numbers (none ends in a simulated failure)."""
    out: list[str] = []
    while len(out) < n:
        digits = f"{next(_phones) % 10**7:07d}"
        if digits[-4:] not in {"0000", "1111", "2222", "3333"}:
            out.append("+98912" + digits)
    return out


@dataclass
class StreamingRound:
    http_rate: float  # accepted calls/s over one NDJSON stream
    kafka_rate: float  # accepted calls/s over the ingress
    stream_cpu_us: float  # API CPU per streamed call
    single_cpu_us: float  # API CPU per accepted POST /v1/calls

    @property
    def cpu_ratio(self) -> float:
        return self.stream_cpu_us / self.single_cpu_us


@dataclass
class EndToEnd:
    calls: int
    accepted_seconds: float  # until every request had its answer
    seconds: float  # until every call was dialled and projected and its delivery published

    @property
    def rate(self) -> float:
        return self.calls / self.seconds


class Tenant:
    def __init__(self, plat: Platform, name: str) -> None:
        with httpx.Client(base_url=plat.url, timeout=60) as http:
            account, _, key = new_tenant(http, name)
            admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
            topics = http.post(f"/v1/accounts/{account['id']}/streams", headers=admin).json()
        self.key: str = key["key"]
        self.ingress: str = topics["ingress_topic"]
        self.results: str = topics["results_topic"]


def streaming_figures(
    rounds: int, calls: int, end_to_end: int
) -> tuple[list[StreamingRound], EndToEnd]:
    with stage() as s:
        plat = platform(s, FLASHCALL_PHONE_CALLS_PER_HOUR="1000")
        try:
            plat.start_workers()
            api = plat.start_api()
            tenant = Tenant(plat, "streaming bench")
            results = ResultsReader(s.bootstrap, tenant.results)
            stream_http(plat.url, tenant.key, phones(2000))  # warm-up
            ingress(s.bootstrap, tenant, results, phones(2000))
            figures = []
            for _ in range(rounds):
                before = cpu_seconds(api.pid)
                started = time.monotonic()
                accepted = stream_http(plat.url, tenant.key, phones(calls))
                http_rate = accepted / (time.monotonic() - started)
                stream_cpu = (cpu_seconds(api.pid) - before) / max(accepted, 1)
                kafka_rate = calls / ingress(s.bootstrap, tenant, results, phones(calls))
                figures.append(
                    StreamingRound(
                        http_rate,
                        kafka_rate,
                        stream_cpu * 1e6,
                        single_cpu(plat, api.pid, tenant.key),
                    )
                )
            whole = end_to_end_run(plat.url, tenant, results, end_to_end)
            results.close()
            return figures, whole
        finally:
            plat.stop_all()


def stream_http(base_url: str, key: str, numbers: list[str]) -> int:
    """Stream the calls over one NDJSON request; returns how many were accepted."""
    body = b"".join(b'{"phone":"%s"}\n' % p.encode() for p in numbers)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    async def run() -> int:
        accepted = 0
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(f"{base_url}/v1/calls/stream", data=chunks(), headers=headers) as r,
        ):
            async for line in r.content:
                accepted += b'"id"' in line
        return accepted

    return asyncio.run(run())


class ResultsReader:
    """Counts an account's CallResults by status, from the topic's current end."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{time.time_ns()}",
                "enable.auto.commit": False,
            }
        )
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in parts
        ]
        self.consumer.assign(
            [TopicPartition(topic, p, e) for p, e in zip(parts, ends, strict=True)]
        )
        self.counts: dict[str, int] = {}

    def until(self, status: str, at_least: int, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while self.counts.get(status, 0) < at_least and time.monotonic() < deadline:
            for msg in self.consumer.consume(5000, 0.2):
                value = msg.value()
                if msg.error() is None and value is not None:
                    kind = decode(value)["status"]
                    self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self) -> None:
        self.consumer.close()


def ingress(bootstrap: str, tenant: Tenant, results: ResultsReader, numbers: list[str]) -> float:
    """Produce the requests to the ingress topic; seconds until each has its answer."""
    values = [encode({"event_type": "CallRequest", "phone": p, "reference": None}) for p in numbers]
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True}
    )
    answered = results.counts.get("queued", 0) + results.counts.get("refused", 0)
    started = time.monotonic()
    for value in values:
        while True:
            try:
                producer.produce(tenant.ingress, value=value, headers=[(KEY_HEADER, tenant.key)])
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    target = answered + len(numbers)
    while results.counts.get("queued", 0) + results.counts.get("refused", 0) < target:
        results.until("queued", target - results.counts.get("refused", 0), timeout=5)
        if time.monotonic() - started > 600:
            break
    return time.monotonic() - started


def single_cpu(plat: Platform, api_pid: int, key: str, seconds: float = 5.0) -> float:
    """API CPU (µs) per accepted POST /v1/calls, closed loop at concurrency 32."""
    before = cpu_seconds(api_pid)
    done = asyncio.run(
        closed_loop(plat.url + "/v1/calls", lambda: {"Authorization": f"Bearer {key}"}, 32, seconds)
    )
    return (cpu_seconds(api_pid) - before) / max(done.ok, 1) * 1e6


def end_to_end_run(base_url: str, tenant: Tenant, results: ResultsReader, calls: int) -> EndToEnd:
    """Stream `calls` over HTTP; time until every call was delivered (decided, dialled and
    projected) and its delivery published on the results topic."""
    delivered = results.counts.get("delivered", 0)
    started = time.monotonic()
    accepted = stream_http(base_url, tenant.key, phones(calls))
    accepted_seconds = time.monotonic() - started
    results.until("delivered", delivered + accepted, timeout=900)
    return EndToEnd(accepted, accepted_seconds, time.monotonic() - started)
