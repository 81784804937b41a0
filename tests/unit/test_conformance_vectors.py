"""The conformance vectors in tests/vectors/ (docs/spec.md, "Conformance vectors").

Each vector is judged from its own fields alone, as another implementation
would: the trust list is built from its ``keys`` and ``issuers``, the record
goes through the registry's ingest (``verify_attestation`` and then the
version rule against ``stored``), and the verdict must equal ``expected``.
The accepted vectors are checked a second time with an independent DSSE
implementation: PAE written here from the DSSE protocol text, libsodium's
Ed25519 (PyNaCl), and the JWK decoded here, so that our envelope code cannot
drift from the standard without a test failing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp

from credverify.core.envelope import Signer, envelope_from_json
from credverify.core.errors import reason_code
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import RootKeys, TrustList, sign_issuer_record, verify_issuer_record
from credverify.registry.ingest import IncomingRecord, judge_records
from credverify.registry.ports import StoredAttestation
from credverify.v1 import common_pb2, trust_pb2

ROOT = Path(__file__).resolve().parents[2]
VECTORS_DIR = ROOT / "tests" / "vectors"
VECTOR_FILES = sorted(VECTORS_DIR.glob("*.json"))
SPEC = ROOT / "docs" / "spec.md"

VECTOR_FIELDS = {"description", "expected", "envelope", "record_key", "appended_at", "stored", "keys", "issuers",
                 "attestation"}
ATTESTATION_TYPE = "application/vnd.credverify.attestation.v1+protobuf"

# The vectors state a trust list that has already passed the root signature check. To feed it to
# the registry it is signed here with a root key of this test's own; it is not part of the vectors.
TEST_ROOT = Signer(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"conformance test root").digest()))
TEST_ROOTS = RootKeys({TEST_ROOT.keyid: TEST_ROOT.private_key.public_key()})


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def ids(paths: Iterable[Path]) -> list[str]:
    return [p.stem for p in paths]


ACCEPTED = [p for p in VECTOR_FILES if load(p)["expected"] == "VERIFIED"]


# --- the context each vector states, built from its own fields --------------------------------


def jwk_raw_key(jwk: dict[str, str]) -> bytes:
    """The 32-byte Ed25519 key of an RFC 8037 JWK: ``x`` is base64url without padding."""
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519", "not an Ed25519 JWK: %r" % jwk
    x = jwk["x"]
    assert "=" not in x and "+" not in x and "/" not in x, "jwk x is not unpadded base64url: %r" % x
    raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    assert len(raw) == 32, "an Ed25519 public key has 32 bytes, found %d" % len(raw)
    return raw


def timestamp(text: str) -> Timestamp:
    """An RFC 3339 UTC time such as 2026-04-14T08:30:00Z."""
    return to_timestamp(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))


def issuer_key(entry: dict[str, Any]) -> trust_pb2.IssuerKey:
    key = trust_pb2.IssuerKey(keyid=entry["keyid"], public_key=jwk_raw_key(entry["jwk"]))
    for name in ("not_before", "not_after", "compromised_at"):
        if entry[name] is not None:
            getattr(key, name).CopyFrom(timestamp(entry[name]))
    return key


def trust_from(vector: dict[str, Any]) -> TrustList:
    """The trust list the vector states: one issuer record per ``issuers`` entry with its ``keys``."""
    trust = TrustList()
    for issuer in vector["issuers"]:
        record = trust_pb2.IssuerRecord(
            issuer_id=issuer["issuer_id"],
            version=1,
            country=issuer["country"],
            display_name=issuer["display_name"],
            credential_kinds=[common_pb2.CredentialKind.Value("CREDENTIAL_KIND_" + k)
                              for k in issuer["credential_kinds"]],
            professions_isco=issuer["professions_isco"],
            keys=[issuer_key(k) for k in vector["keys"] if k["issuer_id"] == issuer["issuer_id"]],
        )
        envelope = sign_issuer_record(record, root=TEST_ROOT).SerializeToString()
        verified = verify_issuer_record(envelope, roots=TEST_ROOTS)
        assert trust.newer(verified)
        trust = trust.applied(verified)
    return trust


def instant(text: str | None) -> dt.datetime | None:
    """An RFC 3339 UTC instant of a vector; None for null."""
    return None if text is None else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def wire_bytes(envelope_json: dict[str, Any]) -> bytes:
    """The protobuf Envelope a Kafka record would carry for this JSON form."""
    return envelope_from_json(envelope_json).SerializeToString()


class HeldAttestation:
    """The read side of a registry's store holding at most one accepted attestation: the vector's
    ``stored``. Judging a batch reads the store and never writes it."""

    def __init__(self, stored: dict[str, Any] | None) -> None:
        self._held = None if stored is None else StoredAttestation(
            stored["credential_id"], int(stored["version"]), wire_bytes(stored["envelope"]))

    def get(self, credential_id: str) -> StoredAttestation | None:
        return self._held if self._held and self._held.credential_id == credential_id else None


def registry_verdict(vector: dict[str, Any]) -> str:
    """What a registry ingesting this record answers: VERIFIED or the rejection's reason code."""
    topics = Topics()
    key = vector["record_key"]
    record = IncomingRecord(topic=topics.attestations, partition=0, offset=0,
                            key=None if key is None else key.encode("utf-8"),
                            value=wire_bytes(vector["envelope"]), appended_at=instant(vector["appended_at"]))
    batch = judge_records([record], topics=topics, trust=trust_from(vector), roots=TEST_ROOTS,
                          store=HeldAttestation(vector["stored"]))  # type: ignore[arg-type]
    if batch.rejections:
        assert len(batch.rejections) == 1 and not batch.attestations
        return reason_code(batch.rejections[0].reason)
    return "VERIFIED"


def test_the_vectors_folder_holds_vectors() -> None:
    assert VECTOR_FILES, "tests/vectors/ holds no vector: run `python scripts/make_vectors.py`"
    assert ACCEPTED and len(ACCEPTED) < len(VECTOR_FILES), "expected both accepted and refused vectors"


@pytest.mark.parametrize("path", VECTOR_FILES, ids=ids(VECTOR_FILES))
def test_registry_gives_each_vector_its_expected_verdict(path: Path) -> None:
    vector = load(path)
    assert set(vector) == VECTOR_FIELDS, "fields differ from docs/spec.md: %s" % sorted(set(vector) ^ VECTOR_FIELDS)
    assert registry_verdict(vector) == vector["expected"], vector["description"]


def test_vectors_cover_every_reason_a_registry_gives_at_ingest() -> None:
    ingest_codes = {"VERIFIED", "MALFORMED", "OVERSIZED", "ISSUER_UNKNOWN", "PAYLOAD_TYPE_UNSUPPORTED",
                    "SIGNATURE_INVALID", "KEY_REVOKED", "KEY_NOT_VALID", "ISSUER_NOT_AUTHORISED",
                    "RECORD_KEY_MISMATCH", "REPLAYED", "ISSUED_AFTER_WITNESSED"}
    assert ingest_codes <= {load(p)["expected"] for p in VECTOR_FILES}


def test_committed_vectors_equal_a_fresh_generation() -> None:
    fresh = _make_vectors().render()
    committed = {p.name: p.read_text(encoding="utf-8") for p in VECTOR_FILES}
    assert set(fresh) == set(committed), "run `python scripts/make_vectors.py`: the set of vectors changed"
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, "run `python scripts/make_vectors.py`: %s differ from a fresh generation" % ", ".join(stale)


def _make_vectors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vectors", ROOT / "scripts" / "make_vectors.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being defined
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# --- an independent DSSE verifier ------------------------------------------------------------------


def dsse_pae(payload_type: str, body: bytes) -> bytes:
    """PAE as secure-systems-lab/dsse protocol.md defines it:
    "DSSEv1" + SP + LEN(type) + SP + type + SP + LEN(body) + SP + body, where LEN is the ASCII
    decimal byte length with no leading zeros and type is UTF8(PAYLOAD_TYPE)."""
    type_bytes = payload_type.encode("utf-8")
    return b" ".join([b"DSSEv1", str(len(type_bytes)).encode("ascii"), type_bytes,
                      str(len(body)).encode("ascii"), body])


@pytest.mark.parametrize("path", VECTOR_FILES, ids=ids(VECTOR_FILES))
def test_every_keyid_is_the_sha256_of_its_jwk_public_key(path: Path) -> None:
    for entry in load(path)["keys"]:
        assert entry["keyid"] == hashlib.sha256(jwk_raw_key(entry["jwk"])).hexdigest()


@pytest.mark.parametrize("path", ACCEPTED, ids=ids(ACCEPTED))
def test_accepted_vector_verifies_with_libsodium_over_pae_from_the_dsse_text(path: Path) -> None:
    vector = load(path)
    envelope = vector["envelope"]
    assert envelope["payloadType"] == ATTESTATION_TYPE
    payload = base64.b64decode(envelope["payload"], validate=True)
    keys = {entry["keyid"]: jwk_raw_key(entry["jwk"]) for entry in vector["keys"]}
    verified_by = []
    for signature in envelope["signatures"]:
        raw = keys.get(signature.get("keyid", ""))
        if raw is None:
            continue
        try:
            nacl.signing.VerifyKey(raw).verify(dsse_pae(envelope["payloadType"], payload),
                                               base64.b64decode(signature["sig"], validate=True))
        except nacl.exceptions.BadSignatureError:
            continue
        verified_by.append(signature["keyid"])
        assert signature["keyid"] == hashlib.sha256(raw).hexdigest()
    assert verified_by, "no signature of %s verifies with libsodium over PAE" % path.name


# Spec 10.3, written from its text: the clock skew it states, and the rule on the hub's append time.
SPEC_CLOCK_SKEW = dt.timedelta(minutes=5)
TIME_RULE_VECTORS = [p for p in VECTOR_FILES
                     if load(p)["expected"] in ("VERIFIED", "KEY_REVOKED", "ISSUED_AFTER_WITNESSED")
                     and load(p)["attestation"] is not None]


def witnessed_time_verdict(vector: dict[str, Any]) -> str:
    """The verdict of spec 10.2-10.3 alone, from the vector's JSON: the signing key is the first listed
    key whose signature verifies with libsodium; issued_at is read from the informative attestation."""
    envelope = vector["envelope"]
    payload = base64.b64decode(envelope["payload"], validate=True)
    keys = {entry["keyid"]: entry for entry in vector["keys"]}
    signer = None
    for signature in envelope["signatures"]:
        entry = keys.get(signature.get("keyid", ""))
        if entry is None:
            continue
        try:
            nacl.signing.VerifyKey(jwk_raw_key(entry["jwk"])).verify(
                dsse_pae(envelope["payloadType"], payload), base64.b64decode(signature["sig"], validate=True))
        except nacl.exceptions.BadSignatureError:
            continue
        signer = entry
        break
    assert signer is not None, "no signature verifies"
    issued_at, appended_at = instant(vector["attestation"]["issued_at"]), instant(vector["appended_at"])
    compromised_at = instant(signer["compromised_at"])
    assert issued_at is not None
    if compromised_at is not None and (issued_at >= compromised_at
                                       or (appended_at is not None and appended_at >= compromised_at)):
        return "KEY_REVOKED"
    if appended_at is not None and issued_at > appended_at + SPEC_CLOCK_SKEW:
        return "ISSUED_AFTER_WITNESSED"
    return "VERIFIED"


@pytest.mark.parametrize("path", TIME_RULE_VECTORS, ids=ids(TIME_RULE_VECTORS))
def test_the_hubs_append_time_gives_each_vector_its_verdict_by_the_spec_text_alone(path: Path) -> None:
    vector = load(path)
    assert witnessed_time_verdict(vector) == vector["expected"], vector["description"]


def test_the_independent_pae_matches_the_dsse_worked_example() -> None:
    assert dsse_pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


# --- the worked examples of docs/spec.md -----------------------------------------------------------

# RFC 8032, section 7.1, TEST 1: a published Ed25519 key pair anyone can check against.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SPEC_EXAMPLE_PAYLOAD = bytes.fromhex("0a0c4b452d4e434b2f3130303031")  # field 1 = "KE-NCK/10001"


def test_spec_worked_examples_match_an_independent_computation() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    signing_key = nacl.signing.SigningKey(RFC8032_SECRET)
    raw = bytes(signing_key.verify_key)
    message = dsse_pae(ATTESTATION_TYPE, SPEC_EXAMPLE_PAYLOAD)
    signature = signing_key.sign(message).signature
    expected_in_spec = [
        raw.hex(),
        hashlib.sha256(raw).hexdigest(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        message.hex(),
        base64.b64encode(signature).decode(),
        base64.b64encode(SPEC_EXAMPLE_PAYLOAD).decode(),
    ]
    missing = [text for text in expected_in_spec if text not in spec.replace("\n", "").replace(" ", "")]
    assert not missing, "docs/spec.md lacks the worked-example values %s" % missing


def test_spec_lists_every_reason_code() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    codes = [reason_code(value) for value in common_pb2.Reason.values() if value != common_pb2.REASON_UNSPECIFIED]
    missing = [code for code in codes if "`%s`" % code not in spec]
    assert not missing, "docs/spec.md does not describe reason code(s) %s" % ", ".join(missing)
