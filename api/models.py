"""Request and response bodies of the public contract (docs/api.md)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core import text
from core import workflow as workflows
from core.destinations import NUMBER_TYPES, REGIONS
from core.fraud import PREFIX_PATTERN
from core.number_pool import MAX_CODE_LENGTH, MIN_CODE_LENGTH, parse_range
from core.references import MAX_REFERENCE, reference_problem
from core.trunks import parse_trunks
from core.webhooks import EVENT_TYPES, OPERATOR_EVENT_TYPES, EventType, OperatorEventType

TEXT_MAX = 200
MAX_BATCH = 1000


def _clean_text(value: str) -> str:
    try:
        return text.clean(value, TEXT_MAX)
    except text.UnstorableText as exc:
        raise PydanticCustomError("text", str(exc)) from exc


# Names, labels and references: trimmed, NFC, no control characters (core/text.py), 1..200.
Text = Annotated[
    str,
    AfterValidator(_clean_text),
    Field(
        json_schema_extra={
            "minLength": 1,
            "maxLength": TEXT_MAX,
            "pattern": text.PATTERN,
            "description": "Trimmed, in Unicode NFC; no control characters.",
        }
    ),
]


def _integral(value: object) -> object:
    """JSON Schema counts 5.0 as an integer; strict pydantic would not (strings stay refused)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integral = BeforeValidator(_integral)
Money = Annotated[int, Field(ge=0, le=10**15), Integral]


def _sms_template(value: str) -> str:
    problem = workflows.template_problem(value)
    if problem is not None:
        raise PydanticCustomError("sms_template", problem)
    return value


SmsTemplate = Annotated[
    Text,
    AfterValidator(_sms_template),
    Field(
        description="The SMS of an sms step (at most 200 characters), with {code} where the"
        " code goes (default «کد تأیید شما: {code}»)."
    ),
]


class WorkflowStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["flash_call", "sms"]
    timeout_seconds: Annotated[int, Integral] = Field(
        description="How long the step waits for a verification before the next step starts"
        " (counted from its start; the last step's is not used: the code's validity is).",
        json_schema_extra={
            "minimum": workflows.MIN_TIMEOUT_SECONDS,
            "maximum": workflows.MAX_TIMEOUT_SECONDS,
        },
    )


def _workflow(steps: list[WorkflowStep]) -> list[WorkflowStep]:
    """core/workflow.py's rules (the number of steps, each timeout's range)."""
    problem = workflows.workflow_problem([s.model_dump() for s in steps])
    if problem is not None:
        raise PydanticCustomError("workflow", problem)
    return steps


Workflow = Annotated[
    list[WorkflowStep],
    AfterValidator(_workflow),
    Field(
        description="The channels a verification tries, in order (default one flash_call"
        " step of 60 s). A failed step, or one whose timeout passes with no verification,"
        " starts the next at once, for the same call and code.",
        json_schema_extra={"minItems": 1, "maxItems": workflows.MAX_STEPS},
    ),
]
CodeLength = Annotated[int, Field(ge=MIN_CODE_LENGTH, le=MAX_CODE_LENGTH), Integral]
TtlMinutes = Annotated[int, Field(ge=1, le=60), Integral]
T = TypeVar("T")


def _reference(value: str) -> str:
    problem = reference_problem(value)
    if problem is not None:
        raise PydanticCustomError("reference", problem)
    return value


# The customer's own id for a call (core/references.py).
Reference = Annotated[
    str,
    AfterValidator(_reference),
    Field(
        json_schema_extra={"minLength": 1, "maxLength": MAX_REFERENCE, "pattern": text.PATTERN},
        description="Your id for the request: unique per service for 24 h; sending it again"
        " answers the same call and rings no one.",
    ),
]

# RFC 3339 as the contract says: a full date, "T", a time and an offset (Z or ±hh:mm). Dates
# alone, times without an offset and numbers (which pydantic would read as Unix times) are
# refused.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> datetime:
    if not isinstance(value, str) or not RFC3339.match(value):
        raise PydanticCustomError(
            "rfc3339", "must be an RFC 3339 time with an offset, e.g. 2026-11-29T08:00:00Z"
        )
    try:
        # Python takes at most six fractional digits; RFC 3339 allows more.
        return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value.upper()))
    except ValueError as exc:
        raise PydanticCustomError("rfc3339", "is not a valid date and time") from exc


Rfc3339 = Annotated[
    datetime, PlainValidator(_rfc3339), WithJsonSchema({"type": "string", "format": "date-time"})
]


class Strict(BaseModel):
    """Unknown fields are refused (422 invalid_request); strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _omittable_not_null(schema: dict[str, Any], _: type[BaseModel]) -> None:
    """OpenAPI: the fields of a PATCH body may be left out, but are never null."""
    for name, prop in schema.get("properties", {}).items():
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches
        if prop.get("default", 0) is None:
            del prop["default"]
        schema["properties"][name] = prop


class Patch(Strict):
    """A PATCH body: what is sent changes, what is left out stays; null is refused."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_omittable_not_null)

    @model_validator(mode="after")
    def _no_nulls(self) -> Patch:
        nulls = sorted(n for n in self.model_fields_set if getattr(self, n) is None)
        if nulls:
            raise PydanticCustomError(
                "null", "{fields}: may be left out but not null", {"fields": ", ".join(nulls)}
            )
        return self


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PydanticCustomError(
            "time_zone", "must be an IANA time zone, e.g. Asia/Tehran"
        ) from exc
    return value


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$"),
    AfterValidator(_time_zone),
]


TOTAL_CREDIT_LIMIT = (
    "How far below zero the sum of the account's service balances may go, counting calls"
    " accepted and not finished (default FLASHCALL_DEFAULT_TOTAL_CREDIT_LIMIT)."
)


class AccountCreate(Strict):
    name: Text
    price_per_call: Money | None = None
    price_per_sms: Money | None = Field(
        None, description="What a delivered SMS costs (default FLASHCALL_DEFAULT_PRICE_PER_SMS)."
    )
    credit_limit: Money | None = Field(None, description="The default for new services.")
    total_credit_limit: Money | None = Field(None, description=TOTAL_CREDIT_LIMIT)
    time_zone: TimeZone | None = Field(
        None, description="Exports and the panel show times in it (default the platform's)."
    )


class AccountPatch(Patch):
    name: Text | None = None
    price_per_call: Money | None = None
    price_per_sms: Money | None = None
    credit_limit: Money | None = None
    total_credit_limit: Money | None = None
    time_zone: TimeZone | None = None


class AccountOut(BaseModel):
    id: uuid.UUID
    name: str
    price_per_call: int
    price_per_sms: int
    credit_limit: int
    total_credit_limit: int
    time_zone: str
    created_at: datetime


class AccountCreated(AccountOut):
    token: str


class TokenOut(BaseModel):
    token: str
    created_at: datetime


def _region(value: str) -> str:
    if value not in REGIONS:
        raise PydanticCustomError("region", "must be an ISO 3166-1 alpha-2 region code, e.g. IR")
    return value


def _number_type(value: str) -> str:
    if value not in NUMBER_TYPES:
        raise PydanticCustomError(
            "number_type", "must be one of " + ", ".join(sorted(NUMBER_TYPES))
        )
    return value


Region = Annotated[str, StringConstraints(min_length=2, max_length=3), AfterValidator(_region)]
NumberType = Annotated[str, StringConstraints(max_length=32), AfterValidator(_number_type)]
AllowedRegions = Annotated[
    list[Region],
    Field(
        min_length=1,
        max_length=len(REGIONS),
        description="Regions (ISO 3166-1 alpha-2) the service may ring; default the platform's"
        " (FLASHCALL_DEFAULT_REGION).",
    ),
]
BlockedNumberTypes = Annotated[
    list[NumberType],
    Field(
        max_length=len(NUMBER_TYPES),
        description="Number types (phonenumbers', lower case) the service refuses; default"
        " premium_rate, shared_cost and unknown.",
    ),
]


class ServiceCreate(Strict):
    name: Text
    code_length: CodeLength
    code_ttl_minutes: TtlMinutes
    return_code: bool = False
    allowed_regions: AllowedRegions | None = None
    blocked_number_types: BlockedNumberTypes | None = None
    workflow: Workflow | None = None
    sms_template: SmsTemplate | None = None


class ServicePatch(Patch):
    name: Text | None = None
    code_length: CodeLength | None = None
    code_ttl_minutes: TtlMinutes | None = None
    return_code: bool | None = None
    status: Literal["active", "disabled"] | None = None
    credit_limit: Money | None = None
    allowed_regions: AllowedRegions | None = None
    blocked_number_types: BlockedNumberTypes | None = None
    workflow: Workflow | None = None
    sms_template: SmsTemplate | None = None


class ServiceOut(BaseModel):
    id: uuid.UUID
    name: str
    code_length: int
    code_ttl_minutes: int
    return_code: bool
    status: str
    balance: int
    credit_limit: int
    low_balance: bool = Field(description="80 % of the credit limit is used.")
    allowed_regions: list[str]
    blocked_number_types: list[str]
    workflow: list[WorkflowStep]
    sms_template: str
    created_at: datetime


class KeyCreate(Strict):
    label: Text


class KeyCreated(BaseModel):
    id: uuid.UUID
    service_id: uuid.UUID
    label: str
    key: str
    prefix: str
    created_at: datetime


class KeyOut(BaseModel):
    id: uuid.UUID
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CallCreate(Strict):
    phone: Annotated[
        str,
        Field(
            json_schema_extra={"maxLength": 32},
            description="E.164 or national (read with FLASHCALL_DEFAULT_REGION): digits of"
            " any script, spaces and + - ( ) . only.",
        ),
    ]
    reference: Reference | None = None


class TestNumberCreate(Strict):
    phone: Annotated[
        str,
        Field(
            json_schema_extra={"maxLength": 32},
            description="E.164 or national, as for a call.",
        ),
    ]
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{4,8}$")] = Field(
        description="The code its calls verify with: as many digits as the service's codes."
    )


class TestNumberOut(BaseModel):
    phone: str
    code: str
    created_at: datetime


class CallBatchIn(Strict):
    calls: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description="Each a call as POST /v1/calls takes it ({phone, reference?}); an item"
            " that is not one is answered invalid_request in its place.",
        ),
    ]


class ItemError(BaseModel):
    code: str
    detail: str


class CallItemResult(BaseModel):
    """An accepted item has `id` and `status`; a refused one has `error`."""

    index: int
    reference: str | None
    id: uuid.UUID | None = None
    status: str | None = None
    caller_prefix: str | None = Field(None, description="As on the call: what an app matches by.")
    code_length: int | None = None
    channel: Literal["flash_call", "sms"] | None = Field(
        None, description="As on the call: its workflow's step in progress."
    )
    error: ItemError | None = None


class CallBatchOut(BaseModel):
    results: list[CallItemResult]


WebhookUrl = Annotated[str, StringConstraints(min_length=8, max_length=2048, pattern=r"^https?://")]


class WebhookCreate(Strict):
    url: WebhookUrl
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
    # A JSON string, so not strict (strict wants a UUID object).
    service_id: Annotated[uuid.UUID, Field(strict=False)] | None = None


def _all_operator_events() -> list[OperatorEventType]:
    return ["range.quarantined", "range.released"]


class OperatorWebhookCreate(Strict):
    url: WebhookUrl
    events: Annotated[
        list[OperatorEventType], Field(min_length=1, max_length=len(OPERATOR_EVENT_TYPES))
    ] = Field(default_factory=_all_operator_events)


class WebhookPatch(Patch):
    url: WebhookUrl | None = None
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))] | None = (
        None
    )
    status: Literal["enabled", "disabled"] | None = None


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    service_id: uuid.UUID | None
    status: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="whsec_…: shown only here and on rotation.")


class WebhookSecret(BaseModel):
    secret: str


class WebhookDelivery(BaseModel):
    id: uuid.UUID
    event_type: str
    status: str
    attempts: int
    response_status: int | None
    created_at: datetime
    delivered_at: datetime | None


class StreamsOut(BaseModel):
    ingress_topic: str
    results_topic: str


class VerifyIn(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,16}$")]


class CallStep(BaseModel):
    channel: Literal["flash_call", "sms"]
    status: Literal["started", "delivered", "failed"]
    started_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None


class Call(BaseModel):
    """A call, as every endpoint that shows one shows it."""

    id: uuid.UUID
    service_id: uuid.UUID
    key_id: uuid.UUID
    phone: str
    status: str
    failure_reason: str | None
    attempt: int
    retry_of: uuid.UUID | None
    code_length: int
    caller_prefix: str | None = Field(
        None,
        description="The caller number without its last `code_length` digits (the code): an"
        " incoming call from `caller_prefix` followed by `code_length` digits is this call, and"
        " those digits are its code. Never reveals the code.",
    )
    expires_at: datetime | None
    created_at: datetime
    dialed_at: datetime | None
    verified_at: datetime | None
    cost: int
    reference: str | None = None
    test: bool = Field(False, description="To a test number: rang no one, cost nothing.")
    network: str | None = Field(
        None,
        description="The phone's mobile network as phonenumbers' carrier data names it"
        " (`IR-MCI`, `Irancell`, `Rightel`, …; `unknown` where it has none). Null for calls"
        " requested before networks were recorded.",
    )
    channel: Literal["flash_call", "sms"] = Field(
        "flash_call", description="The channel of the step in progress, or of the last one."
    )
    steps: list[CallStep] = Field(
        default_factory=list, description="The workflow's steps started so far, in order."
    )


class CallOut(Call):
    code: str | None = Field(None, description="Only for services with return_code.")
    head_number: str | None = Field(None, description="Only for services with return_code.")


class VerifyOut(BaseModel):
    id: uuid.UUID
    verified: bool
    status: str
    reason: str | None
    attempts_left: int


class HandsetMessage(BaseModel):
    sender: str
    text: str
    received_at: datetime


class HandsetCall(BaseModel):
    call_id: uuid.UUID = Field(description="The call that rang (`?call_id=` shows only its rings).")
    caller_number: str
    rang_at: datetime


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class SeedCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: str
    token: str


class SeedCallOut(BaseModel):
    message: str
    code: str
    tracking_code: uuid.UUID
    head_number: str


class TopUpCreate(Strict):
    amount: Annotated[int, Field(gt=0, le=10**15), Integral]
    reference: Text


class TopUpOut(BaseModel):
    id: uuid.UUID
    service_id: uuid.UUID
    amount: int
    reference: str
    balance: int
    created_at: datetime


class ServiceBalance(BaseModel):
    service_id: uuid.UUID
    balance: int
    credit_limit: int
    status: str
    low_balance: bool


class BalanceOut(BaseModel):
    total: int = Field(description="The sum of the services' balances.")
    total_credit_limit: int = Field(description=TOTAL_CREDIT_LIMIT)
    status: Literal["active", "cut_off"] = Field(
        description="cut_off: the total reached -total_credit_limit; every service refuses"
        " calls until a top-up of any of them brings it back."
    )
    low_balance: bool = Field(description="80 % of the total credit limit is used.")
    services: list[ServiceBalance]


class LedgerEntry(BaseModel):
    id: uuid.UUID
    type: Literal["debit", "topup"]
    amount: int
    balance_after: int
    call_id: uuid.UUID | None
    reference: str | None
    created_at: datetime


class ReportRow(Call):
    key_label: str | None
    caller_number: str | None = Field(description="Shown once the call is finished.")
    delivered_at: datetime | None
    expired_at: datetime | None
    verify_attempts: int
    answered: bool = Field(
        False, description="Someone picked up (hung up at once; carriers bill answered seconds)."
    )


class SummaryBucket(BaseModel):
    start: datetime
    requested: int
    delivered: int
    failed: int
    rejected: int
    verified: int
    expired: int
    cost: int
    conversion: float | None = Field(description="verified / delivered")
    verified_by_channel: dict[Literal["flash_call", "sms"], int] = Field(
        description="The verified calls by the channel of their last step (docs/workflows.md)."
    )


class NetworkSummary(BaseModel):
    requested: int
    delivered: int
    failed: int
    verified: int
    delivery: float | None = Field(description="delivered / (delivered + failed)")
    conversion: float | None = Field(description="verified / delivered")


class Summary(BaseModel):
    buckets: list[SummaryBucket]
    by_network: dict[str, NetworkSummary] = Field(
        default_factory=dict,
        description="Over the whole range, per mobile network of the phones (as phonenumbers'"
        " carrier data names them; `unknown` where it has none, and for calls requested before"
        " networks were recorded).",
    )


class FraudBlock(BaseModel):
    prefix: str
    blocked_at: datetime
    until: datetime
    requests: int = Field(description="Admitted requests to the prefix in the window.")
    verified: int = Field(description="Of them, verified.")


class FraudAllow(Strict):
    prefix: Annotated[str, StringConstraints(pattern=PREFIX_PATTERN)] = Field(
        description="+<country code><first digits of the national number>, e.g. +989121234."
    )


class FraudAllowed(BaseModel):
    service_id: uuid.UUID
    prefix: str
    allowed_at: datetime


# ---------------------------------------------------------------------- caller ranges
Network = Annotated[str, AfterValidator(_clean_text), Field(min_length=1, max_length=64)]


class RangeCreate(Strict):
    pattern: str = Field(
        max_length=32,
        description="Fixed leading digits in E.164, then an `x` for each digit chosen per call"
        " (at least 4, as many as the longest code), e.g. `+98219100xxxxx`.",
    )
    trunk: str | None = Field(
        None,
        max_length=200,
        description="The trunk its calls are placed through first, as FLASHCALL_SIP_TRUNKS names"
        " it without credentials (`udp:10.0.0.5:5060`); the others stay its failover. Null: the"
        " trunks in their configured order.",
    )
    destinations: list[Network] = Field(
        default_factory=list,
        max_length=50,
        description="The networks it may dial, as phonenumbers' carrier data names them"
        " (`IR-MCI`, `Irancell`, `Rightel`, …); empty: every network.",
    )

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        parse_range(value)  # ValueError: 422 invalid_request, with its message
        return value.lower()

    @field_validator("trunk")
    @classmethod
    def _trunk(cls, value: str | None) -> str | None:
        if value is None:
            return None
        trunks = parse_trunks(value)
        if len(trunks) != 1 or trunks[0].username:
            raise ValueError("a range names one trunk, without credentials: udp:host:port")
        return str(trunks[0])

    @field_validator("destinations")
    @classmethod
    def _destinations(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a network is named twice")
        return value


class RangePatch(Strict):
    status: Literal["active", "paused"]


class RangeNetworkHealth(BaseModel):
    dialled: int = Field(
        description="Flash calls judged over the window: delivered, unreachable"
        " or carrier error (busy, declined and invalid numbers are the phone's)."
    )
    delivered: int
    ratio: float | None = Field(description="delivered / dialled; null with nothing dialled.")
    quarantined_until: datetime | None = Field(
        None, description="In quarantine for this network until then (then probed)."
    )


class RangeHealth(BaseModel):
    window_seconds: int
    by_network: dict[str, RangeNetworkHealth]


class RangeOut(BaseModel):
    id: uuid.UUID
    pattern: str
    trunk: str | None
    destinations: list[str]
    status: Literal["active", "paused"]
    health: RangeHealth
    quarantined_until: datetime | None = Field(
        description="The latest end of its quarantines for some network (null: none)."
    )
    created_at: datetime
