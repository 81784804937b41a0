"""Single sign-on with an OpenID Connect provider (authorization code flow with PKCE), behind the
same accounts and roles: an administrator binds an account to the provider's subject; signing in
through the provider opens that account and no other.

The ID token is checked as OpenID Connect Core 1.0 section 3.1.3.7 says, step by step:
# (1) split the compact JWS, (2) only an asymmetric algorithm we accept (never "none", never HMAC),
# (3) the key named by kid from the provider's JWKS, (4) the signature, (5) iss is the provider,
# (6) aud holds our client id, (7) not expired, not issued in the future, (8) nonce is the one we sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# RFC 7518: the signature algorithms a provider signs ID tokens with that we verify.
ALGORITHMS = ("RS256", "ES256")
CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_TOKEN_CHARS = 16 * 1024


class IdTokenRejected(Exception):
    """The ID token does not prove who signed in (its detail names the failed step, never the token)."""


@dataclass(frozen=True)
class Pending:
    """What a sign-in through the provider must come back with: kept in the visitor's session."""

    state: str
    nonce: str
    verifier: str  # PKCE code_verifier, RFC 7636

    @classmethod
    def new(cls) -> Pending:
        return cls(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return _b64(hashlib.sha256(self.verifier.encode("ascii")).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise IdTokenRejected("(1) not base64url") from exc


def _json(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_unb64(part))
    except ValueError as exc:
        raise IdTokenRejected("(1) not JSON") from exc
    if not isinstance(value, dict):
        raise IdTokenRejected("(1) not a JSON object")
    return value


def _public_key(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    try:
        if jwk.get("kty") == "RSA":
            return rsa.RSAPublicNumbers(int.from_bytes(_unb64(jwk["e"]), "big"),
                                        int.from_bytes(_unb64(jwk["n"]), "big")).public_key()
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ec.EllipticCurvePublicNumbers(int.from_bytes(_unb64(jwk["x"]), "big"),
                                                 int.from_bytes(_unb64(jwk["y"]), "big"),
                                                 ec.SECP256R1()).public_key()
    except (KeyError, ValueError) as exc:
        raise IdTokenRejected("(3) the provider's key cannot be read") from exc
    raise IdTokenRejected("(3) the provider's key is of a type we do not verify")


def _check_signature(alg: str, key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, signing_input: bytes,
                     signature: bytes) -> None:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(signature) == 64:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature as exc:
        raise IdTokenRejected("(4) the signature does not match the provider's key") from exc
    raise IdTokenRejected("(4) %s does not fit the provider's key" % alg)


def _check_claims(claims: Mapping[str, Any], *, issuer: str, client_id: str, nonce: str, now: dt.datetime) -> None:
    if claims.get("iss") != issuer:
        raise IdTokenRejected("(5) issued by another provider")
    audience = claims.get("aud")
    if not (audience == client_id or (isinstance(audience, list) and client_id in audience)):
        raise IdTokenRejected("(6) issued for another client")
    _check_times(claims, now)
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(claims["nonce"], nonce):
        raise IdTokenRejected("(8) not the nonce of this sign-in")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise IdTokenRejected("(8) no subject")


def _check_times(claims: Mapping[str, Any], now: dt.datetime) -> None:
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or dt.datetime.fromtimestamp(exp, dt.UTC) < now - CLOCK_SKEW:
        raise IdTokenRejected("(7) expired")
    if isinstance(iat, int | float) and dt.datetime.fromtimestamp(iat, dt.UTC) > now + CLOCK_SKEW:
        raise IdTokenRejected("(7) issued in the future")


def verify_id_token(token: str, *, jwks: Mapping[str, Any], issuer: str, client_id: str, nonce: str,
                    now: dt.datetime) -> dict[str, Any]:
    """Return the claims of ``token`` once every step above passed. Raises IdTokenRejected."""
    # (1) split the compact JWS
    parts = token.split(".") if len(token) <= MAX_TOKEN_CHARS else []
    if len(parts) != 3:
        raise IdTokenRejected("(1) not a compact JWS")
    header = _json(parts[0])
    # (2) an algorithm we accept
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise IdTokenRejected("(2) algorithm %r is not accepted" % str(alg)[:20])
    # (3) the provider's key named by kid
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == header.get("kid")]
    if len(keys) != 1:
        raise IdTokenRejected("(3) the provider publishes no key %r" % str(header.get("kid"))[:60])
    # (4) the signature, over exactly the bytes received
    _check_signature(str(alg), _public_key(keys[0]), (parts[0] + "." + parts[1]).encode("ascii"), _unb64(parts[2]))
    # (5)-(8) the claims, parsed only now
    claims = _json(parts[1])
    _check_claims(claims, issuer=issuer, client_id=client_id, nonce=nonce, now=now)
    return claims
