from __future__ import annotations

from core.destinations import DEFAULT_BLOCKED_TYPES, NUMBER_TYPES, Destinations, type_name

IR_MOBILE = "+989121234567"
IR_FIXED = "+982188776655"
US = "+14155552671"
US_PREMIUM = "+19005551234"


def test_by_default_only_the_platforms_region_and_no_premium_or_unknown_types() -> None:
    rule = Destinations.of(None, None, "IR")
    assert rule.blocked_number_types == ("premium_rate", "shared_cost", "unknown")
    assert rule.refusal(IR_MOBILE) is None and rule.refusal(IR_FIXED) is None
    assert "US" in (rule.refusal(US) or "")


def test_a_service_may_ring_more_regions_but_still_no_premium_rate() -> None:
    rule = Destinations.of(["IR", "US"], None, "IR")
    assert rule.refusal(US) is None
    assert "premium_rate" in (rule.refusal(US_PREMIUM) or "")
    assert Destinations.of(["US"], [], "IR").refusal(US_PREMIUM) is None  # its own choice


def test_number_types_may_be_refused_by_name() -> None:
    rule = Destinations.of(None, ["mobile"], "IR")
    assert "mobile" in (rule.refusal(IR_MOBILE) or "")
    assert rule.refusal(IR_FIXED) is None
    assert set(DEFAULT_BLOCKED_TYPES) <= set(NUMBER_TYPES)


def test_a_type_the_metadata_cannot_name_is_unknown_and_refused_by_default() -> None:
    assert type_name(-7) == "unknown"
    assert type_name(NUMBER_TYPES["mobile"]) == "mobile"
    refusal = Destinations.of(["IR"], None, "IR").refusal("+14155552671")
    assert refusal == "US is not among the service's allowed_regions"
