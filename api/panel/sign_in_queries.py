"""The SQL of the panel's sign-in: users (email and argon2id password hash, api/panel/passwords.py)
and browser sessions, in PostgreSQL.

Passwords and sessions are the panel's own state, not events: they stay out of the topics
analysts read. The account itself is still opened by its AccountCreated event.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from front_door.queries import fetch_one
from front_door.secrets import hash_secret


class EmailTaken(Exception):
    pass


async def claim_email(
    pool: AsyncConnectionPool, email: str, account_id: uuid.UUID, password_hash: str
) -> None:
    """Reserve the email for a new account before the account's event is appended."""
    try:
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO panel_users (email, account_id, password_hash) VALUES (%s, %s, %s)",
                (email, account_id, password_hash),
            )
    except errors.UniqueViolation as exc:
        raise EmailTaken(email) from exc


async def release_email(pool: AsyncConnectionPool, email: str) -> None:
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM panel_users WHERE email = %s", (email,))


async def user_by_email(pool: AsyncConnectionPool, email: str) -> tuple[uuid.UUID, str] | None:
    row = await fetch_one(
        pool, "SELECT account_id, password_hash FROM panel_users WHERE email = %s", (email,)
    )
    return (row["account_id"], row["password_hash"]) if row else None


async def email_of(pool: AsyncConnectionPool, account_id: uuid.UUID) -> str | None:
    row = await fetch_one(
        pool, "SELECT email FROM panel_users WHERE account_id = %s", (account_id,)
    )
    return row["email"] if row else None


async def set_password_hash(pool: AsyncConnectionPool, email: str, new_hash: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE panel_users SET password_hash = %s WHERE email = %s", (new_hash, email)
        )


@dataclass(frozen=True)
class Session:
    account_id: uuid.UUID | None
    operator: bool
    csrf_token: str


async def open_session(
    pool: AsyncConnectionPool, account_id: uuid.UUID | None, operator: bool, hours: float
) -> tuple[str, Session]:
    """A new session and the token for its cookie (the table keeps only the token's hash)."""
    token = secrets.token_urlsafe(32)
    session = Session(account_id, operator, secrets.token_urlsafe(32))
    async with pool.connection() as conn:
        # Expired sessions are swept as new ones open.
        await conn.execute("DELETE FROM panel_sessions WHERE expires_at < now()")
        await conn.execute(
            "INSERT INTO panel_sessions (token_hash, account_id, operator, csrf_token,"
            " expires_at) VALUES (%s, %s, %s, %s, %s)",
            (
                hash_secret(token),
                account_id,
                operator,
                session.csrf_token,
                datetime.now(UTC) + timedelta(hours=hours),
            ),
        )
    return token, session


async def find_session(pool: AsyncConnectionPool, token: str) -> Session | None:
    row = await fetch_one(
        pool,
        "SELECT account_id, operator, csrf_token FROM panel_sessions"
        " WHERE token_hash = %s AND expires_at > now()",
        (hash_secret(token),),
    )
    return Session(row["account_id"], row["operator"], row["csrf_token"]) if row else None


async def close_session(pool: AsyncConnectionPool, token: str) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "DELETE FROM panel_sessions WHERE token_hash = %s", (hash_secret(token),)
        )
