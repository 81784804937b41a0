"""The journeys of the people at the desks, in a real Chromium, against a real registry and issuer
service on a real broker: a case officer verifies applicants and records a registration; a registrar
checks and publishes a register export and suspends a nurse. Every page is checked with axe-core and
photographed (test-artifacts/screenshots/)."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from credverify.core.qr import qr_png as credential_qr_png
from credverify.core.sdjwt import holder_claims
from credverify.web.adapters.qr_image import text_of_qr
from tests.e2e.browser import DESKTOP, ROOT, Checker
from tests.e2e.web_stack import NURSE, SUSPENDED_NURSE, WATCHED_NURSE, WebStack, web_stack
from tests.topic_reader import read_all
from tests.web_support import OFFICER, PASSWORD, REGISTRAR, csrf_of
from tests.web_support import sign_in as sign_in_over_http

pytestmark = pytest.mark.kafka

# The README's example export, and one row whose date of birth no calendar has.
BAD_ROW = "20099,LICENCE,NCK-20099,Kamau,Jane,1992-02-30,KE,2221,ACTIVE,2024-01-01,,,,,,\n"


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebStack]:
    yield from web_stack(kafka_bootstrap, tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="module")
def checker() -> Iterator[Checker]:
    checker = Checker()
    yield checker
    checker.write()


@pytest.fixture
def context(chromium: Browser, stack: WebStack) -> Iterator[BrowserContext]:
    # bypass_csp: axe-core is injected as a script the pages' Content-Security-Policy would refuse.
    context = chromium.new_context(base_url=stack.web.url, viewport=DESKTOP, accept_downloads=True,
                                   bypass_csp=True, locale="en-GB")
    yield context
    context.close()


def sign_in(page: Page, username: str) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_case_officer_verifies_an_applicant_and_records_her_registration(
        context: BrowserContext, stack: WebStack, checker: Checker, tmp_path: Path) -> None:
    page = context.new_page()
    page.goto("/")
    checker.check(page, "sign-in", phone=True)
    sign_in(page, OFFICER)
    expect(page.get_by_role("heading", name="Verify an applicant's credential")).to_be_visible()
    checker.check(page, "verify", phone=True)

    credential_file = tmp_path / "wanjiru.sd-jwt"
    credential_file.write_text(stack.presentation())
    page.get_by_label("Or upload the credential file").set_input_files(credential_file)
    page.get_by_label("Family name").fill("WANJIRU")
    page.get_by_label("Given names").fill("grace  akinyi")
    page.get_by_label("Date of birth").fill("1992-03-14")
    page.get_by_role("button", name="Verify").click()

    verdict = page.get_by_role("status")
    expect(verdict).to_contain_text("Verified")
    expect(verdict).to_contain_text("The credential is genuine, current, and the details agree.")
    expect(page.get_by_role("row", name=re.compile("Family name"))).to_contain_text("Wanjiru")
    expect(page.get_by_role("row", name=re.compile("Family name"))).to_contain_text("Same")
    expect(page.get_by_text("Yes: the issuer is on the federation's trust list")).to_be_visible()
    checker.check(page, "verdict-verified", phone=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the evidence").click()
    evidence = json.loads(Path(download.value.path()).read_text())
    assert evidence["credential_id"] == NURSE and evidence["verified"] and evidence["checked_by"] == OFFICER
    assert evidence["registry_answer"]["evidence"]["signatures"], "the signed envelope is missing from the evidence"
    assert evidence["presentation"] == credential_file.read_text()

    page.get_by_role("button", name="Record the registration").click()
    expect(page.get_by_role("status")).to_contain_text("The registration of %s is recorded" % NURSE)
    checker.check(page, "registered")

    page.get_by_role("link", name="Audit log").click()
    rows = page.get_by_role("row", name=NURSE)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Registration recorded.")
    expect(rows.last).to_contain_text("Family name")
    checker.check(page, "audit")
    with page.expect_download() as exported:
        page.get_by_role("link", name="Export as CSV").click()
    entries = list(csv.DictReader(io.StringIO(Path(exported.value.path()).read_text())))
    assert [(e["case_officer"], e["action"], e["credential_id"]) for e in entries[:2]] == [
        (OFFICER, "register", NURSE), (OFFICER, "verify", NURSE)]
    assert "family_name" in entries[1]["disclosed_claims"] and "Wanjiru" not in json.dumps(entries), \
        "the audit log holds a disclosed value, not only the claim's name"

    page.goto("/register")
    expect(page.get_by_role("alert")).to_contain_text("Your account cannot use this page")


def qr_png(text: str, path: Path) -> Path:
    """The QR code of ``text`` as a council's bulk issue draws it for the practitioner."""
    png = credential_qr_png(text)
    assert png is not None, "the presentation is too long for a QR code"
    path.write_bytes(png)
    return path


def test_a_typo_and_a_suspension_are_explained_in_plain_words(
        context: BrowserContext, stack: WebStack, checker: Checker, tmp_path: Path) -> None:
    page = context.new_page()
    sign_in(page, OFFICER)
    page.get_by_label("Paste the credential text").fill(stack.presentation())
    page.get_by_label("Family name").fill("Wanjiku")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("status")).to_contain_text("Not verified")
    expect(page.get_by_role("status")).to_contain_text("The details you typed differ from the ones she disclosed.")
    expect(page.get_by_role("row", name=re.compile("Family name"))).to_contain_text("Different")
    expect(page.get_by_role("button", name="Record the registration")).to_have_count(0)
    checker.check(page, "verdict-mismatch")

    page.get_by_role("link", name="Verify another credential").click()
    page.get_by_label("Or upload a photo or scan of its QR code").set_input_files(
        qr_png(stack.presentation(stack.suspended_credential), tmp_path / "qr.png"))
    page.get_by_label("Family name").fill("Wanjiru")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Verification of %s" % SUSPENDED_NURSE)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The practitioner is suspended by her council.")
    checker.check(page, "verdict-suspended")
    page.get_by_role("button", name="Follow this credential").click()
    expect(page.get_by_role("row", name=SUSPENDED_NURSE).locator('[data-field="status"]')).to_have_text(
        "suspended", timeout=15_000)
    page.goto("/audit?credential_id=%s" % SUSPENDED_NURSE)
    expect(page.get_by_role("row", name=SUSPENDED_NURSE)).to_contain_text(
        "The practitioner is suspended by her council.")

    page.goto("/verify")
    page.get_by_label("Or upload the credential file").set_input_files(
        files=[{"name": "cv.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 a CV, not a credential"}])
    page.get_by_label("Family name").fill("Wanjiru")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#presentation-error")).to_contain_text("This is not a credential file")
    checker.check(page, "verify-error")


def test_a_suspension_reaches_the_watch_list_while_the_page_is_open(
        context: BrowserContext, stack: WebStack, checker: Checker) -> None:
    page = context.new_page()
    sign_in(page, OFFICER)
    page.get_by_role("link", name="Watch list").click()
    expect(page.get_by_role("heading", name="Watch list")).to_be_visible()
    page.get_by_label("Credential number").fill("not a number")
    page.get_by_role("button", name="Follow", exact=True).click()
    expect(page.locator("#credential_id-error")).to_contain_text("Type a credential number such as KE-NCK/12345.")
    page.get_by_label("Credential number").fill(WATCHED_NURSE)
    page.get_by_role("button", name="Follow", exact=True).click()
    status = page.get_by_role("row", name=WATCHED_NURSE).locator('[data-field="status"]')
    expect(status).to_have_text("active", timeout=15_000)
    checker.check(page, "watch")

    page.evaluate("window.stillTheSamePage = true")
    stack.suspend_watched_nurse()
    expect(status).to_have_text("suspended", timeout=15_000)
    expect(page.get_by_role("row", name=WATCHED_NURSE)).to_contain_text("The practitioner is suspended by her council.")
    assert page.evaluate("window.stillTheSamePage === true"), "the page was reloaded, not updated live"
    checker.check(page, "watch-suspended")


def test_keyboard_alone_reaches_every_field_of_the_verify_page(context: BrowserContext, stack: WebStack) -> None:
    page = context.new_page()
    sign_in(page, OFFICER)
    expect(page.get_by_role("heading", name="Verify an applicant's credential")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the main content")).to_be_focused()
    page.keyboard.press("Enter")
    reached = []
    for _ in range(30):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
    for wanted in ("presentation", "credential_file", "qr_image", "family_name", "given_names", "date_of_birth"):
        assert wanted in reached, "Tab never reaches %s (reached %s)" % (wanted, reached)


def test_a_registrar_checks_a_register_publishes_it_once_and_suspends_a_nurse(
        context: BrowserContext, stack: WebStack, checker: Checker, tmp_path: Path) -> None:
    page = context.new_page()
    sign_in(page, REGISTRAR)
    expect(page.get_by_role("heading", name="Publish a register export")).to_be_visible()
    checker.check(page, "register-upload", phone=True)
    export = tmp_path / "export.csv"
    export.write_text((ROOT / "examples" / "register-export.csv").read_text() + BAD_ROW)
    page.get_by_label("Register export (CSV)").set_input_files(export)
    page.get_by_role("button", name="Check the file").click()

    expect(page.get_by_text("export.csv: ready to publish: 6; with problems: 1.")).to_be_visible()
    problem = page.get_by_role("row", name=re.compile("^8 "))
    expect(problem).to_contain_text("date_of_birth")
    expect(problem).not_to_contain_text("Kamau")
    checker.check(page, "register-report", phone=True)

    publish = page.get_by_role("button", name="Publish 6 credentials")
    csrf = page.locator("input[name=csrf]").first.get_attribute("value")
    action = page.locator("form[data-once]").get_attribute("action")
    publish.dblclick()
    again = page.request.post(str(action), form={"csrf": str(csrf)})  # a second tab, or a click the script missed
    assert again.ok, "a second publication request was not answered with the batch's page"
    expect(page.get_by_role("heading", name="Results")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("row", name=re.compile("published"))).to_have_count(6)
    checker.check(page, "register-published")

    sent = Counter(key.decode() for key, _ in read_all(stack.bootstrap, stack.issuer_topics.submissions("KE-NCK")))
    assert sent == {"KE-NCK/%d" % n: 1 for n in range(20001, 20007)}, "published twice or not at all: %s" % sent

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Download the 6 credential files")).click()
    with zipfile.ZipFile(download.value.path()) as archive:
        assert sorted(n for n in archive.namelist() if n.endswith(".sd-jwt")) == [
            "KE-NCK-%d.sd-jwt" % n for n in range(20001, 20007)]
        wanjiru = archive.read("KE-NCK-20001.sd-jwt").decode()
        qr = archive.read("KE-NCK-20001.qr.png")
    assert holder_claims(wanjiru)["family_name"] == "Wanjiru", "the file is not the practitioner's credential"
    assert text_of_qr(qr) == wanjiru.strip(), "her QR code does not hold her credential"

    page.get_by_role("link", name="Look up a credential").click()
    page.get_by_label("Credential number").fill("KE-NCK/20001")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#current-status")).to_have_text("active")
    checker.check(page, "credential")
    with page.expect_download() as one:
        page.get_by_role("link", name="Download her credential file").click()
    again = holder_claims(Path(one.value.path()).read_text().strip())  # signed again, at the time of the export
    assert (again["credential_id"], again["family_name"]) == ("KE-NCK/20001", "Wanjiru")
    page.get_by_label("Change", exact=True).select_option("suspend")
    page.get_by_label("Reason").select_option("INTERIM_ORDER")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("KE-NCK/20001 (now: active): Suspend.")
    checker.check(page, "change-confirm")
    page.get_by_role("button", name="Confirm and publish").click()
    expect(page.get_by_role("status")).to_contain_text("KE-NCK/20001 is now suspended")
    checker.check(page, "change-done")

    page.get_by_role("link", name="Keys").click()
    expect(page.get_by_role("cell", name="signs new credentials")).to_be_visible()
    checker.check(page, "keys")

    page.goto("/credentials?credential_id=RO-CMR/10003")
    expect(page.get_by_role("alert")).to_contain_text("This credential belongs to another council.")


def test_the_pages_in_french(context: BrowserContext, stack: WebStack, checker: Checker) -> None:
    page = context.new_page()
    page.goto("/sign-in?lang=fr")
    page.get_by_label("Identifiant").fill(OFFICER)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Vérifier l'attestation d'un candidat")).to_be_visible()
    page.get_by_label("Collez le texte de l'attestation").fill(stack.presentation())
    page.get_by_label("Nom de famille").fill("Wanjiru")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.get_by_role("status")).to_contain_text("L'attestation est authentique")
    checker.check(page, "verdict-verified-fr")


def test_operators_see_health_and_metrics(stack: WebStack) -> None:
    with httpx.Client(base_url=stack.web.url) as client:
        health = client.get("/health")
        assert health.status_code == 200 and health.json() == {
            "status": "SERVING", "parts": {"store": True, "registry:GB": True, "issuer:KE-NCK": True}}
        sign_in_over_http(client, OFFICER)
        page = client.get("/verify")
        client.post("/verify", data={"csrf": csrf_of(page.text), "presentation": stack.presentation(),
                                     "family_name": "Otieno"})
        metrics = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(client.get("/metrics").text) for s in family.samples}
    assert metrics[("credverify_web_verifications_total", (("verified", "false"),))] >= 1
    assert metrics[("credverify_web_requests_total", (("route", "/verify"), ("status", "200")))] >= 1
