"""Geo permissions and number-type rules over HTTP: a destination outside a service's regions,
or of a type it refuses, answers 403 destination_not_allowed and writes nothing."""

from __future__ import annotations

from typing import Any

from tests.support.client import Api, Tenant, assert_problem, bearer, random_phone

US_MOBILE = "+14155552671"
US_PREMIUM = "+19005551234"


def patch(api: Api, tenant: Tenant, **body: Any) -> Any:
    return api.ok(
        api.http.patch(f"/v1/services/{tenant.service_id}", json=body, headers=bearer(tenant.token))
    )


def reported(api: Api, tenant: Tenant, phone: str) -> list[Any]:
    path = "/v1/reports/calls"
    return api.ok(api.http.get(path, params={"phone": phone}, headers=bearer(tenant.token)))[  # type: ignore[no-any-return]
        "items"
    ]


def test_only_the_platforms_region_and_no_premium_rate_by_default(api: Api, tenant: Tenant) -> None:
    service = api.ok(
        api.http.get(f"/v1/services/{tenant.service_id}", headers=bearer(tenant.token))
    )
    assert service["allowed_regions"] == ["IR"]
    assert service["blocked_number_types"] == ["premium_rate", "shared_cost", "unknown"]
    refused = api.http.post("/v1/calls", json={"phone": US_MOBILE}, headers=bearer(tenant.key))
    body = assert_problem(refused, 403, "destination_not_allowed")
    assert "US" in body["detail"]
    batch = api.ok(
        api.http.post(
            "/v1/calls/batch",
            json={"calls": [{"phone": US_MOBILE}, {"phone": random_phone()}]},
            headers=bearer(tenant.key),
        )
    )["results"]
    assert batch[0]["error"]["code"] == "destination_not_allowed" and "id" in batch[1]

    patch(api, tenant, allowed_regions=["IR", "US"])
    call = api.place(tenant.key, US_MOBILE)
    assert call["phone"] == US_MOBILE
    refused = api.http.post("/v1/calls", json={"phone": US_PREMIUM}, headers=bearer(tenant.key))
    assert "premium_rate" in assert_problem(refused, 403, "destination_not_allowed")["detail"]
    assert reported(api, tenant, US_PREMIUM) == []  # nothing was written

    shown = patch(api, tenant, blocked_number_types=[])  # the service's own choice
    assert shown["blocked_number_types"] == [] and shown["allowed_regions"] == ["IR", "US"]
    api.place(tenant.key, US_PREMIUM)


def test_bad_destination_settings_are_refused(api: Api, tenant: Tenant) -> None:
    for body in (
        {"allowed_regions": ["XX"]},
        {"allowed_regions": []},
        {"allowed_regions": "IR"},
        {"blocked_number_types": ["cheap"]},
    ):
        refused = api.http.patch(
            f"/v1/services/{tenant.service_id}", json=body, headers=bearer(tenant.token)
        )
        assert_problem(refused, 422, "invalid_request")
    created = api.ok(
        api.http.post(
            "/v1/services",
            json={
                "name": "abroad",
                "code_length": 5,
                "code_ttl_minutes": 5,
                "allowed_regions": ["US"],
            },
            headers=bearer(tenant.token),
        ),
        201,
    )
    assert created["allowed_regions"] == ["US"]
