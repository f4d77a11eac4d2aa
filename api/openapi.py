"""The OpenAPI document, made to say what the API does: every error an operation can answer
as application/problem+json with its codes, bearer schemes for the three roles (from the
dependencies in api/auth.py), and parameters that are omitted rather than null.

Routes declare their errors by code with `problems(...)`; the status of each code is in
front_door/problems.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.operation_docs import OPERATIONS
from front_door.problems import PROBLEM, STATUS, TITLES

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is the stable machine-readable reason.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "enum": sorted(TITLES)},
        "limit": {
            "type": "string",
            "enum": ["service", "account"],
            "description": "credit_limit_reached only: the service's limit or the account's"
            " total_credit_limit (docs/billing.md).",
        },
    },
}
RETRY_AFTER = {
    "description": "Seconds to wait before asking again.",
    "schema": {"type": "integer", "minimum": 1},
}
# Codes whose answers always say when to come back.
WITH_RETRY_AFTER = frozenset({"rate_limited", "unavailable"})


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """The error responses of an operation that can answer with these codes (every operation
    can also answer 503 `unavailable` while PostgreSQL or the broker is away)."""
    by_status: dict[int, list[str]] = {}
    for code in (*codes, "unavailable"):
        by_status.setdefault(STATUS[code], []).append(code)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, listed in sorted(by_status.items()):
        schema = {
            "allOf": [
                {"$ref": "#/components/schemas/Problem"},
                {
                    "properties": {
                        "code": {"type": "string", "enum": listed},
                        "status": {"type": "integer", "enum": [status]},
                    }
                },
            ]
        }
        response: dict[str, Any] = {
            "description": "; ".join(f"`{c}`: {TITLES[c]}" for c in listed),
            "content": {PROBLEM: {"schema": schema}},
        }
        if any(code in WITH_RETRY_AFTER for code in listed):
            response["headers"] = {"Retry-After": {**RETRY_AFTER, "required": True}}
        elif "code_still_valid" in listed:
            response["headers"] = {"Retry-After": RETRY_AFTER}
        responses[status] = response
    return responses


def install(app: FastAPI) -> None:
    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]


def _document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(
        title=app.title,
        version=app.version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            text = OPERATIONS.get(f"{method.upper()} {path}")
            if text is not None:
                operation["summary"], operation["description"] = text
            for parameter in operation.get("parameters", []):
                # A query parameter is omitted, never null.
                parameter["schema"] = _without_null(parameter["schema"])
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf")
    if not branches:
        return schema
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    if schema.get("default") is not None:
        rest["default"] = schema["default"]
    return {**kept[0], **rest}
