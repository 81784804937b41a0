"""The browser tests fail, never skip, when Chromium or axe-core is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import browser


def test_no_chromium_fails_the_run_saying_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDVERIFY_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(pytest.fail.Exception, match="apt-get install chromium"):
        browser.chromium_path()


def test_no_axe_core_fails_the_run_saying_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "AXE", tmp_path / "axe.min.js")
    with pytest.raises(pytest.fail.Exception, match="npm ci --prefix tests/e2e/axe"):
        browser.axe_source()
