"""The ID token of a sign-in through the organisation's provider: each step of OpenID Connect Core
3.1.3.7 refuses what it must, with keys made here."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from credverify.web.oidc import IdTokenRejected, Pending, verify_id_token

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
ISSUER = "https://login.nmc.example/realm"
CLIENT = "credverify-web"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def number(value: int, size: int | None = None) -> str:
    return b64(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


JWKS = {"keys": [
    {"kty": "RSA", "kid": "rsa-1", "n": number(RSA_KEY.public_key().public_numbers().n),
     "e": number(RSA_KEY.public_key().public_numbers().e)},
    {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": number(EC_KEY.public_key().public_numbers().x, 32),
     "y": number(EC_KEY.public_key().public_numbers().y, 32)},
]}


def token(*, alg: str = "RS256", kid: str = "rsa-1", **overrides: Any) -> str:
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "ama.mensah", "nonce": "the nonce",
              "iat": int(NOW.timestamp()), "exp": int((NOW + dt.timedelta(minutes=5)).timestamp())}
    claims.update(overrides)
    signing_input = "%s.%s" % (b64(json.dumps({"alg": alg, "kid": kid}).encode()), b64(json.dumps(claims).encode()))
    if alg == "ES256":
        r, s = decode_dss_signature(EC_KEY.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        signature = RSA_KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


def check(text: str, nonce: str = "the nonce") -> dict[str, Any]:
    return verify_id_token(text, jwks=JWKS, issuer=ISSUER, client_id=CLIENT, nonce=nonce, now=NOW)


def test_a_token_signed_by_the_provider_for_us_is_accepted() -> None:
    assert check(token())["sub"] == "ama.mensah"
    assert check(token(alg="ES256", kid="ec-1", aud=["other", CLIENT]))["sub"] == "ama.mensah"


@pytest.mark.parametrize(("made", "step"), [
    (lambda: token(iss="https://evil.example"), "(5)"),
    (lambda: token(aud="another-client"), "(6)"),
    (lambda: token(exp=int((NOW - dt.timedelta(minutes=10)).timestamp())), "(7)"),
    (lambda: token(iat=int((NOW + dt.timedelta(hours=1)).timestamp())), "(7)"),
    (lambda: token(nonce="a nonce of another sign-in"), "(8)"),
    (lambda: token(sub=""), "(8)"),
    (lambda: token(kid="unknown"), "(3)"),
    (lambda: token(alg="ES256", kid="rsa-1"), "(4)"),
    (lambda: token().rsplit(".", 1)[0] + "." + b64(b"\0" * 256), "(4)"),
    (lambda: token()[:-8] + "AAAAAAAA", "(4)"),
    (lambda: "%s.%s." % (b64(b'{"alg":"none"}'), b64(b'{"sub":"x"}')), "(2)"),
    (lambda: "%s.%s.x" % (b64(b'{"alg":"HS256","kid":"rsa-1"}'), b64(b'{"sub":"x"}')), "(2)"),
    (lambda: "not a token", "(1)"),
    (lambda: "a.b.c", "(1)"),
])
def test_each_step_refuses_what_it_must(made: Any, step: str) -> None:
    with pytest.raises(IdTokenRejected) as refused:
        check(made())
    assert str(refused.value).startswith(step), refused.value


def test_a_tampered_claim_breaks_the_signature() -> None:
    header, payload, signature = token().split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "the registrar"
    with pytest.raises(IdTokenRejected, match=r"^\(4\)"):
        check("%s.%s.%s" % (header, b64(json.dumps(forged).encode()), signature))


def test_each_sign_in_gets_its_own_secrets_and_an_s256_challenge() -> None:
    first, second = Pending.new(), Pending.new()
    assert len({first.state, second.state, first.nonce, second.nonce}) == 4
    assert first.challenge != first.verifier and len(first.challenge) == 43
