"""Forms into the API's own request models, and their errors into words."""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from api.panel.i18n import Words

M = TypeVar("M", bound=BaseModel)

# Which label names a model field in error messages, and what the field must be.
FIELDS: dict[str, tuple[str, str]] = {
    "name": ("service.name", "valid.text"),
    "code_length": ("service.code_length", "valid.code_length"),
    "code_ttl_minutes": ("service.ttl", "valid.ttl"),
    "label": ("keys.label", "valid.text"),
    "price_per_call": ("operator.price", "valid.money"),
    "credit_limit": ("service.limit", "valid.money"),
    "total_credit_limit": ("operator.total_limit", "valid.money"),
    "allowed_regions": ("service.allowed_regions", "valid.regions"),
    "blocked_number_types": ("service.blocked_types", "valid.types"),
    "amount": ("operator.amount", "valid.amount"),
    "reference": ("operator.reference", "valid.text"),
    "phone": ("tests.phone", "valid.phone"),
    "code": ("tests.code", "valid.test_code"),
    "workflow": ("service.workflow", "valid.workflow"),
    "sms_template": ("service.sms_template", "valid.sms_template"),
}
# The workflow editor's rows: `<field>_<n>_channel` and `<field>_<n>_timeout`, n from 1.
WORKFLOW_ROWS = 3


class FormError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse(model: type[M], form: FormData, fields: dict[str, str], words: Words) -> M:
    """`fields` maps each form field to its kind: "text", "int" or "digits" (a number, or a code
    whose leading zeros count, typed in any script's digits), "check" (a checkbox), "list"
    (values separated by commas or spaces) or "workflow" (rows of a channel and a timeout; a
    row without a channel is no step). Empty optional fields are left out, so a PATCH changes
    only what was filled in."""
    values: dict[str, Any] = {}
    for name, kind in fields.items():
        raw = form.get(name)
        if kind == "workflow":
            steps = workflow_rows(form, name)
            if steps:
                values[name] = steps
        elif kind == "check":
            values[name] = raw is not None
        elif kind in ("int", "digits") and isinstance(raw, str) and raw.strip() != "":
            values[name] = plain_number(raw)
        elif kind == "list" and isinstance(raw, str) and raw.strip() != "":
            values[name] = [v for v in raw.replace(",", " ").split() if v]
        elif isinstance(raw, str) and raw.strip() != "":
            values[name] = raw.strip()
    try:
        return model.model_validate(values, strict=False)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
        if field in FIELDS:
            raise FormError(words.invalid(*FIELDS[field])) from exc
        raise FormError(words.t("error.field", field=field)) from exc


def workflow_rows(form: FormData, name: str) -> list[dict[str, Any]]:
    """The steps the editor's rows give, in order (the model checks them)."""
    steps = []
    for n in range(1, WORKFLOW_ROWS + 1):
        channel = str(form.get(f"{name}_{n}_channel") or "").strip()
        if channel:
            timeout = plain_number(str(form.get(f"{name}_{n}_timeout") or ""))
            steps.append({"channel": channel, "timeout_seconds": timeout})
    return steps


# What people type between the digits of a number: spaces and the Latin, Persian and Arabic
# thousands separators (١٬٠٠٠، 1,000).
GROUPING = str.maketrans("", "", " ,_\u066c\u060c\u00a0\u202f")


def plain_number(raw: str) -> str:
    """`raw` with Persian or Arabic-Indic digits in ASCII and grouping taken out (۲۵٬۰۰۰ →
    25000); anything else is left for the validation to refuse."""
    return "".join(
        str(unicodedata.decimal(c)) if c.isdecimal() else c for c in raw.strip().translate(GROUPING)
    )
