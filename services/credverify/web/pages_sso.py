"""Signing in through the organisation's OpenID Connect provider, to an account an administrator
bound to that identity (`credverify web add-account --sso-subject`)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from credverify.web import security
from credverify.web.adapters.oidc_http import OidcClient, ProviderUnavailable
from credverify.web.app import HOME_OF_ROLE, Page, PageError, page_of, redirect, set_session_cookie
from credverify.web.oidc import IdTokenRejected, Pending

logger = logging.getLogger(__name__)

CALLBACK = "/sign-in/sso/callback"
# The provider sends the browser back with a cross-site navigation, which carries no SameSite=Strict
# cookie (the session's): this cookie, Lax and good for this path only, names the sign-in begun here.
TICKET_COOKIE = "credverify_sso"
TICKET_LIFETIME = dt.timedelta(minutes=10)


def _provider(page: Page) -> OidcClient:
    if page.deps.oidc is None:
        raise PageError(404, "error.not_found", "single sign-on asked for, none configured")
    return page.deps.oidc


def _redirect_uri(request: Request) -> str:
    return str(request.base_url).rstrip("/") + CALLBACK


async def start(request: Request) -> Response:
    page = page_of(request)
    await page.form()
    provider = _provider(page)
    pending, ticket = Pending.new(), secrets.token_urlsafe(32)
    try:
        url = await run_in_threadpool(provider.authorization_url, pending, _redirect_uri(request))
    except ProviderUnavailable as exc:
        raise PageError(503, "sso.error.unavailable", "provider: %s" % exc) from exc
    page.deps.store.put_pending_sso(ticket, pending.state, pending.nonce, pending.verifier, page.deps.now())
    response = redirect(url)
    response.set_cookie(TICKET_COOKIE, ticket, max_age=int(TICKET_LIFETIME.total_seconds()), path=CALLBACK,
                        httponly=True, samesite="lax",
                        secure=page.deps.secure_cookies or request.url.scheme == "https")
    return response


def _pending(page: Page, request: Request) -> Pending:
    """The sign-in this browser started here, once, within TICKET_LIFETIME. Raises PageError (400)."""
    ticket = request.cookies.get(TICKET_COOKIE, "")
    taken = page.deps.store.take_pending_sso(ticket) if 0 < len(ticket) <= 128 else None
    state = request.query_params.get("state", "")
    if taken is None or not security.same_secret(taken[0], state) or page.deps.now() - taken[3] > TICKET_LIFETIME:
        raise PageError(400, "sso.error.not_started", "callback without the state of a sign-in started here")
    return Pending(taken[0], taken[1], taken[2])


async def callback(request: Request) -> Response:
    page = page_of(request)
    provider = _provider(page)
    pending = _pending(page, request)
    if request.query_params.get("error") or not request.query_params.get("code"):
        answered = request.query_params.get("error", "")[:60]
        raise PageError(401, "sso.error.refused", "the provider answered %s" % answered)
    try:
        claims = await run_in_threadpool(provider.sign_in, request.query_params["code"][:2048], pending,
                                         _redirect_uri(request), page.deps.now())
    except ProviderUnavailable as exc:
        raise PageError(503, "sso.error.unavailable", "provider: %s" % exc) from exc
    except IdTokenRejected as exc:
        page.deps.metrics.refusals.labels("sso-token").inc()
        raise PageError(401, "sso.error.refused", "ID token rejected at step %s" % exc) from exc
    username = page.deps.store.username_of_sso(provider.issuer, claims["sub"])
    found = page.deps.store.account(username) if username else None
    if found is None:
        page.deps.metrics.refusals.labels("sso-unbound").inc()
        raise PageError(403, "sso.error.no_account", "no account bound to subject %r" % claims["sub"][:80])
    if page.session is not None:  # a visitor's session sent along (same site): replaced, never kept
        page.deps.store.delete_session(page.session.session_id)
    session = security.new_session(page.deps.store, found.account, now=page.deps.now())
    logger.info("signed in through the provider: %s (%s %s)", found.account.username, found.account.role.value,
                found.account.scope)
    # A page of ours, not a redirect: the browser arrived here from the provider's site, and a redirect
    # would carry that cross-site origin on, so the new SameSite=Strict session cookie would stay behind.
    page.session = session
    response = page.render("signed_in.html", home=HOME_OF_ROLE[found.account.role])
    set_session_cookie(response, page, session.session_id)
    response.delete_cookie(TICKET_COOKIE, path=CALLBACK)
    return response


ROUTES = [
    Route("/sign-in/sso", start, methods=["POST"]),
    Route(CALLBACK, callback, methods=["GET"]),
]
