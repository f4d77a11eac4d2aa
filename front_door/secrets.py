"""Tokens and access keys: random secrets, stored and looked up only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_account_token() -> str:
    return "fca_" + secrets.token_urlsafe(32)


def new_access_key() -> tuple[str, str]:
    """Returns (key, prefix); the prefix identifies the key in lists without revealing it."""
    prefix = "fck_" + secrets.token_hex(4)
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix
