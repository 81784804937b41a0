"""A real OpenID Connect provider for the single sign-on tests: NAV's mock-oauth2-server, resolved
from Maven Central by tests/e2e/oidc/pom.xml into the cache deploy/kafka uses and run with `java -cp`.
Without Java or Maven the tests fail saying what to install; they never skip."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from credverify.localrun import free_port

POM = Path(__file__).resolve().parent / "oidc" / "pom.xml"
CACHE_ROOT = Path(os.environ.get("CREDVERIFY_CACHE", Path.home() / ".cache" / "credverify"))
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"
ISSUER_NAME = "nmc"  # the provider serves one issuer per first path segment


def jar_dir() -> Path:
    target = CACHE_ROOT / ("oidc-provider-jars-%s" % hashlib.sha256(POM.read_bytes()).hexdigest()[:12])
    if (target / ".complete").exists():
        return target
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            pytest.fail("%s not found: the single sign-on tests run an OpenID Connect provider from Maven "
                        "Central (apt-get install openjdk-17-jre-headless maven)" % tool, pytrace=False)
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / ".oidc-provider-jars.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        staging = Path(tempfile.mkdtemp(prefix="oidc-provider-jars-", dir=CACHE_ROOT))
        result = subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
                                 "-DincludeScope=runtime", "-DoutputDirectory=%s" % staging],
                                capture_output=True, text=True)
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            pytest.fail("maven could not resolve the OpenID Connect provider (is Maven Central reachable?):\n%s"
                        % (result.stdout + result.stderr)[-3000:], pytrace=False)
        (staging / ".complete").write_text("ok")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def _discovery(issuer: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(issuer + "/.well-known/openid-configuration", timeout=2) as answer:
            return dict(json.loads(answer.read()))
    except OSError:
        return None


@contextmanager
def oidc_provider(work: Path) -> Iterator[str]:
    """Run the provider; yield its issuer URL."""
    port = free_port()
    log = open(work / "oidc-provider.log", "wb")
    process = subprocess.Popen(["java", "-Xmx256m", "-cp", "%s/*" % jar_dir(), MAIN_CLASS], stdout=log,
                               stderr=subprocess.STDOUT, env={**os.environ, "SERVER_PORT": str(port),
                                                               "SERVER_HOSTNAME": "127.0.0.1"})
    # "localhost", while the pages are on 127.0.0.1: another site to the browser, as a real provider is, so
    # the return from the provider is a cross-site navigation (SameSite=Strict cookies stay behind).
    issuer = "http://localhost:%d/%s" % (port, ISSUER_NAME)
    try:
        deadline = time.monotonic() + 60
        while _discovery(issuer) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("the OpenID Connect provider did not start:\n%s" % (
                    (work / "oidc-provider.log").read_text(errors="replace")[-3000:]), pytrace=False)
            time.sleep(0.3)
        yield issuer
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
