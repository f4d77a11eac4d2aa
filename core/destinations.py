"""Which destinations a service may ring: its regions (geo permissions) and the number types it
refuses (premium-rate and shared-cost ranges are where call-pumping attacks send calls). Pure:
the API and the ingress check every number here before anything is written (docs/fraud.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

from core.phones import facts

# phonenumbers' types by their lower-case names (the API's and the events' spelling).
NUMBER_TYPES: dict[str, int] = {
    name.lower(): value for name, value in vars(PhoneNumberType).items() if name.isupper()
}
TYPE_NAMES: dict[int, str] = {value: name for name, value in NUMBER_TYPES.items()}
# Refused unless a service says otherwise: rates a caller pays more for, and what the metadata
# cannot tell (a range attackers lease is often newer than the metadata).
DEFAULT_BLOCKED_TYPES: tuple[str, ...] = ("premium_rate", "shared_cost", "unknown")
REGIONS: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)


@dataclass(frozen=True)
class Destinations:
    """A service's rule, with the platform's defaults filled in."""

    allowed_regions: tuple[str, ...]
    blocked_number_types: tuple[str, ...]

    @classmethod
    def of(
        cls,
        allowed_regions: Sequence[str] | None,
        blocked_number_types: Sequence[str] | None,
        default_region: str,
    ) -> Destinations:
        """A service's settings as stored (None: the default)."""
        return cls(
            tuple(allowed_regions) if allowed_regions is not None else (default_region,),
            tuple(blocked_number_types)
            if blocked_number_types is not None
            else DEFAULT_BLOCKED_TYPES,
        )

    def refusal(self, phone: str) -> str | None:
        """Why `phone` (E.164, valid) may not be rung (None: it may)."""
        found = facts(phone)
        region = found.region
        if region not in self.allowed_regions:
            return f"{region or 'its region'} is not among the service's allowed_regions"
        kind = type_name(found.kind)
        if kind in self.blocked_number_types:
            return f"the service refuses {kind} numbers (blocked_number_types)"
        return None


def type_name(value: int) -> str:
    return TYPE_NAMES.get(value, "unknown")
