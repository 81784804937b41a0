"""What every page shares: who is signed in, CSRF, language, errors, rendering. Routes stay thin:
parse the form, call a gRPC client, render."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from credverify.core.adapters.templates import templates_in
from credverify.web import security
from credverify.web.accounts import SESSION_ABSOLUTE, Account, Role
from credverify.web.adapters.grpc_clients import IssuerClient, RegistryClient
from credverify.web.adapters.oidc_http import OidcClient
from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.i18n import LANGUAGE_NAMES, Translate, negotiate, translator

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
SESSION_COOKIE = "credverify_session"
LANGUAGE_COOKIE = "credverify_lang"
# A register export of 20,000 practitioners is about 4 MiB; larger files go through `credverify issuer bulk`.
MAX_BODY_BYTES = 8 * 1024 * 1024
# What browsers may load and run: our own stylesheet and script only, no frames (clickjacking), no
# inline script; see OWASP's Secure Headers Project.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HOME_OF_ROLE = {Role.CASE_OFFICER: "/verify", Role.REGISTRAR: "/register"}


class PageError(Exception):
    """A request the pages refuse: its HTTP status, a message id for the person, and what to log."""

    def __init__(self, status: int, message_id: str, log: str, **values: object) -> None:
        super().__init__(log)
        self.status, self.message_id, self.log, self.values = status, message_id, log, values


@dataclass
class WebMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter("credverify_web_requests_total", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("credverify_web_request_seconds", "time to answer an HTTP request, by route",
                                 ["route"], registry=self.registry)
        self.verifications = Counter("credverify_web_verifications_total", "verifications by case officers, "
                                     "by verdict", ["verified"], registry=self.registry)
        self.refusals = Counter("credverify_web_refusals_total", "requests refused, by cause", ["cause"],
                                registry=self.registry)


@dataclass
class WebDeps:
    """What the pages need, opened by bootstrap (or a test)."""

    store: SqliteWebStore
    registries: Mapping[str, RegistryClient]  # by destination country
    issuers: Mapping[str, IssuerClient]  # by issuer id
    secure_cookies: bool
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    oidc: OidcClient | None = None  # single sign-on, when a provider is configured
    metrics: WebMetrics = field(default_factory=WebMetrics)
    extras: dict[str, Any] = field(default_factory=dict)  # per-page state (batches, evidence)


@dataclass
class Page:
    """One request, as the pages see it."""

    request: Request
    deps: WebDeps
    session: security.Session | None
    language: str
    t: Translate

    @property
    def account(self) -> Account:
        assert self.session is not None and self.session.account is not None
        return self.session.account

    def render(self, template: str, status: int = 200, **context: object) -> HTMLResponse:
        html = templates_in(TEMPLATES).get_template(template).render(
            t=self.t, lang=self.language, languages=LANGUAGE_NAMES, path=self.request.url.path,
            csrf=self.session.csrf_token if self.session else "", sso=self.deps.oidc is not None,
            account=self.session.account if self.session else None, **context)
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        remember_language(response, self)
        return response

    async def form(self) -> FormData:
        """The POSTed form, once its CSRF token matched the session's. Raises PageError (403)."""
        form = await self.request.form(max_files=4, max_fields=64)
        if not security.csrf_ok(self.session, form.get("csrf")):
            self.deps.metrics.refusals.labels("csrf").inc()
            raise PageError(403, "error.csrf", "form without the session's CSRF token")
        return form


def page_of(request: Request) -> Page:
    deps: WebDeps = request.app.state.deps
    chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    language = negotiate(chosen, request.headers.get("accept-language"))
    session = security.load_session(deps.store, request.cookies.get(SESSION_COOKIE), now=deps.now())
    return Page(request, deps, session, language, translator(language))


def signed_in(request: Request, role: Role) -> Page:
    """The page of a signed-in account with ``role``. Raises PageError: 401 without a session (the
    handler sends the person to sign in), 403 for another role."""
    page = page_of(request)
    if page.session is None or page.session.account is None:
        raise PageError(401, "error.sign_in_needed", "no live session")
    if page.account.role is not role:
        page.deps.metrics.refusals.labels("role").inc()
        raise PageError(403, "error.wrong_role", "account %s (%s) asked for a page of %s" % (
            page.account.username, page.account.role.value, role.value))
    return page


def set_session_cookie(response: Response, page: Page, session_id: str) -> None:
    response.set_cookie(SESSION_COOKIE, session_id, max_age=int(SESSION_ABSOLUTE.total_seconds()), path="/",
                        httponly=True, samesite="strict",
                        secure=page.deps.secure_cookies or page.request.url.scheme == "https")


def remember_language(response: Response, page: Page) -> None:
    if page.request.query_params.get("lang") in LANGUAGE_NAMES:
        response.set_cookie(LANGUAGE_COOKIE, page.language, max_age=365 * 86400, path="/", samesite="lax",
                            secure=page.deps.secure_cookies or page.request.url.scheme == "https")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


async def page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    logger.warning("refused %s %s: %d %s", request.method, request.url.path, exc.status, exc.log)
    if exc.status == 401:
        # A session cookie that opens no session: it expired (or was signed out elsewhere); say so.
        query = {"expired": "1"} if request.cookies.get(SESSION_COOKIE) else {}
        if request.method == "GET":
            query["next"] = request.url.path
        return redirect("/sign-in" + ("?" + urlencode(query) if query else ""))
    page = page_of(request)
    return page.render("error.html", status=exc.status, message=page.t(exc.message_id, **exc.values))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    logger.warning("refused %s %s: %d %s", request.method, request.url.path, exc.status_code, exc.detail)
    page = page_of(request)
    message_id = {404: "error.not_found", 405: "error.method", 413: "error.too_large"}.get(
        exc.status_code, "error.bad_request")
    return page.render("error.html", status=exc.status_code, message=page.t(message_id))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    # The traceback goes to the log; the person gets a plain sentence, never a stack trace.
    logger.error("failed %s %s", request.method, request.url.path, exc_info=exc)
    language = negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    t = translator(language)
    html = templates_in(TEMPLATES).get_template("error.html").render(
        t=t, lang=language, languages=LANGUAGE_NAMES, path="", csrf="", account=None, sso=False,
        message=t("error.internal"))
    return HTMLResponse(html, status_code=500, headers=SECURITY_HEADERS)


class MeasuredApp:
    """Counts and times every HTTP request by its first path segment (a bounded set of labels)."""

    def __init__(self, app: Starlette, metrics: WebMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = "/" + str(scope.get("path", "/")).split("/")[1][:32]
        status = [500]

        async def send_noting_status(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        with self.metrics.latency.labels(route).time():
            try:
                await self.app(scope, receive, send_noting_status)
            finally:
                self.metrics.requests.labels(route, str(status[0])).inc()
