"""Which failures pass by themselves, and the one loop that waits them out (core/faults.py)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from core.faults import is_transient, until_back


def test_a_lost_connection_or_a_deadlock_passes_and_a_data_error_does_not() -> None:
    assert is_transient(psycopg.OperationalError("connection refused"))  # no SQLSTATE yet
    assert is_transient(psycopg.errors.DeadlockDetected())  # 40P01
    assert is_transient(psycopg.errors.AdminShutdown())  # 57P01
    assert not is_transient(psycopg.errors.UniqueViolation())  # 23505
    assert not is_transient(ValueError("a bug"))


def test_until_back_tries_again_while_the_dependency_is_away() -> None:
    tries: list[int] = []
    told: list[str] = []

    async def attempt() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise psycopg.OperationalError("the server closed the connection")
        return "written"

    result = asyncio.run(until_back(attempt, lambda exc: told.append(str(exc)), first=0.001))
    assert (result, len(tries)) == ("written", 3)
    assert told == ["the server closed the connection"] * 2


def test_until_back_raises_anything_else_at_once() -> None:
    tries: list[int] = []

    async def attempt() -> None:
        tries.append(1)
        raise psycopg.errors.UniqueViolation("duplicate key")

    with pytest.raises(psycopg.errors.UniqueViolation):
        asyncio.run(until_back(attempt, first=0.001))
    assert len(tries) == 1
