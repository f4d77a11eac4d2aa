"""`python -m api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from core.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
