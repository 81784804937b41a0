"""The holder's credential and the presentation gate: what a destination registry would accept, and
each way a presentation is refused, with the reason a case officer would be shown."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core import sdjwt
from credverify.core.errors import InvalidInput
from credverify.core.sdjwt import PresentationRejected
from credverify.issuer.domain import build_attestation
from tests.factories import KE_KEY, RO_KEY, T0, nurse

HOLDER = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"grace's wallet").digest())
KEYS = {KE_KEY.keyid: KE_KEY.private_key.public_key()}
NOW = T0 + dt.timedelta(days=10)
AGE = dt.timedelta(minutes=5)


def counter_bytes() -> Callable[[int], bytes]:
    counter = itertools.count()
    return lambda n: hashlib.sha256(b"salt %d" % next(counter)).digest()[:n]


def credential(*, holder: bool = False, decoys: int = 0, **overrides: object) -> sdjwt.IssuedCredential:
    att = build_attestation(nurse(**overrides), now=T0)
    return sdjwt.issue_credential(sdjwt.content_of_attestation(att), signer=KE_KEY, now=T0,
                                  random_bytes=counter_bytes(),
                                  holder_key=HOLDER.public_key() if holder else None, decoys=decoys)


def verify(text: str, **kwargs: object) -> sdjwt.VerifiedPresentation:
    options: dict[str, object] = dict(keys_by_kid=KEYS, audience="registry-GB", nonce="n-123", now=NOW,
                                      max_age=AGE)
    options.update(kwargs)
    return sdjwt.verify_presentation(text, **options)  # type: ignore[arg-type]


def refused(text: str, **kwargs: object) -> str:
    with pytest.raises(PresentationRejected) as caught:
        verify(text, **kwargs)
    assert caught.value.reason in sdjwt.REASON_CODES
    return caught.value.reason


def b64json(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def forged(edit: Callable[[dict[str, object]], None], *, disclosures: tuple[str, ...] = (),
           header: dict[str, object] | None = None, key: Ed25519PrivateKey = KE_KEY.private_key) -> str:
    """A credential signed by ``key`` whose payload ``edit`` changed after our issuer made it."""
    issued = credential()
    jwt = issued.text.split("~")[0]
    payload = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    edit(payload)
    head = header or {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": KE_KEY.keyid}
    signing_input = b64json(head) + "." + b64json(payload)
    signature = base64.urlsafe_b64encode(key.sign(signing_input.encode())).decode().rstrip("=")
    return "~".join([signing_input + "." + signature, *disclosures, ""])


# --- issuing ----------------------------------------------------------------------------------------

def test_credential_header_names_our_algorithm_type_and_keyid() -> None:
    header = json.loads(base64.urlsafe_b64decode(credential().text.split(".")[0] + "=="))
    assert header == {"alg": "EdDSA", "typ": "dc+sd-jwt", "kid": KE_KEY.keyid}


def test_credential_carries_no_personal_data_in_clear() -> None:
    jwt = credential(conditions=["no night shifts"], status=3).text.split("~")[0]
    payload_text = base64.urlsafe_b64decode(jwt.split(".")[1] + "==").decode()
    for personal in ("Wanjiru", "Grace", "1992", "NCK-12345", "night"):
        assert personal not in payload_text, "%s readable without a disclosure" % personal
    payload = json.loads(payload_text)
    assert payload["vct"] == "urn:credverify:vct:licence:1" and payload["iss"] == "KE-NCK"
    assert payload["credential_id"] == "KE-NCK/12345" and payload["profession_isco"] == "2221"
    assert payload["has_conditions"] is True and payload["_sd_alg"] == "sha-256"


def test_every_personal_claim_is_disclosable() -> None:
    names = sdjwt.disclosable_names(credential(conditions=["supervised practice"], status=3).text)
    assert set(names) == {"family_name", "given_names", "birth_date", "practitioner_number",
                          "country_of_training", "conditions"}


def test_hub_digests_are_the_credentials_sd_array_decoys_included() -> None:
    issued = credential(decoys=3)
    assert len(issued.digests) == 5 + 3 and list(issued.digests) == sorted(issued.digests)
    assert sdjwt.hub_digests(issued.text) == issued.digests
    assert verify(issued.text, expected_digests=issued.digests).digests == issued.digests


def test_salts_are_128_bits_and_differ_per_claim() -> None:
    text = credential().text
    salts = [sdjwt.decode_disclosure(d)[0] for d in text.split("~")[1:-1]]
    assert len(set(salts)) == len(salts) and all(len(sdjwt.b64url_decode(s, "salt")) == 16 for s in salts)


def test_validity_becomes_nbf_and_exp_through_the_last_day() -> None:
    payload = json.loads(base64.urlsafe_b64decode(credential().text.split(".")[1] + "=="))
    assert payload["nbf"] == int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())
    assert payload["exp"] == int(dt.datetime(2029, 1, 1, tzinfo=dt.UTC).timestamp())


# --- presenting and verifying --------------------------------------------------------------------------

def test_presentation_discloses_only_the_chosen_claims() -> None:
    text = sdjwt.present(credential().text, disclose=["family_name", "given_names"], now=NOW)
    verified = verify(text)
    assert verified.disclosed == {"family_name": "Wanjiru", "given_names": "Grace Akinyi"}
    assert "1992" not in text and verified.claims["credential_id"] == "KE-NCK/12345"
    assert verified.keyid == KE_KEY.keyid and verified.issuer_id == "KE-NCK" and not verified.key_bound


def test_good_standing_check_may_disclose_nothing() -> None:
    assert verify(sdjwt.present(credential().text, disclose=[], now=NOW)).disclosed == {}


def test_present_refuses_a_claim_the_credential_does_not_have() -> None:
    with pytest.raises(InvalidInput, match="no claim email"):
        sdjwt.present(credential().text, disclose=["email"], now=NOW)


def test_key_bound_presentation_verifies() -> None:
    text = sdjwt.present(credential(holder=True).text, disclose=["birth_date"], now=NOW,
                         holder_key=HOLDER, audience="registry-GB", nonce="n-123")
    verified = verify(text)
    assert verified.key_bound and verified.disclosed == {"birth_date": "1992-03-14"}


def test_present_refuses_a_bound_credential_without_its_key() -> None:
    with pytest.raises(InvalidInput, match="holder-key"):
        sdjwt.present(credential(holder=True).text, disclose=[], now=NOW)
    other = Ed25519PrivateKey.from_private_bytes(b"\x01" * 32)
    with pytest.raises(InvalidInput, match="not the key"):
        sdjwt.present(credential(holder=True).text, disclose=[], now=NOW, holder_key=other,
                      audience="a", nonce="n")


# --- each refusal, with its reason ---------------------------------------------------------------------

def bound(audience: str = "registry-GB", nonce: str = "n-123", now: dt.datetime = NOW) -> str:
    return sdjwt.present(credential(holder=True).text, disclose=["family_name"], now=now,
                         holder_key=HOLDER, audience=audience, nonce=nonce)


def test_refuses_a_disclosure_whose_digest_is_not_in_the_credential() -> None:
    foreign = sdjwt.make_disclosure("AAAAAAAAAAAAAAAAAAAAAA", "family_name", "Otieno")
    assert refused(credential().text.rstrip("~").split("~")[0] + "~" + foreign + "~") == sdjwt.DISCLOSURE_UNKNOWN


def test_refuses_a_forged_value_in_a_real_disclosure() -> None:
    parts = credential().text.split("~")
    salt, name, _ = sdjwt.decode_disclosure(parts[1])
    parts[1] = sdjwt.make_disclosure(salt, name, "Otieno")
    assert refused("~".join(parts)) == sdjwt.DISCLOSURE_UNKNOWN


def test_refuses_a_duplicated_disclosure() -> None:
    parts = credential().text.split("~")
    assert refused("~".join([parts[0], parts[1], parts[1], ""])) == sdjwt.DISCLOSURE_DUPLICATE


def test_refuses_a_digest_that_appears_twice() -> None:
    assert refused(forged(lambda p: p.update(_sd=[p["_sd"][0], *p["_sd"]]))) == sdjwt.DIGEST_DUPLICATE  # type: ignore[index]


@pytest.mark.parametrize("name", ["_sd", "..."])
def test_refuses_a_disclosure_for_a_reserved_claim_name(name: str) -> None:
    disclosure = sdjwt.make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", name, ["x"])
    text = forged(lambda p: p.update(_sd=sorted([*p["_sd"], sdjwt.disclosure_digest(disclosure)])),  # type: ignore[misc]
                  disclosures=(disclosure,))
    assert refused(text) == sdjwt.DISCLOSURE_RESERVED_NAME


def test_refuses_a_disclosure_for_a_claim_that_is_in_clear() -> None:
    disclosure = sdjwt.make_disclosure("c2FsdHNhbHRzYWx0c2FsdA", "profession_isco", "2211")
    text = forged(lambda p: p.update(_sd=sorted([*p["_sd"], sdjwt.disclosure_digest(disclosure)])),  # type: ignore[misc]
                  disclosures=(disclosure,))
    assert refused(text) == sdjwt.DISCLOSURE_CLAIM_CLASH


def test_refuses_a_credential_signed_by_a_key_that_is_not_the_issuers() -> None:
    assert refused(forged(lambda p: None, key=RO_KEY.private_key)) == sdjwt.SD_JWT_SIGNATURE_INVALID


def test_refuses_a_credential_whose_kid_the_trust_list_does_not_hold() -> None:
    assert refused(credential().text, keys_by_kid={}) == sdjwt.SD_JWT_SIGNATURE_INVALID


def test_refuses_a_payload_changed_after_signing() -> None:
    jwt, rest = credential().text.split("~", 1)
    head, payload, sig = jwt.split(".")
    changed = json.loads(base64.urlsafe_b64decode(payload + "=="))
    changed["profession_isco"] = "2211"
    assert refused("%s.%s.%s~%s" % (head, b64json(changed), sig, rest)) == sdjwt.SD_JWT_SIGNATURE_INVALID


@pytest.mark.parametrize("alg", ["none", "ES256", "HS256"])
def test_refuses_another_algorithm(alg: str) -> None:
    text = forged(lambda p: None, header={"alg": alg, "typ": "dc+sd-jwt", "kid": KE_KEY.keyid})
    assert refused(text) == sdjwt.SD_JWT_ALG_UNSUPPORTED


def test_refuses_a_credential_for_another_versions_digests() -> None:
    old = credential()
    assert refused(credential().text, expected_digests=old.digests[:-1]) == sdjwt.DIGESTS_NOT_CURRENT


def test_refuses_an_expired_credential() -> None:
    assert refused(credential().text, now=dt.datetime(2029, 1, 1, tzinfo=dt.UTC)) == sdjwt.SD_JWT_EXPIRED


def test_refuses_a_credential_before_it_is_valid() -> None:
    assert refused(credential().text, now=dt.datetime(2019, 1, 1, tzinfo=dt.UTC)) == sdjwt.SD_JWT_NOT_YET_VALID


def test_refuses_a_key_binding_jwt_with_the_wrong_nonce() -> None:
    assert refused(bound(nonce="replayed")) == sdjwt.KEY_BINDING_NONCE


def test_refuses_a_key_binding_jwt_for_another_audience() -> None:
    assert refused(bound(audience="registry-FR")) == sdjwt.KEY_BINDING_AUDIENCE


def test_refuses_a_key_binding_jwt_whose_hash_covers_other_disclosures() -> None:
    full = sdjwt.present(credential(holder=True).text, disclose=["family_name", "birth_date"], now=NOW,
                         holder_key=HOLDER, audience="registry-GB", nonce="n-123")
    parts = full.split("~")
    assert refused("~".join([parts[0], parts[1], parts[-1]])) == sdjwt.KEY_BINDING_HASH


def test_refuses_a_stale_key_binding_jwt() -> None:
    assert refused(bound(now=NOW - dt.timedelta(hours=1))) == sdjwt.KEY_BINDING_TIME


def test_refuses_a_key_binding_jwt_signed_by_another_key() -> None:
    text = bound()
    other = Ed25519PrivateKey.from_private_bytes(b"\x02" * 32)
    head, payload, _ = text.split("~")[-1].split(".")
    sig = base64.urlsafe_b64encode(other.sign((head + "." + payload).encode())).decode().rstrip("=")
    assert refused(text.rsplit("~", 1)[0] + "~" + head + "." + payload + "." + sig) == sdjwt.KEY_BINDING_INVALID


def test_refuses_a_bound_credential_presented_without_key_binding() -> None:
    text = credential(holder=True).text
    assert refused(text) == sdjwt.KEY_BINDING_MISSING


def test_refuses_an_unbound_presentation_when_the_verifier_requires_binding() -> None:
    assert refused(credential().text, require_key_binding=True) == sdjwt.KEY_BINDING_MISSING


def test_refuses_a_key_binding_jwt_on_a_credential_without_cnf() -> None:
    kb = bound().split("~")[-1]
    assert refused(credential().text + kb) == sdjwt.KEY_BINDING_INVALID


@pytest.mark.parametrize("text", [
    "", "~", "abc", "a.b.c~", "eyJ.eyJ.sig~", "a.b~", credential().text.replace("~", "~=~", 1),
    credential().text.replace(".", "+", 1), credential().text + "x.y", "é~",
    credential().text.replace("~", "~~", 1),
])
def test_refuses_text_that_is_not_an_sd_jwt_as_malformed(text: str) -> None:
    assert refused(text) == sdjwt.PRESENTATION_MALFORMED


def test_refuses_too_many_disclosures_as_oversized() -> None:
    parts = credential().text.split("~")
    many = [sdjwt.make_disclosure("s%d" % i, "x%d" % i, 1) for i in range(sdjwt.MAX_DISCLOSURES + 1)]
    assert refused("~".join([parts[0], *many, ""])) == sdjwt.PRESENTATION_OVERSIZED


def test_refuses_an_oversized_presentation_or_disclosure() -> None:
    assert refused("a" * (sdjwt.MAX_PRESENTATION_CHARS + 1)) == sdjwt.PRESENTATION_OVERSIZED
    jwt = credential().text.split("~")[0]
    assert refused(jwt + "~" + "A" * (sdjwt.MAX_DISCLOSURE_CHARS + 4) + "~") == sdjwt.PRESENTATION_OVERSIZED


def test_refuses_non_canonical_base64url() -> None:
    text = credential().text
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # the last character of a 4n+2 or 4n+3 block carries unused bits: take a disclosure that has some
    with_unused_bits = [part for part in text.split("~")[1:-1] if len(part) % 4]
    assert with_unused_bits, "the test credential should have a disclosure whose encoding has unused bits"
    last = with_unused_bits[0]
    tweaked = last[:-1] + alphabet[alphabet.index(last[-1]) ^ 1]  # flip the lowest, unused bit
    assert refused(text.replace(last, tweaked)) == sdjwt.PRESENTATION_MALFORMED


def test_error_details_never_carry_a_disclosed_value() -> None:
    parts = credential().text.split("~")
    with pytest.raises(PresentationRejected) as caught:
        verify("~".join([parts[0], parts[1], parts[1], ""]))
    assert "Wanjiru" not in str(caught.value) and "Grace" not in str(caught.value)


def test_a_remembered_signature_never_outlives_the_trust_in_its_key_nor_covers_other_bytes() -> None:
    text = sdjwt.present(credential().text, disclose=["family_name"], now=NOW)
    assert verify(text).disclosed == {"family_name": "Wanjiru"}
    assert verify(text).disclosed == {"family_name": "Wanjiru"}, "the second time, from memory"
    with pytest.raises(sdjwt.PresentationUntrusted) as untrusted:
        verify(text, keys_by_kid={})
    assert untrusted.value.reason == sdjwt.SD_JWT_SIGNATURE_INVALID
    jwt, rest = text.split("~", 1)
    header, payload, signature = jwt.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(sdjwt.PresentationUntrusted) as forged:
        verify(".".join([header, payload, flipped]) + "~" + rest)
    assert forged.value.reason == sdjwt.SD_JWT_SIGNATURE_INVALID
