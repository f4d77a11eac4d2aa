"""A property-based run of the OpenAPI document against the live API (schemathesis): valid and
invalid requests for every operation, as the operation's role; no answer may be a server
error or break the document (status, content type, body schema, declared headers).

Schemathesis's "schema-valid data must be accepted" check is left out: what a schema can say
falls short of what is valid (a phone number must exist, a cursor must be one the API issued,
`from` must not be after `to`), and those refusals are documented errors."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from api.app import create_app
from core.settings import Settings
from launch.platform import Platform
from tests.support.client import Api, Tenant, bearer, random_phone

# Enough to meet every operation's errors and a good share of its successes, bounded so the
# whole run stays within a few minutes.
EXAMPLES_PER_MODE = 80

# The document the running API serves (the same code builds it; nothing here connects).
DOCUMENT = create_app(Settings(DATABASE_URL="unused", KAFKA_BOOTSTRAP_SERVERS="unused")).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)
SCHEMA.config.generation.update(allow_x00=True)  # NUL bytes: one once crash-looped the platform
# The NDJSON stream's body is text (any bytes of it: every line gets its own answer).
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.fixture(scope="module")
def fuzz_tenant(api: Api) -> Tenant:
    return api.tenant()


@pytest.fixture(scope="module")
def fuzz_call_id(api: Api, fuzz_tenant: Tenant) -> str:
    """A call of the tenant's, readable: an unknown call id is answered 404 only after the
    read model's catch-up wait (FLASHCALL_READ_GRACE_MS), a second per example otherwise."""
    call = api.place(fuzz_tenant.key, random_phone())
    api.wait_status(fuzz_tenant.key, call["id"], {"delivered", "failed"})
    return str(call["id"])


def test_the_document_served_is_the_one_fuzzed(api: Api) -> None:
    assert api.ok(api.http.get("/openapi.json")) == DOCUMENT


def credentials(case: Any, tenant: Tenant, api: Api) -> dict[str, str]:
    """The token of the first role the operation's security allows."""
    security = case.operation.definition.raw.get("security") or [{}]
    tokens = {
        "operator": api.admin["Authorization"].removeprefix("Bearer "),
        "account": tenant.token,
        "accessKey": tenant.key,
    }
    scheme = next(iter(security[0]), None)
    return bearer(tokens[scheme]) if scheme else {}


def known_ids(case: Any, tenant: Tenant, call_id: str) -> None:
    """Now and then, ids that exist, so that operations are also met where they succeed; a
    call's mostly (each unknown one costs the catch-up wait)."""
    params = case.path_parameters
    if params and random.random() < 0.5:
        for name, value in {"service_id": tenant.service_id, "key_id": tenant.key_id}.items():
            if name in params:
                params[name] = value
    # A valid id only: an invalid one (negative mode) is what is being tried.
    if params and is_uuid(params.get("call_id")) and random.random() < 0.9:
        params["call_id"] = call_id


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_answers_as_its_openapi_says(
    operation: Any,
    mode: GenerationMode,
    platform: Platform,
    fuzz_tenant: Tenant,
    fuzz_call_id: str,
    api: Api,
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def answers_as_documented(case: Any) -> None:
        known_ids(case, fuzz_tenant, fuzz_call_id)
        case.call_and_validate(
            base_url=platform.url,
            headers=credentials(case, fuzz_tenant, api),
            excluded_checks=[positive_data_acceptance],
            timeout=30,
        )

    try:
        answers_as_documented()
    except Unsatisfiable:
        # Nothing to make invalid: no parameters, no body.
        assert mode is GenerationMode.NEGATIVE
        pytest.skip("the operation takes nothing that could be invalid")
