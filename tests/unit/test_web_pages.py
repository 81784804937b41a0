"""What a person sees when her input is wrong, in her language, before any service is called."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.app import HERE, WebDeps
from credverify.web.assembly import create_app
from credverify.web.i18n import CATALOGS, negotiate, translator
from credverify.web.messages_en import MESSAGES as ENGLISH
from tests.web_support import OFFICER, REGISTRAR, add_accounts, csrf_of, sign_in


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    store = SqliteWebStore(tmp_path / "web.db")
    add_accounts(store)
    with TestClient(create_app(WebDeps(store=store, registries={}, issuers={}, secure_cookies=False))) as client:
        yield client
    store.close()


def post_verify(client: TestClient, files: dict[str, tuple[str, bytes, str]] | None = None,
                **fields: str) -> str:
    page = client.get("/verify")
    answer = client.post("/verify", data={"csrf": csrf_of(page.text), **fields}, files=files)
    assert answer.status_code == 400, "bad input got %d" % answer.status_code
    return answer.text


def error_next_to(html: str, field: str) -> str:
    found = re.search(r'<p class="error" id="%s-error">([^<]+)</p>' % field, html)
    assert found, "no error next to the field %s" % field
    return found.group(1)


def test_a_file_that_is_not_a_credential_gets_a_message_next_to_the_field(client: TestClient) -> None:
    sign_in(client, OFFICER)
    html = post_verify(client, files={"credential_file": ("cv.txt", b"Dear Sir or Madam, ...", "text/plain")},
                       family_name="Wanjiru")
    assert "This is not a credential file" in error_next_to(html, "presentation")
    assert 'aria-invalid="true"' in html and 'value="Wanjiru"' in html, "what she typed was lost"
    binary = post_verify(client, files={"credential_file": ("x.sd-jwt", b"\xff\xfe\x00garbage", "text/plain")},
                         family_name="Wanjiru")
    assert "not a credential file" in error_next_to(binary, "credential_file")


def test_nothing_given_and_a_bad_date_are_each_explained(client: TestClient) -> None:
    sign_in(client, OFFICER)
    html = post_verify(client, date_of_birth="1992-02-30")
    assert "Give her credential" in error_next_to(html, "presentation")
    assert "Enter a real date" in error_next_to(html, "date_of_birth")
    assert "Type at least her family name" in error_next_to(html, "family_name")
    assert 'class="error-summary" role="alert"' in html


def test_an_image_without_a_qr_code_is_explained(client: TestClient) -> None:
    sign_in(client, OFFICER)
    blank = io.BytesIO()
    Image.new("L", (64, 64), 255).save(blank, format="PNG")
    for name, data in (("blank.png", blank.getvalue()), ("photo.jpg", b"not an image at all")):
        html = post_verify(client, files={"qr_image": (name, data, "image/png")}, family_name="Wanjiru")
        assert "No QR code could be read" in error_next_to(html, "qr_image")


def test_a_csv_that_is_not_utf8_is_refused_with_what_to_do(client: TestClient) -> None:
    sign_in(client, REGISTRAR)
    page = client.get("/register")
    latin1 = "credential_number,kind\n1,LICENCE,Müller\n".encode("latin-1")
    answer = client.post("/register", data={"csrf": csrf_of(page.text)},
                         files={"register": ("export.csv", latin1, "text/csv")})
    assert answer.status_code == 400
    assert "save it as &#34;CSV UTF-8&#34;" in error_next_to(answer.text, "register")


def test_pages_speak_french_when_asked_and_remember_it(client: TestClient) -> None:
    first = client.get("/sign-in", params={"lang": "fr"})
    assert '<html lang="fr">' in first.text and "Se connecter" in first.text and "Sign in</h1>" not in first.text
    assert '<html lang="fr">' in client.get("/sign-in").text, "the choice of French was not remembered"
    client.cookies.delete("credverify_lang")
    browser = client.get("/sign-in", headers={"accept-language": "de-DE, fr;q=0.8, en;q=0.5"})
    assert "Connexion" in browser.text


def test_every_language_has_every_message() -> None:
    for language, catalog in CATALOGS.items():
        assert set(catalog) == set(ENGLISH), "%s lacks %s" % (language, sorted(set(ENGLISH) - set(catalog)))
        for message_id, text in catalog.items():
            assert re.findall(r"{(\w+)}", text) == re.findall(r"{(\w+)}", ENGLISH[message_id]) or \
                sorted(re.findall(r"{(\w+)}", text)) == sorted(re.findall(r"{(\w+)}", ENGLISH[message_id])), \
                "%s: %s has other placeholders than English" % (language, message_id)


def test_templates_hold_no_text_outside_the_translation_function() -> None:
    """Every word a person reads comes from a catalog: strip tags, expressions and statements, and
    nothing readable may remain."""
    for template in sorted((HERE / "templates").glob("*.html")):
        text = template.read_text()
        text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", text, flags=re.S)
        text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]*>", " ", text, flags=re.S)
        leftovers = [w for w in re.findall(r"[^\W\d_]{2,}", text) if w not in ("credverify",)]
        assert not leftovers, "%s has text outside t(): %s" % (template.name, leftovers[:10])


def test_every_message_id_the_templates_name_exists() -> None:
    for template in (HERE / "templates").glob("*.html"):
        for message_id in re.findall(r"""\bt\(["']([a-z_.]+[a-z_])["']""", template.read_text()):
            assert message_id in ENGLISH, "%s uses %s, in no catalog" % (template.name, message_id)


def test_a_code_newer_than_the_pages_is_shown_as_it_is() -> None:
    t = translator("fr")
    assert t("reason.SOMETHING_NEW", default="SOMETHING_NEW") == "SOMETHING_NEW"
    assert t("reason.VERIFIED", default="VERIFIED").startswith("L'attestation est authentique")
    with pytest.raises(KeyError):
        t("no.such.message")
    assert negotiate(None, "sw-KE, en-GB;q=0.9") == "en" and negotiate("xx", None) == "en"
