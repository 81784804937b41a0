"""A real Chromium for the journey tests of the pages: Debian's chromium driven by Playwright, each
page checked with axe-core and photographed.

Chromium comes from apt (`apt-get install chromium`; $CREDVERIFY_CHROMIUM names another binary) and
axe-core from npm (`npm ci --prefix tests/e2e/axe`); .ci/run installs both. Without either the tests
fail saying what to install: they never skip. Screenshots and axe's findings go to
test-artifacts/screenshots/ and test-artifacts/axe-results.json ($CREDVERIFY_TEST_ARTIFACTS moves them).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "tests" / "e2e" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(os.environ.get("CREDVERIFY_TEST_ARTIFACTS", ROOT / "test-artifacts"))
SCREENSHOTS = ARTIFACTS / "screenshots"
# axe-core's impact levels; serious and critical ones block people (WCAG A/AA failures of substance).
BLOCKING = ("serious", "critical")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_path() -> str:
    """Return the Chromium binary to drive; fail the test run (never skip) when there is none."""
    wanted = os.environ.get("CREDVERIFY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not wanted or not Path(wanted).exists():
        pytest.fail("no Chromium for the browser tests: apt-get install chromium (or set CREDVERIFY_CHROMIUM)",
                    pytrace=False)
    return wanted


def axe_source() -> str:
    if not AXE.exists():
        pytest.fail("axe-core is missing for the accessibility checks: npm ci --prefix tests/e2e/axe", pytrace=False)
    return AXE.read_text(encoding="utf-8")


# One Playwright and one Chromium per test process, however many modules import the fixture below
# (each import is a fixture of its own to pytest; a second Playwright in one process refuses to start).
_SHARED: dict[str, Any] = {"users": 0}


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    if not _SHARED["users"]:
        executable = chromium_path()
        playwright = sync_playwright().start()
        _SHARED["playwright"] = playwright
        _SHARED["browser"] = playwright.chromium.launch(executable_path=executable, headless=True,
                                                        args=["--no-sandbox", "--disable-dev-shm-usage"])
    _SHARED["users"] += 1
    try:
        yield _SHARED["browser"]
    finally:
        _SHARED["users"] -= 1
        if not _SHARED["users"]:
            _SHARED.pop("browser").close()
            _SHARED.pop("playwright").stop()


class Checker:
    """Photographs pages and checks each with axe-core; keeps every finding for the artefact file."""

    def __init__(self) -> None:
        self.axe = axe_source()
        self.results: dict[str, Any] = {}
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, page: Page, name: str, *, phone: bool = False) -> None:
        """Screenshot ``page`` as ``name``.png (and on a phone's screen when asked), run axe-core on it,
        and fail when it finds a serious or critical violation."""
        page.screenshot(path=str(SCREENSHOTS / ("%s.png" % name)), full_page=True)
        if phone:
            page.set_viewport_size(PHONE)
            page.screenshot(path=str(SCREENSHOTS / ("%s-phone.png" % name)), full_page=True)
            page.set_viewport_size(DESKTOP)
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.axe)
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        self.results[name] = {"url": page.url, "violations": [
            {"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]]} for v in found]}
        blocking = [v for v in self.results[name]["violations"] if v["impact"] in BLOCKING]
        assert not blocking, "%s: axe-core found serious or critical violations: %s" % (
            name, json.dumps(blocking, indent=1))

    def write(self) -> Path:
        path = ARTIFACTS / "axe-results.json"
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing.update(self.results)
        path.write_text(json.dumps(existing, indent=1, sort_keys=True))
        return path
