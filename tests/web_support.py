"""What the tests of the pages share: accounts, signing in, reading a form's CSRF token."""

from __future__ import annotations

import re

import httpx

from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.security import create_account

PASSWORD = "correct horse battery staple"
OFFICER = "officer.gb"
REGISTRAR = "registrar.ke"
REGISTRAR_RO = "registrar.ro"


def add_accounts(store: SqliteWebStore) -> None:
    create_account(store, username=OFFICER, role="case-officer", scope="GB", password=PASSWORD,
                   display_name="Case officer, London")
    create_account(store, username=REGISTRAR, role="registrar", scope="KE-NCK", password=PASSWORD,
                   display_name="Registrar, Nairobi")
    create_account(store, username=REGISTRAR_RO, role="registrar", scope="RO-CMR", password=PASSWORD)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token:\n" + html[:2000]
    return found.group(1)


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    form = client.get("/sign-in")
    return client.post("/sign-in", data={"csrf": csrf_of(form.text), "username": username, "password": password},
                       follow_redirects=False)
