"""The web application assembled: every page, the static files, the error handlers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from credverify.web import pages_auth, pages_case, pages_registrar, pages_sso, pages_watch
from credverify.web.app import (
    HERE,
    MAX_BODY_BYTES,
    PageError,
    WebDeps,
    http_error,
    page_error,
    unexpected_error,
)


def create_app(deps: WebDeps) -> Starlette:
    routes: list[BaseRoute] = [*pages_auth.ROUTES, *pages_sso.ROUTES, *pages_case.ROUTES, *pages_watch.ROUTES,
                               *pages_registrar.ROUTES,
                               Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    app = Starlette(routes=routes, exception_handlers={PageError: page_error, HTTPException: http_error,
                                                       Exception: unexpected_error},
                    max_body_size=MAX_BODY_BYTES)
    app.state.deps = deps
    return app
