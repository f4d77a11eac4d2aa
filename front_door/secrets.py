"""Tokens and access keys: random secrets, stored and looked up only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_account_token() -> str:
    return "fca_" + secrets.token_urlsafe(32)


ACCESS_KEY_PREFIX_LENGTH = len("fck_") + 8


def new_access_key() -> str:
    """A new access key: its prefix (`access_key_prefix`), then the secret part."""
    return f"fck_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"


def access_key_prefix(key: str) -> str:
    """What identifies an access key in lists without revealing it."""
    return key[:ACCESS_KEY_PREFIX_LENGTH]
