from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from api.models import ServiceCreate, TopUpCreate
from api.panel.forms import FormError, parse, plain_number
from api.panel.i18n import Words


def test_persian_and_arabic_digits_and_grouping_are_read() -> None:
    assert plain_number("۲۵٬۰۰۰") == "25000"
    assert plain_number(" 1,000 ") == "1000"
    assert plain_number("٣٠") == "30"


def test_a_form_with_persian_digits_is_the_same_as_with_latin_ones() -> None:
    fields = {"name": "text", "code_length": "int", "code_ttl_minutes": "int"}
    persian = FormData({"name": "ورود", "code_length": "۵", "code_ttl_minutes": "۶۰"})
    assert parse(ServiceCreate, persian, fields, Words("fa", "UTC")).code_length == 5
    top_up = parse(
        TopUpCreate,
        FormData({"amount": "۲۵٬۰۰۰", "reference": "INV-7"}),
        {"amount": "int", "reference": "text"},
        Words("fa", "UTC"),
    )
    assert top_up.amount == 25_000
    with pytest.raises(FormError):
        parse(
            ServiceCreate, FormData({"name": "x", "code_length": "۵a"}), fields, Words("en", "UTC")
        )
