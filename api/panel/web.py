"""What every panel page shares: the visitor (language, session, CSRF token), rendering, and
the answers to a missing sign-in, a bad form and an API error."""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api.auth import Ctx
from api.panel.i18n import DEFAULT_LANG, LANGS, Lang, Words
from api.panel.sign_in_queries import Session, find_session
from front_door.context import Context
from front_door.directory import AccountView
from front_door.problems import ApiError

PREFIX = "/panel"
SESSION_COOKIE = "fc_session"
CSRF_COOKIE = "fc_csrf"
LANG_COOKIE = "fc_lang"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
# Scripts only from the app itself; the chart library sets style attributes on its SVG.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
        " img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Visit:
    request: Request
    ctx: Context
    words: Words
    session: Session | None
    csrf: str
    fresh_csrf: bool  # the CSRF cookie must be set on the answer

    @property
    def account(self) -> AccountView | None:
        if self.session is None or self.session.account_id is None:
            return None
        return self.ctx.directory.accounts.get(self.session.account_id)


async def get_visit(request: Request, ctx: Ctx) -> Visit:
    lang_cookie = request.cookies.get(LANG_COOKIE)
    lang: Lang = lang_cookie if lang_cookie in LANGS else DEFAULT_LANG  # type: ignore[assignment]
    token = request.cookies.get(SESSION_COOKIE)
    session = await find_session(ctx.pool, token) if token else None
    if session is not None:
        csrf, fresh = session.csrf_token, False
    else:
        cookie = request.cookies.get(CSRF_COOKIE)
        csrf, fresh = (cookie, False) if cookie else (secrets.token_urlsafe(32), True)
    zone = ctx.settings.panel_timezone
    if session is not None and session.account_id is not None:
        account = ctx.directory.accounts.get(session.account_id)
        zone = (account.time_zone if account else None) or zone
    return Visit(request, ctx, Words(lang, zone), session, csrf, fresh)


Visitor = Annotated[Visit, Depends(get_visit)]


class SignInRequired(Exception):
    def __init__(self, operator: bool = False) -> None:
        super().__init__("sign in first")
        self.operator = operator


async def get_customer(visit: Visitor) -> Visit:
    if visit.account is None:
        raise SignInRequired()
    return visit


async def get_operator(visit: Visitor) -> Visit:
    if visit.session is None or not visit.session.operator:
        raise SignInRequired(operator=True)
    return visit


Customer = Annotated[Visit, Depends(get_customer)]
OperatorVisit = Annotated[Visit, Depends(get_operator)]


def account_of(visit: Visit) -> AccountView:
    account = visit.account
    assert account is not None, "Customer pages are reached only when signed in"
    return account


async def checked_form(visit: Visit) -> FormData:
    """The posted form, once its CSRF token matches the visitor's."""
    form = await visit.request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, visit.csrf):
        raise ApiError("forbidden", visit.words.t("error.csrf"))
    return form


def render(visit: Visit, template: str, status: int = 200, **values: Any) -> Response:
    response = TEMPLATES.TemplateResponse(
        visit.request,
        template,
        {
            "w": visit.words,
            "csrf": visit.csrf,
            "signed_in": visit.session is not None,
            "operator": visit.session is not None and visit.session.operator,
            "path": visit.request.url.path,
            "carrier": visit.ctx.settings.carrier,
            "once": secrets.token_hex(16),
            **values,
        },
        status_code=status,
    )
    return finish(visit, response)


def finish(visit: Visit, response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    if visit.fresh_csrf:
        set_cookie(visit, response, CSRF_COOKIE, visit.csrf)
    return response


def set_cookie(
    visit: Visit, response: Response, name: str, value: str, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        secure=visit.ctx.settings.panel_secure_cookies,
        httponly=True,
        samesite="lax" if name == LANG_COOKIE else "strict",
    )


def redirect(visit: Visit, to: str) -> Response:
    return finish(visit, RedirectResponse(to, status_code=303))


def safe_next(target: str | None) -> str:
    """Only a path inside the panel (no open redirect)."""
    if target and target.startswith(f"{PREFIX}/"):
        return target
    return f"{PREFIX}/services"


def once_key(form: FormData) -> str | None:
    """The form's one-time token, sent as the Idempotency-Key: a double submit acts once."""
    value = form.get("once")
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None


def parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class PanelError(ApiError):
    """A refusal the panel words itself (its detail is already in the visitor's language)."""


def said(visit: Visit, exc: ApiError) -> str:
    """What the panel shows for a refusal: its own words, never the API's English on a Persian
    page."""
    if isinstance(exc, PanelError):
        return exc.detail
    return visit.words.problem(exc.code, exc.detail)


async def error_page(request: Request, exc: ApiError) -> Response:
    visit = await get_visit(request, request.app.state.context)
    return render(visit, "error.html", status=exc.status, message=said(visit, exc))


async def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    where = "operator/sign-in" if exc.operator else "sign-in"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/{where}?next={quote(target)}", status_code=303)
