"""Our credentials and presentations, verified by a second implementation: the OpenWallet
Foundation's SD-JWT reference library (sd-jwt, over jwcrypto). If our encoding, digests, signature
or sd_hash drifted from RFC 9901, a wallet or verifier built on another library would refuse them."""

from __future__ import annotations

import json

from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from credverify.core import sdjwt
from credverify.core.keys import public_jwk
from tests.factories import KE_KEY
from tests.unit.test_sdjwt import HOLDER, NOW, credential


def issuer_key(issuer: str, header: dict[str, object]) -> JWK:
    assert issuer == "KE-NCK" and header["kid"] == KE_KEY.keyid and header["alg"] == "EdDSA"
    return JWK.from_json(json.dumps(public_jwk(KE_KEY.private_key.public_key())))


def test_reference_library_opens_every_disclosure_of_our_credential() -> None:
    issued = credential(conditions=["no unsupervised night shifts"], status=3, decoys=2)
    claims = SDJWTVerifier(issued.text, issuer_key).get_verified_payload()
    assert claims["family_name"] == "Wanjiru" and claims["given_names"] == "Grace Akinyi"
    assert claims["birth_date"] == "1992-03-14" and claims["practitioner_number"] == "NCK-12345"
    assert claims["country_of_training"] == "KE" and claims["conditions"] == ["no unsupervised night shifts"]
    assert claims["vct"] == "urn:credverify:vct:licence:1" and claims["has_conditions"] is True
    assert "_sd" not in claims


def test_reference_library_sees_only_what_the_holder_disclosed() -> None:
    text = sdjwt.present(credential().text, disclose=["family_name"], now=NOW)
    claims = SDJWTVerifier(text, issuer_key).get_verified_payload()
    assert claims["family_name"] == "Wanjiru"
    assert not {"given_names", "birth_date", "practitioner_number"} & set(claims)
    assert claims == {**{k: v for k, v in claims.items() if k != "family_name"}, "family_name": "Wanjiru"}


def test_reference_library_accepts_our_key_binding_jwt() -> None:
    text = sdjwt.present(credential(holder=True).text, disclose=["birth_date"], now=NOW, holder_key=HOLDER,
                         audience="registry-GB", nonce="n-123")
    verifier = SDJWTVerifier(text, issuer_key)  # the library's own KB check assumes ES256: call it with EdDSA
    verifier._verify_key_binding_jwt("registry-GB", "n-123", sign_alg="EdDSA")
    assert verifier.get_verified_payload()["birth_date"] == "1992-03-14"


def test_digests_written_in_the_test_match_the_hub_digests() -> None:
    """The digest rule from the RFC's text, written here with hashlib, against what the hub will carry."""
    import base64
    import hashlib

    issued = credential()
    ours = sorted(base64.urlsafe_b64encode(hashlib.sha256(d.encode("ascii")).digest()).decode().rstrip("=")
                  for d in issued.text.split("~")[1:-1])
    assert ours == sorted(issued.digests)
