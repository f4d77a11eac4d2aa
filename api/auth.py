"""Bearer authentication for the three roles, as Annotated dependencies.

The dependencies are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread
pool, and that hop cost more than the whole call path.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from front_door.context import Context
from front_door.credentials import key_for_secret, known, usable
from front_door.directory import AccountView, KeyView
from front_door.problems import ApiError

# The three roles as OpenAPI security schemes. They only document: the dependencies below read
# the header themselves (and answer problem+json, which HTTPBearer would not).
OPERATOR = HTTPBearer(scheme_name="operator", auto_error=False, description="FLASHCALL_ADMIN_TOKEN")
ACCOUNT = HTTPBearer(
    scheme_name="account",
    auto_error=False,
    description="The account token, shown once when the account is created or rotated.",
)
KEY = HTTPBearer(
    scheme_name="accessKey", auto_error=False, description="An access key of one service."
)
Documented = Any


async def get_context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


Ctx = Annotated[Context, Depends(get_context)]


def bearer(request: Request) -> str:
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise ApiError("unauthorized", "send Authorization: Bearer <token>")
    return token


def bearer_token(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None: not one)."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _is_operator(ctx: Context, token: str) -> bool:
    return hmac.compare_digest(token.encode(), ctx.settings.admin_token.encode())


@dataclass(frozen=True)
class Caller:
    """The operator, or an account (exactly one of the two)."""

    operator: bool
    account: AccountView | None


async def require_operator(
    ctx: Ctx, request: Request, _: Annotated[Documented, Security(OPERATOR)]
) -> None:
    token = bearer(request)
    if _is_operator(ctx, token):
        return
    if (await known(ctx, token)).account is not None:
        raise ApiError("forbidden", "only the operator may do this")
    raise ApiError("unauthorized", "the operator token is required")


async def require_account(
    ctx: Ctx, request: Request, _: Annotated[Documented, Security(ACCOUNT)]
) -> AccountView:
    found = await known(ctx, bearer(request))
    if found.account is not None:
        return found.account
    if found.key is not None:
        raise ApiError("forbidden", "an access key cannot do this; use the account token")
    raise ApiError("unauthorized", "unknown account token")


async def require_operator_or_account(
    ctx: Ctx,
    request: Request,
    _o: Annotated[Documented, Security(OPERATOR)],
    _a: Annotated[Documented, Security(ACCOUNT)],
) -> Caller:
    token = bearer(request)
    if _is_operator(ctx, token):
        return Caller(True, None)
    account = (await known(ctx, token)).account
    if account is None:
        raise ApiError("unauthorized", "unknown token")
    return Caller(False, account)


async def require_key(
    ctx: Ctx, request: Request, _: Annotated[Documented, Security(KEY)]
) -> KeyView:
    return await key_for_secret(ctx, bearer(request))


async def require_key_or_account(
    ctx: Ctx,
    request: Request,
    _k: Annotated[Documented, Security(KEY)],
    _a: Annotated[Documented, Security(ACCOUNT)],
) -> KeyView | AccountView:
    found = await known(ctx, bearer(request))
    return found.account if found.account is not None else usable(found)


Operator = Annotated[None, Depends(require_operator)]
Account = Annotated[AccountView, Depends(require_account)]
OperatorOrAccount = Annotated[Caller, Depends(require_operator_or_account)]
AccessKey = Annotated[KeyView, Depends(require_key)]
KeyOrAccount = Annotated[KeyView | AccountView, Depends(require_key_or_account)]
