"""The case officer's watch list: credentials she follows, their status updated live (server-sent
events) when a council suspends or revokes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from credverify.web.accounts import Role
from credverify.web.app import SECURITY_HEADERS, Page, PageError, redirect, signed_in
from credverify.web.pages_case import registry_of
from credverify.web.verdict import CREDENTIAL_ID_SHAPE
from credverify.web.watch import MAX_FOLLOWED, MAX_PER_OFFICER, Status, WatchHub

logger = logging.getLogger(__name__)

KEEP_ALIVE_S = 15.0  # a comment line this often: proxies keep the stream open, a gone page is noticed


def hub_of(page: Page) -> WatchHub:
    hubs: dict[str, WatchHub] = page.deps.extras.setdefault("watch_hubs", {})
    country = page.account.scope
    if country not in hubs:
        store = page.deps.store
        hubs[country] = WatchHub(registry_of(page), lambda: store.watched_in(country))
    return hubs[country]


def shown(page: Page, status: Status | None, credential_id: str) -> dict[str, object]:
    """What the page shows of one followed credential, in the officer's language."""
    if status is None:
        return {"credential_id": credential_id, "status": page.t("watch.waiting"), "verdict": "", "reasons": "",
                "observed_at": "", "verified": None}
    return {
        "credential_id": credential_id,
        "status": page.t("status." + status.status, default=status.status) if status.status
        else page.t("watch.not_held"),
        "verdict": page.t("verdict.verified") if status.verified else page.t("verdict.refused"),
        "reasons": " ".join(page.t("reason." + code, default=code) for code in status.reasons),
        "observed_at": status.observed_at, "verified": status.verified,
    }


async def watch_page(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    followed = page.deps.store.watched_by(page.account.username)
    latest = hub_of(page).latest(followed) if followed else {}
    return page.render("watch.html", rows=[shown(page, latest.get(cid), cid) for cid in followed], errors={},
                       value="")


async def follow(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    form = await page.form()
    credential_id = str(form.get("credential_id", "")).strip()[:100]
    followed = page.deps.store.watched_by(page.account.username)
    error = None
    if not CREDENTIAL_ID_SHAPE.fullmatch(credential_id):
        error, why = page.t("watch.error.id"), "not a credential id"
    elif len(followed) >= MAX_PER_OFFICER or len(page.deps.store.watched_in(page.account.scope)) >= MAX_FOLLOWED:
        error, why = page.t("watch.error.full", limit=MAX_PER_OFFICER), "watch list full"
    if error:
        logger.warning("watch refused for %s: %s", page.account.username, why)
        latest = hub_of(page).latest(followed) if followed else {}
        return page.render("watch.html", status=400, rows=[shown(page, latest.get(c), c) for c in followed],
                           errors={"credential_id": error}, value=credential_id)
    page.deps.store.watch(page.account.username, page.account.scope, credential_id)
    hub_of(page).followed_changed()
    return redirect("/watch")


async def unfollow(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    form = await page.form()
    page.deps.store.unwatch(page.account.username, str(form.get("credential_id", ""))[:100])
    hub_of(page).followed_changed()
    return redirect("/watch")


def _event(data: dict[str, object]) -> str:
    return "event: status\ndata: %s\n\n" % json.dumps(data, ensure_ascii=False)


async def events(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    wanted = frozenset(page.deps.store.watched_by(page.account.username))
    if not wanted:
        raise PageError(404, "watch.empty", "events of an empty watch list")
    hub = hub_of(page)
    subscriber = hub.subscribe(wanted)

    async def stream() -> AsyncIterator[str]:
        try:
            for credential_id, status in hub.latest(wanted).items():
                yield _event(shown(page, status, credential_id))
            while not await request.is_disconnected():
                try:
                    status = await asyncio.wait_for(subscriber.queue.get(), KEEP_ALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield _event(shown(page, status, status.credential_id))
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"})


ROUTES = [
    Route("/watch", watch_page, methods=["GET"]),
    Route("/watch", follow, methods=["POST"]),
    Route("/watch/remove", unfollow, methods=["POST"]),
    Route("/watch/events", events, methods=["GET"]),
]
