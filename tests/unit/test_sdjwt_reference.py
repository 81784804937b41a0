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


def test_reference_library_opens_the_credential_a_council_hands_out_after_a_new_condition() -> None:
    """As `credverify issuer` issues and re-exports it: sealed, padded with decoys, re-sealed for a condition."""
    import datetime as dt

    from credverify.core.topics import Topics
    from credverify.issuer import handlers
    from credverify.issuer.domain import ChangeStatus
    from credverify.v1 import attestation_pb2, envelope_pb2
    from tests.factories import T0, nurse
    from tests.fakes import FakePublisher, InMemoryIssuedLedger

    ledger, publisher = InMemoryIssuedLedger(), FakePublisher()
    handlers.issue([nurse()], signer=KE_KEY, publisher=publisher, topics=Topics(), ledger=ledger, now=T0)
    [changed] = handlers.change_statuses([ChangeStatus("KE-NCK/12345", "add-condition", "CONDITIONS_IMPOSED",
                                                       "no unsupervised night shifts")],
                                         signer=KE_KEY, publisher=publisher, topics=Topics(), ledger=ledger,
                                         now=T0 + dt.timedelta(days=1))
    issued = handlers.credential("KE-NCK/12345", ledger=ledger, signer=KE_KEY, now=T0 + dt.timedelta(days=2))
    claims = SDJWTVerifier(issued.text, issuer_key).get_verified_payload()
    assert claims["conditions"] == ["no unsupervised night shifts"] and claims["family_name"] == "Wanjiru"
    hub = attestation_pb2.AttestationV2.FromString(envelope_pb2.Envelope.FromString(changed.envelope_bytes).payload)
    assert tuple(hub.subject_digests) == sdjwt.hub_digests(issued.text) and len(hub.subject_digests) == 10
