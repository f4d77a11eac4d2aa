"""Unknown query parameters are refused (422 `invalid_request`), as unknown body fields are: a
misspelt filter must not silently answer as if it were not there. What an operation knows is
what the OpenAPI document declares for it."""

from __future__ import annotations

from fastapi import FastAPI, Request

from front_door.problems import invalid


async def known_query_only(request: Request) -> None:
    if not request.query_params:
        return
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return
    known = _known(request.app, path, request.method)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "none"
        raise invalid(f"unknown query parameter {unknown[0]!r} (this operation takes: {takes})")


def _known(app: FastAPI, path: str, method: str) -> frozenset[str]:
    cache: dict[tuple[str, str], frozenset[str]] = app.state.__dict__.setdefault("known_query", {})
    key = (path, method)
    if key not in cache:
        operation = app.openapi().get("paths", {}).get(path, {}).get(method.lower(), {})
        cache[key] = frozenset(
            p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"
        )
    return cache[key]
