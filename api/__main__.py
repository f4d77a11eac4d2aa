"""`python -m api`: serve the HTTP API with uvicorn."""

from __future__ import annotations

import uvicorn

from api.app import served
from core.collector import pace_collector
from core.logs import uvicorn_log_config
from core.settings import get_settings


def main() -> None:
    pace_collector()
    settings = get_settings()
    uvicorn.run(
        served(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        access_log=settings.access_log,
        log_config=uvicorn_log_config(settings.log_format),
        proxy_headers=True,
        forwarded_allow_ips=settings.trusted_proxies,
    )


if __name__ == "__main__":
    main()
