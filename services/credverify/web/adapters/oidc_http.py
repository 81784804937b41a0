"""The pages' client of an OpenID Connect provider: discovery, the token endpoint and its keys, over
HTTPS (plain HTTP only to a provider on this machine)."""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from credverify.web.oidc import IdTokenRejected, Pending, verify_id_token

TIMEOUT_S = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered something that is not OpenID Connect."""


class OidcClient:
    def __init__(self, issuer: str, client_id: str, client_secret: str) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._config: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _get_json(self, url: str, data: bytes | None = None) -> dict[str, Any]:
        request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310 - http(s) checked
                body = answer.read(MAX_RESPONSE_BYTES)
        except (urllib.error.URLError, OSError) as exc:
            raise ProviderUnavailable("%s: %s" % (urllib.parse.urlsplit(url).path, exc)) from exc
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise ProviderUnavailable("%s: not JSON" % urllib.parse.urlsplit(url).path) from exc
        if not isinstance(value, dict):
            raise ProviderUnavailable("%s: not a JSON object" % urllib.parse.urlsplit(url).path)
        return value

    def config(self) -> dict[str, Any]:
        """The provider's metadata (OpenID Connect Discovery 1.0), fetched once."""
        with self._lock:
            if self._config is None:
                config = self._get_json(self.issuer + "/.well-known/openid-configuration")
                if config.get("issuer") != self.issuer:
                    raise ProviderUnavailable("discovery names issuer %r, not %r" % (config.get("issuer"), self.issuer))
                self._config = config
            return self._config

    def authorization_url(self, pending: Pending, redirect_uri: str) -> str:
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
            "scope": "openid", "state": pending.state, "nonce": pending.nonce,
            "code_challenge": pending.challenge, "code_challenge_method": "S256"})
        return "%s?%s" % (self.config()["authorization_endpoint"], query)

    def _keys(self, refresh: bool) -> dict[str, Any]:
        if self._jwks is None or refresh:
            self._jwks = self._get_json(self.config()["jwks_uri"])
        return self._jwks

    def sign_in(self, code: str, pending: Pending, redirect_uri: str, now: dt.datetime) -> dict[str, Any]:
        """Exchange ``code`` for an ID token and return its verified claims.
        Raises ProviderUnavailable or IdTokenRejected."""
        tokens = self._get_json(self.config()["token_endpoint"], urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": self.client_id, "client_secret": self._secret,
            "code_verifier": pending.verifier}).encode())
        token = tokens.get("id_token")
        if not isinstance(token, str):
            raise IdTokenRejected("(1) the token endpoint returned no ID token")
        try:
            return verify_id_token(token, jwks=self._keys(refresh=False), issuer=self.issuer,
                                   client_id=self.client_id, nonce=pending.nonce, now=now)
        except IdTokenRejected as exc:
            if not str(exc).startswith("(3)"):
                raise
        # A key the provider rotated in since we last looked: fetch its keys once more.
        return verify_id_token(token, jwks=self._keys(refresh=True), issuer=self.issuer, client_id=self.client_id,
                               nonce=pending.nonce, now=now)
