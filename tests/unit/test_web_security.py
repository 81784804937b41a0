"""The pages' security, through the application itself (no services behind it): sign-in, sessions,
CSRF, lockout, roles, and what a person sees when something goes wrong."""

from __future__ import annotations

import datetime as dt
import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from credverify.web.accounts import LOCKOUT, MAX_FAILED_SIGN_INS, SESSION_IDLE
from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.app import SESSION_COOKIE, WebDeps
from credverify.web.assembly import create_app
from tests.web_support import OFFICER, PASSWORD, REGISTRAR, add_accounts, csrf_of, sign_in

T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(tmp_path: Path, clock: Clock) -> Iterator[WebDeps]:
    store = SqliteWebStore(tmp_path / "web.db")
    add_accounts(store)
    yield WebDeps(store=store, registries={}, issuers={}, secure_cookies=False, now=clock)
    store.close()


@pytest.fixture
def client(deps: WebDeps) -> Iterator[TestClient]:
    with TestClient(create_app(deps), base_url="http://testserver") as client:
        yield client


def test_signing_in_replaces_the_session_id_the_visitor_had(client: TestClient) -> None:
    form = client.get("/sign-in")
    before = client.cookies[SESSION_COOKIE]
    signed = client.post("/sign-in", data={"csrf": csrf_of(form.text), "username": OFFICER, "password": PASSWORD},
                         follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/verify"
    after = client.cookies[SESSION_COOKIE]
    assert after != before, "session fixation: the id set before sign-in still names the signed-in session"
    client.cookies.set(SESSION_COOKIE, before)
    assert client.get("/verify", follow_redirects=False).headers["location"].startswith("/sign-in"), \
        "the id from before sign-in opens the account's pages"
    client.cookies.set(SESSION_COOKIE, after)
    assert client.get("/verify").status_code == 200


def test_the_session_cookie_is_http_only_and_same_site_strict(client: TestClient) -> None:
    cookie = sign_in(client, OFFICER).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie, "a Secure cookie is never sent back over the plain HTTP of this test"


def test_the_session_cookie_is_secure_behind_https(deps: WebDeps) -> None:
    deps.secure_cookies = True
    with TestClient(create_app(deps), base_url="https://testserver") as client:
        assert "secure" in sign_in(client, OFFICER).headers["set-cookie"].lower()


def test_a_form_without_the_session_csrf_token_is_refused(client: TestClient,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    client.get("/sign-in")
    refused = client.post("/sign-in", data={"username": OFFICER, "password": PASSWORD}, follow_redirects=False)
    assert refused.status_code == 403 and "form has expired" in refused.text
    assert "CSRF" in caplog.text
    assert sign_in(client, OFFICER).status_code == 303
    verify = client.post("/verify", data={"csrf": "a token of another session", "family_name": "Wanjiru"})
    assert verify.status_code == 403, "a signed-in POST with a wrong CSRF token was accepted"
    sign_out = client.post("/sign-out", data={})
    assert sign_out.status_code == 403
    assert client.get("/verify").status_code == 200, "a refused sign-out signed the officer out"


def test_sign_out_ends_the_session(client: TestClient) -> None:
    sign_in(client, OFFICER)
    session = client.cookies[SESSION_COOKIE]
    page = client.get("/verify")
    assert client.post("/sign-out", data={"csrf": csrf_of(page.text)}, follow_redirects=False).status_code == 303
    client.cookies.set(SESSION_COOKIE, session)
    assert client.get("/verify", follow_redirects=False).status_code == 303, "the old session still opens pages"


def test_a_wrong_password_is_refused_with_a_message_and_logged(client: TestClient,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        refused = sign_in(client, OFFICER, "not the password at all")
    assert refused.status_code == 401 and "username or the password is not right" in refused.text
    assert "sign-in refused" in caplog.text and "not the password" not in caplog.text
    unknown = sign_in(client, "nobody", PASSWORD)
    assert unknown.status_code == 401 and "username or the password is not right" in unknown.text


def test_repeated_failures_lock_the_account_for_a_while(client: TestClient, clock: Clock) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        assert sign_in(client, OFFICER, "guess guess guess").status_code == 401
    locked = sign_in(client, OFFICER, PASSWORD)
    assert locked.status_code == 429 and "locked for 15 minutes" in locked.text, \
        "the right password opened an account after %d failures" % MAX_FAILED_SIGN_INS
    clock.now += LOCKOUT + dt.timedelta(seconds=1)
    assert sign_in(client, OFFICER, PASSWORD).status_code == 303
    assert sign_in(client, OFFICER, "one more typo here").status_code == 401, "success did not reset the count"


def test_an_idle_session_expires(client: TestClient, clock: Clock) -> None:
    sign_in(client, OFFICER)
    clock.now += SESSION_IDLE - dt.timedelta(minutes=1)
    assert client.get("/verify").status_code == 200
    clock.now += SESSION_IDLE + dt.timedelta(minutes=1)
    expired = client.get("/verify", follow_redirects=False)
    assert expired.status_code == 303 and expired.headers["location"] == "/sign-in?expired=1&next=%2Fverify"
    assert "Your session has ended" in client.get(expired.headers["location"]).text


@pytest.mark.parametrize(("username", "forbidden"), [
    (OFFICER, ["/register", "/credentials", "/keys"]),
    (REGISTRAR, ["/verify", "/audit", "/audit.csv"]),
])
def test_each_role_is_refused_the_other_roles_pages(client: TestClient, username: str, forbidden: list[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    sign_in(client, username)
    for path in forbidden:
        refused = client.get(path)
        assert refused.status_code == 403, "%s opened %s" % (username, path)
        assert "it is for another role" in refused.text
    assert "asked for a page of" in caplog.text


def test_a_registrar_cannot_look_up_another_councils_credential(client: TestClient) -> None:
    sign_in(client, REGISTRAR)
    refused = client.get("/credentials", params={"credential_id": "RO-CMR/10003"})
    assert refused.status_code == 403 and "belongs to another council" in refused.text
    page = client.get("/credentials")
    change = client.post("/credentials/change", data={"csrf": csrf_of(page.text), "credential_id": "RO-CMR/10003",
                                                      "action": "revoke", "reason": "FRAUDULENT_ENTRY"})
    assert change.status_code == 403


def test_pages_without_sign_in_send_the_visitor_to_sign_in(client: TestClient) -> None:
    for path in ("/verify", "/register", "/audit", "/keys"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/sign-in?next=%%2F%s" % path[1:]


def test_an_internal_failure_shows_a_sentence_not_a_stack_trace(deps: WebDeps,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    deps.store.close()  # every page that reads a session now fails inside
    with TestClient(create_app(deps), raise_server_exceptions=False) as client:
        failed = client.get("/sign-in")
    assert failed.status_code == 500 and "Something went wrong on our side" in failed.text
    assert "Traceback" not in failed.text and "sqlite" not in failed.text.lower()
    assert "Traceback" in caplog.text, "the failure was not logged with its traceback"


def test_unknown_pages_and_methods_get_a_page_in_words(client: TestClient) -> None:
    assert "There is no page at this address" in client.get("/nowhere").text
    assert client.get("/nowhere").status_code == 404
    assert client.put("/verify").status_code == 405


def test_passwords_are_stored_as_argon2id_in_a_file_only_its_owner_reads(deps: WebDeps) -> None:
    stored = deps.store.account(OFFICER)
    assert stored is not None and stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert stat.S_IMODE(deps.store.path.stat().st_mode) == 0o600


def test_every_page_sends_security_headers(client: TestClient) -> None:
    answer = client.get("/sign-in")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"


def test_sign_in_returns_only_to_a_page_of_this_site(client: TestClient) -> None:
    form = client.get("/sign-in", params={"next": "//evil.example/phish"})
    assert 'name="next" value=""' in form.text
    signed = client.post("/sign-in", data={"csrf": csrf_of(form.text), "username": OFFICER, "password": PASSWORD,
                                           "next": "https://evil.example/"}, follow_redirects=False)
    assert signed.headers["location"] == "/verify"
