"""The client: `Flashcall` (sync) and `AsyncFlashcall`, the same calls on httpx.

Network failures are retried (a few times, with backoff): a request that may not have reached
the platform is sent again only when doing so cannot act twice — reads, and creates carrying
an Idempotency-Key (placing a call always carries one, made here unless you give your own or a
`reference`). A 503 `unavailable` is retried after its Retry-After. Every other problem+json
answer raises its typed exception (flashcall_client.errors).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx

from flashcall_client.errors import FlashcallError, Unavailable, error_of
from flashcall_client.models import Call, ItemResult, Verification

TRIES = 4
BACKOFF = 0.2
# The NDJSON stream is sent a chunk of lines per request: httpx sends a body whole before it
# reads the answer, and a chunk's answers fit in the connection's buffers.
STREAM_CHUNK = 500


def _call_body(phone: str, reference: str | None) -> dict[str, Any]:
    return {"phone": phone, **({"reference": reference} if reference else {})}


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise error_of(response.status_code, body, response.headers.get("retry-after"))
    if not response.content:
        return None
    if response.headers.get("content-type", "").startswith("application/x-ndjson"):
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return response.json()


def _retryable(exc: Exception, repeatable: bool) -> bool:
    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True  # the request never left
    return repeatable and isinstance(exc, httpx.TransportError)


def _wait(exc: Exception, attempt: int) -> float:
    if isinstance(exc, FlashcallError) and exc.retry_after:
        return float(exc.retry_after)
    return BACKOFF * float(2**attempt)


class Flashcall:
    """`token`: an access key (calls) or the account token (reports, webhooks)."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def __enter__(self) -> Flashcall:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _request(self, method: str, path: str, repeatable: bool, **kwargs: Any) -> Any:
        for attempt in range(TRIES):
            try:
                return _check(self.http.request(method, path, **kwargs))
            except (httpx.TransportError, Unavailable) as exc:
                if attempt == TRIES - 1 or not _retryable(exc, repeatable):
                    raise
                time.sleep(_wait(exc, attempt))
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- calls (access key)
    def place_call(
        self, phone: str, reference: str | None = None, idempotency_key: str | None = None
    ) -> Call:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        body = _call_body(phone, reference)
        return Call.of(self._request("POST", "/v1/calls", True, json=body, headers=headers))

    def get_call(self, call_id: str) -> Call:
        return Call.of(self._request("GET", f"/v1/calls/{call_id}", True))

    def retry_call(self, call_id: str) -> Call:
        # A retry of a call is one call however often it is asked for.
        return Call.of(self._request("POST", f"/v1/calls/{call_id}/retry", True))

    def verify(self, call_id: str, code: str) -> Verification:
        # Each attempt counts: sent again only if it never left.
        body = self._request("POST", f"/v1/calls/{call_id}/verify", False, json={"code": code})
        return Verification.of(body)

    def place_batch(self, calls: list[dict[str, Any]]) -> list[ItemResult]:
        body = self._request("POST", "/v1/calls/batch", False, json={"calls": calls})
        return [ItemResult.of(r) for r in body["results"]]

    def stream_calls(self, calls: Iterable[dict[str, Any]]) -> Iterator[ItemResult]:
        """Each call's result, in order, as the platform answers (paced to the key's rate)."""
        offset = 0
        for chunk in _chunks(calls, STREAM_CHUNK):
            lines = "".join(json.dumps(c) + "\n" for c in chunk).encode()
            answers = self._request(
                "POST",
                "/v1/calls/stream",
                False,
                content=lines,
                headers={"Content-Type": "application/x-ndjson"},
            )
            for answer in answers:
                yield ItemResult.of(answer, offset)
            offset += len(chunk)

    # ---------------------------------------------------------------- reports (account)
    def reports(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every call the filters select, newest first, page after page."""
        params = {k: v for k, v in filters.items() if v is not None}
        while True:
            page = self._request("GET", "/v1/reports/calls", True, params=params)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def export_csv(self, path: str | Path, **filters: Any) -> Path:
        """Download the report as CSV to `path`."""
        target = Path(path)
        params = {k: v for k, v in filters.items() if v is not None}
        with self.http.stream("GET", "/v1/reports/calls.csv", params=params) as response:
            if response.status_code >= 400:
                response.read()
                _check(response)
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        return target


class AsyncFlashcall:
    """The same calls as `Flashcall`, awaitable."""

    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    async def __aenter__(self) -> AsyncFlashcall:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, repeatable: bool, **kwargs: Any) -> Any:
        for attempt in range(TRIES):
            try:
                return _check(await self.http.request(method, path, **kwargs))
            except (httpx.TransportError, Unavailable) as exc:
                if attempt == TRIES - 1 or not _retryable(exc, repeatable):
                    raise
                await asyncio.sleep(_wait(exc, attempt))
        raise AssertionError("unreachable")

    async def place_call(
        self, phone: str, reference: str | None = None, idempotency_key: str | None = None
    ) -> Call:
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        body = _call_body(phone, reference)
        return Call.of(await self._request("POST", "/v1/calls", True, json=body, headers=headers))

    async def get_call(self, call_id: str) -> Call:
        return Call.of(await self._request("GET", f"/v1/calls/{call_id}", True))

    async def retry_call(self, call_id: str) -> Call:
        return Call.of(await self._request("POST", f"/v1/calls/{call_id}/retry", True))

    async def verify(self, call_id: str, code: str) -> Verification:
        body = await self._request(
            "POST", f"/v1/calls/{call_id}/verify", False, json={"code": code}
        )
        return Verification.of(body)

    async def place_batch(self, calls: list[dict[str, Any]]) -> list[ItemResult]:
        body = await self._request("POST", "/v1/calls/batch", False, json={"calls": calls})
        return [ItemResult.of(r) for r in body["results"]]

    async def stream_calls(self, calls: Iterable[dict[str, Any]]) -> AsyncIterator[ItemResult]:
        offset = 0
        for chunk in _chunks(calls, STREAM_CHUNK):
            lines = "".join(json.dumps(c) + "\n" for c in chunk).encode()
            answers = await self._request(
                "POST",
                "/v1/calls/stream",
                False,
                content=lines,
                headers={"Content-Type": "application/x-ndjson"},
            )
            for answer in answers:
                yield ItemResult.of(answer, offset)
            offset += len(chunk)

    async def reports(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        while True:
            page = await self._request("GET", "/v1/reports/calls", True, params=params)
            for item in page["items"]:
                yield item
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]


def _chunks(items: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
