"""Sign-up, sign-in (customers and the operator), sign-out, language, and the account's token."""

from __future__ import annotations

import hmac
import re
import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.datastructures import FormData

from api.models import TEXT_MAX
from api.panel import passwords
from api.panel import sign_in_queries as store
from api.panel.i18n import LANGS
from api.panel.web import (
    LANG_COOKIE,
    PREFIX,
    SESSION_COOKIE,
    Customer,
    Visit,
    Visitor,
    account_of,
    checked_form,
    redirect,
    render,
    safe_next,
    set_cookie,
)
from api.service_layer.accounts import draw_account, opening, rotate_token
from core import text
from front_door import queries
from front_door.problems import not_found

router = APIRouter(prefix=PREFIX, include_in_schema=False)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_EMAIL = 254
MIN_PASSWORD = 10
ATTEMPT_WINDOW = 15 * 60.0
ONE_YEAR = 365 * 24 * 3600


class Attempts:
    """Sign-in attempts per email and per client address (which may try five emails' worth),
    counted for the whole platform (front_door/shared_limits.py); successful sign-ins are
    given back."""

    def __init__(self, per_email: int) -> None:
        self.per_email = per_email

    async def take(self, visit: Visit, email: str) -> float:
        """Count one; the seconds to wait when either limit is spent, else 0."""
        limits = visit.ctx.limits
        wait = await limits.take("signin-email", email, self.per_email, ATTEMPT_WINDOW)
        if not wait:
            wait = await limits.take(
                "signin-address", _address(visit), 5 * self.per_email, ATTEMPT_WINDOW
            )
        return wait

    async def forgive(self, visit: Visit, email: str) -> None:
        limits = visit.ctx.limits
        await limits.give_back("signin-email", email, self.per_email, ATTEMPT_WINDOW)
        await limits.give_back(
            "signin-address", _address(visit), 5 * self.per_email, ATTEMPT_WINDOW
        )


def _attempts(visit: Visit) -> Attempts:
    attempts: Attempts = visit.request.app.state.panel_attempts
    return attempts


def _address(visit: Visit) -> str:
    return visit.request.client.host if visit.request.client else "?"


@router.get("/")
async def home(visit: Visitor) -> Response:
    if visit.session is not None and visit.session.operator:
        return redirect(visit, f"{PREFIX}/operator")
    return redirect(visit, f"{PREFIX}/services" if visit.account else f"{PREFIX}/sign-in")


@router.get("/lang")
async def choose_language(visit: Visitor, to: str, next: str | None = None) -> Response:
    response = redirect(visit, safe_next(next))
    if to in LANGS:
        set_cookie(visit, response, LANG_COOKIE, to, max_age=ONE_YEAR)
    return response


@router.get("/sign-up")
async def sign_up_form(visit: Visitor) -> Response:
    return render(visit, "sign_up.html", open=visit.ctx.settings.panel_signup, values={})


@router.post("/sign-up")
async def sign_up(visit: Visitor) -> Response:
    if not visit.ctx.settings.panel_signup:
        return render(visit, "sign_up.html", status=403, open=False, values={})
    form = await checked_form(visit)
    raw_name = str(form.get("name", ""))
    email = _email(form)
    password = str(form.get("password", ""))
    values = {"name": raw_name.strip(), "email": email}
    t = visit.words.t
    error = None
    try:
        name = text.clean(raw_name, TEXT_MAX)
    except text.UnstorableText:
        error = visit.words.invalid("field.name", "valid.text")
    if error is None and not EMAIL.match(email):
        error = t("error.email", example="name@example.com")
    elif error is None and not MIN_PASSWORD <= len(password) <= 1024:
        error = t("error.password")
    if error:
        return render(visit, "sign_up.html", 422, open=True, values=values, error=error)
    account_id = uuid.uuid4()
    try:
        await store.claim_email(
            visit.ctx.pool, email, account_id, await passwords.hash_password(password)
        )
    except store.EmailTaken:
        return render(
            visit,
            "sign_up.html",
            409,
            open=True,
            values=values,
            error=visit.words.t("error.email_taken"),
        )
    drawn = draw_account(account_id)
    event = opening(visit.ctx, name, drawn)
    try:
        appended = await visit.ctx.append(event)
    except BaseException:
        await store.release_email(visit.ctx.pool, email)
        raise
    # Stored: the email is the account's from now on, even if the read model is behind (503):
    # signing up again is refused as taken, and signing in reaches this account.
    await visit.ctx.wait_applied(appended)
    return await _signed_in(visit, account_id, "account_token.html", new_token=drawn.secret)


@router.get("/sign-in")
async def sign_in_form(visit: Visitor, next: str | None = None) -> Response:
    return render(visit, "sign_in.html", next=safe_next(next), values={})


@router.post("/sign-in")
async def sign_in(visit: Visitor) -> Response:
    form = await checked_form(visit)
    email = _email(form)
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")))
    again = {"next": target, "values": {"email": email}}
    wait = await _attempts(visit).take(visit, email)
    if wait:
        error = visit.words.t("error.rate", seconds=int(wait) + 1)
        return render(visit, "sign_in.html", 429, error=error, **again)
    # An address that could never have signed up is not looked up (nor is its NUL sent).
    user = await store.user_by_email(visit.ctx.pool, email) if EMAIL.match(email) else None
    password_hash = user[1] if user else passwords.DUMMY_HASH
    if not await passwords.password_matches(password_hash, password) or user is None:
        return render(visit, "sign_in.html", 401, error=visit.words.t("error.credentials"), **again)
    await _attempts(visit).forgive(visit, email)
    if passwords.needs_rehash(password_hash):
        new_hash = await passwords.hash_password(password)
        await store.set_password_hash(visit.ctx.pool, email, new_hash)
    return await _signed_in(visit, user[0], None, target=target)


@router.get("/operator/sign-in")
async def operator_sign_in_form(visit: Visitor, next: str | None = None) -> Response:
    return render(visit, "operator_sign_in.html", next=safe_next(next))


@router.post("/operator/sign-in")
async def operator_sign_in(visit: Visitor) -> Response:
    form = await checked_form(visit)
    token = str(form.get("token", ""))
    wait = await _attempts(visit).take(visit, "operator")
    if wait:
        error = visit.words.t("error.rate", seconds=int(wait) + 1)
        return render(visit, "operator_sign_in.html", 429, error=error, next=None)
    expected = visit.ctx.settings.admin_token.encode()
    if not hmac.compare_digest(token.encode(), expected):
        return render(
            visit,
            "operator_sign_in.html",
            401,
            error=visit.words.t("error.operator_token"),
            next=None,
        )
    await _attempts(visit).forgive(visit, "operator")
    return await _signed_in(visit, None, None, target=f"{PREFIX}/operator")


@router.post("/sign-out")
async def sign_out(visit: Visitor) -> Response:
    await checked_form(visit)
    token = visit.request.cookies.get(SESSION_COOKIE)
    if token:
        await store.close_session(visit.ctx.pool, token)
    response = redirect(visit, f"{PREFIX}/sign-in")
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.get("/account")
async def account_page(visit: Customer) -> Response:
    account = account_of(visit)
    email = await store.email_of(visit.ctx.pool, account.id)
    return render(visit, "account.html", email=email, name=await _name(visit))


@router.post("/account/token")
async def rotate(visit: Customer) -> Response:
    await checked_form(visit)
    rotated = await rotate_token(visit.ctx, account_of(visit))
    return render(visit, "account_token.html", new_token=rotated["token"])


def _email(form: FormData) -> str:
    """The form's email, lower-cased; "" when it holds a character no address has."""
    email = str(form.get("email", "")).strip().lower()
    if len(email) > MAX_EMAIL or text.forbidden_character(email) is not None:
        return ""
    return email


async def _name(visit: Visit) -> str:
    row = await queries.account(visit.ctx.pool, account_of(visit).id)
    if row is None:
        raise not_found("account")
    return str(row["name"])


async def _signed_in(
    visit: Visit,
    account_id: uuid.UUID | None,
    template: str | None,
    target: str = f"{PREFIX}/services",
    **values: Any,
) -> Response:
    """Open a session (a new CSRF token with it) and either show `template` or go on."""
    hours = visit.ctx.settings.panel_session_hours
    token, session = await store.open_session(visit.ctx.pool, account_id, account_id is None, hours)
    visit.session, visit.csrf, visit.fresh_csrf = session, session.csrf_token, False
    response = render(visit, template, **values) if template else redirect(visit, target)
    set_cookie(visit, response, SESSION_COOKIE, token, max_age=int(hours * 3600))
    return response
