"""Single sign-on: a case officer signs in through her organisation's OpenID Connect provider (a real
one, run from Maven Central's jars) into the account an administrator bound to her identity, in a real
Chromium; an identity bound to no account is refused with words, and a replayed answer opens nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from credverify.web.app import SESSION_COOKIE
from credverify.web.bootstrap import WebServer, start_web
from tests.e2e.browser import DESKTOP, Checker
from tests.e2e.oidc_provider import oidc_provider

SUBJECT = "ama.mensah@nmc.example"


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    work = tmp_path_factory.mktemp("sso")
    with oidc_provider(work) as issuer:
        # No registry answers here: signing in needs none, and the verify page opens without one.
        server = start_web(registries={"GB": "127.0.0.1:9"}, db_path=work / "web.db",
                           oidc=(issuer, "credverify-web", "a client secret"))
        server.add_account(username="a.mensah", role="case-officer", scope="GB", password="unused password here",
                           display_name="Ama Mensah")
        server.deps.store.bind_sso("a.mensah", issuer, SUBJECT)
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def context(chromium: Browser, web: WebServer) -> Iterator[BrowserContext]:
    context = chromium.new_context(base_url=web.url, viewport=DESKTOP, bypass_csp=True, locale="en-GB")
    yield context
    context.close()


def through_the_provider(page: Page, subject: str) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Sign in with your organisation's account").click()
    page.locator("input[name=username]").fill(subject)  # the provider's own login form
    page.locator("input[type=submit]").click()


def session_cookie(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == SESSION_COOKIE)


def test_a_case_officer_signs_in_through_her_organisation(context: BrowserContext, tmp_path: Path) -> None:
    checker = Checker()
    page = context.new_page()
    page.goto("/sign-in")
    checker.check(page, "sign-in-sso")
    before = session_cookie(context)
    through_the_provider(page, SUBJECT)
    expect(page.get_by_role("heading", name="Verify an applicant's credential")).to_be_visible()
    expect(page.get_by_text("Signed in as Ama Mensah (GB)")).to_be_visible()
    assert session_cookie(context) != before, "session fixation: the visitor's session id survived sign-in"
    checker.write()


def test_an_identity_bound_to_no_account_is_refused(context: BrowserContext) -> None:
    page = context.new_page()
    through_the_provider(page, "someone.else@nmc.example")
    expect(page.get_by_role("alert")).to_contain_text("No account on these pages is bound to your organisation's")
    page.goto("/verify")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_replayed_answer_of_the_provider_opens_nothing(context: BrowserContext, chromium: Browser,
                                                         web: WebServer) -> None:
    page = context.new_page()
    answers: list[str] = []
    page.on("request", lambda r: answers.append(r.url) if "/sign-in/sso/callback" in r.url else None)
    through_the_provider(page, SUBJECT)
    expect(page.get_by_role("heading", name="Verify an applicant's credential")).to_be_visible()
    assert answers, "the provider never sent the browser back to the pages"
    stranger = chromium.new_context(base_url=web.url)  # another browser, holding the provider's answer
    try:
        replayed = stranger.new_page()
        replayed.goto(answers[0])
        expect(replayed.get_by_role("alert")).to_contain_text("This sign-in was not started here")
        page.goto(answers[0])  # and the same browser cannot use it twice
        expect(page.get_by_role("alert")).to_contain_text("This sign-in was not started here")
    finally:
        stranger.close()
