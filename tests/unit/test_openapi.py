"""What the OpenAPI document promises, read without a server."""

from __future__ import annotations

import re
from typing import Any

from api import operation_docs
from api.app import create_app
from core.settings import Settings
from front_door.problems import PROBLEM

DOCUMENT: dict[str, Any] = create_app(
    Settings(DATABASE_URL="unused", KAFKA_BOOTSTRAP_SERVERS="unused")
).openapi()
OPERATIONS = [
    (f"{method.upper()} {path}", op)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
]


def test_every_role_is_a_bearer_scheme_and_every_operation_says_which() -> None:
    schemes = DOCUMENT["components"]["securitySchemes"]
    assert {name: s["scheme"] for name, s in schemes.items()} == {
        "operator": "bearer",
        "account": "bearer",
        "accessKey": "bearer",
    }
    unsecured = {label for label, op in OPERATIONS if not op.get("security")}
    # The seed's endpoint takes its key in the body; health, readiness and metrics are public.
    assert unsecured == {
        "POST /services/call/call/",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    }
    assert next(op for label, op in OPERATIONS if label == "GET /v1/calls/{call_id}")[
        "security"
    ] == [{"accessKey": []}, {"account": []}]


def test_every_error_is_problem_json_with_its_codes() -> None:
    for label, op in OPERATIONS:
        if label in ("GET /healthz", "GET /metrics"):  # answered while the process lives
            continue
        errors = {int(s): r for s, r in op["responses"].items() if int(s) >= 400}
        assert 503 in errors, label  # PostgreSQL or the broker away
        for status, response in errors.items():
            assert list(response["content"]) == [PROBLEM], (label, status)
            schema = response["content"][PROBLEM]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
            assert schema["allOf"][1]["properties"]["status"]["enum"] == [status]
        if op.get("requestBody") or op.get("parameters"):
            assert 422 in errors, label
    retry_after = DOCUMENT["paths"]["/v1/calls"]["post"]["responses"]["429"]["headers"]
    assert retry_after["Retry-After"]["required"] is True


def test_patch_fields_may_be_left_out_but_are_never_null() -> None:
    for name in ("ServicePatch", "AccountPatch"):
        properties = DOCUMENT["components"]["schemas"][name]["properties"]
        for field, schema in properties.items():
            assert "null" not in str(schema), (name, field, schema)
            assert "default" not in schema, (name, field)


def test_query_parameters_are_omitted_never_null() -> None:
    for label, op in OPERATIONS:
        for parameter in op.get("parameters", []):
            assert "null" not in str(parameter["schema"]), (label, parameter)


def test_report_times_are_rfc_3339() -> None:
    op = DOCUMENT["paths"]["/v1/reports/calls"]["get"]
    times = {
        p["name"]: (p["schema"]["type"], p["schema"]["format"])
        for p in op["parameters"]
        if p["name"] in ("from", "to")
    }
    assert times == {"from": ("string", "date-time"), "to": ("string", "date-time")}


def test_every_operation_has_a_summary_a_description_and_its_errors() -> None:
    labels = {label for label, _ in OPERATIONS}
    assert len(labels) == 55
    # Every operation has its text in api/operation_docs.py, and no text is left over.
    assert labels == set(operation_docs.OPERATIONS)
    for label, op in OPERATIONS:
        assert op["summary"] and op["summary"][0].isupper(), label
        assert len(op["description"]) >= 20, label
        if label not in ("GET /healthz", "GET /metrics"):
            assert any(int(s) >= 400 for s in op["responses"]), label
    assert next(op for label, op in OPERATIONS if label == "POST /v1/calls")["summary"] == (
        "Verify a phone: place a flash call"
    )


def test_the_document_names_this_release() -> None:
    assert re.match(r"^\d+\.\d+\.\d+$", DOCUMENT["info"]["version"])
    assert DOCUMENT["info"]["version"] != "1.0.0", "the release, not the contract's v1"
