"""Signing in and out, the language, health and metrics."""

from __future__ import annotations

import logging
import sqlite3

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from credverify.web import security
from credverify.web.app import (
    HOME_OF_ROLE,
    SESSION_COOKIE,
    WebDeps,
    page_of,
    redirect,
    remember_language,
    set_session_cookie,
)

logger = logging.getLogger(__name__)


def _safe_next(target: str | None) -> str | None:
    """Only a path of these pages: never another site (an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


async def home(request: Request) -> Response:
    page = page_of(request)
    if page.session is None or page.session.account is None:
        response = redirect("/sign-in")
    else:
        response = redirect(HOME_OF_ROLE[page.account.role])
    remember_language(response, page)
    return response


async def sign_in_form(request: Request) -> Response:
    page = page_of(request)
    if page.session is None:
        # A visitor's session exists only to carry the CSRF token of this form; it is replaced on sign-in.
        page.session = security.new_session(page.deps.store, None, now=page.deps.now())
    expired = request.query_params.get("expired") == "1"
    response = page.render("sign_in.html", next=_safe_next(request.query_params.get("next")) or "",
                           error=page.t("sign_in.expired") if expired else None,
                           username="")
    set_session_cookie(response, page, page.session.session_id)
    return response


async def sign_in(request: Request) -> Response:
    page = page_of(request)
    form = await page.form()
    username = str(form.get("username", ""))[:64]
    try:
        account = security.authenticate(page.deps.store, username, str(form.get("password", ""))[:1024],
                                        now=page.deps.now())
    except security.SignInRefused as refused:
        page.deps.metrics.refusals.labels("sign-in-" + refused.why).inc()
        logger.warning("sign-in refused for %r: %s", username, refused.why)
        status = 429 if refused.why == "locked" else 401
        return page.render("sign_in.html", status=status, next=_safe_next(str(form.get("next", ""))) or "",
                           error=page.t("sign_in.locked" if refused.why == "locked" else "sign_in.wrong"),
                           username=username)
    if page.session is not None:
        page.deps.store.delete_session(page.session.session_id)
    session = security.new_session(page.deps.store, account, now=page.deps.now())
    logger.info("signed in: %s (%s %s)", account.username, account.role.value, account.scope)
    response = redirect(_safe_next(str(form.get("next", ""))) or HOME_OF_ROLE[account.role])
    set_session_cookie(response, page, session.session_id)
    return response


async def sign_out(request: Request) -> Response:
    page = page_of(request)
    await page.form()
    if page.session is not None:
        page.deps.store.delete_session(page.session.session_id)
        if page.session.account is not None:
            logger.info("signed out: %s", page.session.account.username)
    response = redirect("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def health(request: Request) -> Response:
    """200 when the store answers and every configured service reports SERVING; 503 otherwise, with
    which part is down."""
    deps: WebDeps = request.app.state.deps
    parts: dict[str, bool] = {}
    try:
        deps.store.ping()
        parts["store"] = True
    except sqlite3.Error:
        parts["store"] = False
    for country, registry in deps.registries.items():
        parts["registry:" + country] = await run_in_threadpool(registry.serving)
    for issuer_id, issuer in deps.issuers.items():
        parts["issuer:" + issuer_id] = await run_in_threadpool(issuer.serving)
    healthy = all(parts.values())
    return JSONResponse({"status": "SERVING" if healthy else "NOT_SERVING", "parts": parts},
                        status_code=200 if healthy else 503)


async def metrics(request: Request) -> Response:
    deps: WebDeps = request.app.state.deps
    return Response(generate_latest(deps.metrics.registry), media_type=CONTENT_TYPE_LATEST)


ROUTES = [
    Route("/", home),
    Route("/sign-in", sign_in_form, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", sign_out, methods=["POST"]),
    Route("/health", health),
    Route("/metrics", metrics),
]
