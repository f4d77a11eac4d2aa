"""Who a bearer token or an access key is, as the directory knows it (catching up across
replicas for one issued a moment ago). FastAPI-free: the HTTP dependencies (api/auth.py) and
the Kafka ingress (processors/ingress.py) both ask here."""

from __future__ import annotations

from dataclasses import dataclass

from core.faults import is_transient
from front_door.context import Context
from front_door.directory import AccountView, KeyView
from front_door.problems import ApiError
from front_door.secrets import hash_secret


@dataclass(frozen=True)
class Known:
    """What a bearer token is, as the directory knows it."""

    account: AccountView | None
    key: KeyView | None


async def known(ctx: Context, token: str) -> Known:
    """The account or key `token` is. A token this replica does not know may have been issued
    a moment ago through another: it then catches up with what the projection has applied
    (every write answered 2xx) and looks again (front_door/fleet.py). While PostgreSQL is away, the
    directory's word stands."""
    token_hash = hash_secret(token)

    def look() -> Known:
        return Known(
            ctx.directory.account_for_token(token_hash), ctx.directory.key_for_secret(token_hash)
        )

    found = look()
    if found.account is None and found.key is None:
        try:
            await ctx.fleet.caught_up()
        except Exception as exc:
            if not is_transient(exc):
                raise
        found = look()
    return found


async def key_for_secret(ctx: Context, secret: str) -> KeyView:
    return usable(await known(ctx, secret))


def usable(found: Known) -> KeyView:
    """The key, if it is one that may place calls."""
    if found.key is None or found.key.revoked_at is not None:
        raise ApiError("unauthorized", "unknown or revoked access key")
    return found.key
