"""The web panel at /panel/: server-rendered pages on the API's own handlers and projections."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.panel import (
    operator_pages,
    reports_pages,
    services_pages,
    sign_in,
    test_page,
    webhooks_pages,
)
from api.panel.web import HERE, PREFIX, SignInRequired, error_page, sign_in_redirect
from core.settings import Settings

__all__ = ["PREFIX", "error_page", "install"]


def install(app: FastAPI, settings: Settings) -> None:
    app.state.panel_attempts = sign_in.Attempts(settings.panel_signin_attempts)
    for module in (
        sign_in,
        services_pages,
        test_page,
        reports_pages,
        webhooks_pages,
        operator_pages,
    ):
        app.include_router(module.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="panel-static")
    app.add_exception_handler(SignInRequired, sign_in_redirect)  # type: ignore[arg-type]
