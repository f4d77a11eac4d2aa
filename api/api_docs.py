"""The API's interactive documentation: Swagger UI at /docs, its script, style and icon served
by the app (fetched pinned at build time by launch/fetch_assets.py, as the panel's are), so it
renders behind filters that block CDNs. No ReDoc: its page loads Redocly's logo from their CDN
whatever it is told; docs/api.md is the contract to read."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(__file__).parent / "docs_assets" / "vendor"
PREFIX = "/docs/assets"


def install(app: FastAPI) -> None:
    """Build the app with `docs_url=None, redoc_url=None`; this serves /docs from ASSETS."""
    app.mount(PREFIX, StaticFiles(directory=ASSETS, check_dir=False), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
            # No badge from validator.swagger.io: nothing leaves the page.
            swagger_ui_parameters={"validatorUrl": None},
        )
