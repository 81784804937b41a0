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

from credverify.core.codes import ISO3166_ALPHA2
from credverify.core.envelope import Signer, envelope_from_json
from credverify.core.errors import Malformed, reason_code
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

VECTOR_FIELDS = {"description", "expected", "envelope", "envelope_wire", "record_key", "appended_at", "stored",
                 "keys", "issuers", "attestation", "disclosures"}
ATTESTATION_TYPE = "application/vnd.credverify.attestation.v1+protobuf"
ATTESTATION_V2_TYPE = "application/vnd.credverify.attestation.v2+protobuf"

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
    if vector["envelope_wire"] is not None:
        value = base64.b64decode(vector["envelope_wire"], validate=True)
    else:
        try:
            value = wire_bytes(vector["envelope"])
        except Malformed:  # spec 13.3 step 2: a JSON form that does not decode is MALFORMED
            return "MALFORMED"
    record = IncomingRecord(topic=topics.attestations, partition=0, offset=0,
                            key=None if key is None else key.encode("utf-8"),
                            value=value, appended_at=instant(vector["appended_at"]))
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
    assert envelope["payloadType"] in (ATTESTATION_TYPE, ATTESTATION_V2_TYPE)
    payload = spec_base64(envelope["payload"])
    keys = {entry["keyid"]: jwk_raw_key(entry["jwk"]) for entry in vector["keys"]}
    verified_by = []
    for signature in envelope["signatures"]:
        raw = keys.get(signature.get("keyid", ""))
        if raw is None:
            continue
        try:
            nacl.signing.VerifyKey(raw).verify(dsse_pae(envelope["payloadType"], payload),
                                               spec_base64(signature["sig"]))
        except nacl.exceptions.BadSignatureError:
            continue
        verified_by.append(signature["keyid"])
        assert signature["keyid"] == hashlib.sha256(raw).hexdigest()
    assert verified_by, "no signature of %s verifies with libsodium over PAE" % path.name


# Spec 10.3, written from its text: the clock skew it states, and the rule on the hub's append time.
SPEC_CLOCK_SKEW = dt.timedelta(minutes=5)
TIME_RULE_VECTORS = [p for p in VECTOR_FILES
                     if load(p)["expected"] in ("VERIFIED", "KEY_REVOKED", "ISSUED_AFTER_WITNESSED")
                     and load(p)["attestation"] is not None
                     and (load(p)["stored"] or {}).get("envelope") != load(p)["envelope"]]  # duplicates: 11.2


def witnessed_time_verdict(vector: dict[str, Any]) -> str:
    """The verdict of spec 10.2-10.3 alone, from the vector's JSON: the signing key is the first listed
    key whose signature verifies with libsodium; issued_at is read from the informative attestation."""
    envelope = vector["envelope"]
    payload = spec_base64(envelope["payload"])
    keys = {entry["keyid"]: entry for entry in vector["keys"]}
    signer = None
    for signature in envelope["signatures"]:
        entry = keys.get(signature.get("keyid", ""))
        if entry is None:
            continue
        try:
            nacl.signing.VerifyKey(jwk_raw_key(entry["jwk"])).verify(
                dsse_pae(envelope["payloadType"], payload), spec_base64(signature["sig"]))
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


# --- the wire and the JSON form, written from the spec text (sections 2, 4.1, 4.3, 7) ----------

SPEC_BASE64_ALPHABETS = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def spec_base64(text: str) -> bytes:
    """Base64 as spec 2 states it: one alphabet per value, '=' padding to a multiple of 4 or none,
    the unused bits of the last character zero. Decoded bit by bit, without the base64 module."""
    digits = text.rstrip("=")
    if len(text) != len(digits) and (len(text) % 4 or len(text) - len(digits) > 2):
        raise ValueError("wrong padding")
    alphabet = next((a for a in SPEC_BASE64_ALPHABETS if all(c in a for c in digits)), None)
    if alphabet is None or len(digits) % 4 == 1:
        raise ValueError("not base64")
    bits = "".join(format(alphabet.index(c), "06b") for c in digits)
    whole, rest = divmod(len(bits), 8)
    if "1" in bits[whole * 8:]:
        raise ValueError("unused bits set")
    return bytes(int(bits[i * 8:i * 8 + 8], 2) for i in range(whole))


# Spec 4 and 7: field number -> (wire type, repeated, sub-message or "string" or None).
SPEC_MESSAGES: dict[str, dict[int, tuple[int, bool, str | None]]] = {
    "Envelope": {1: (2, False, None), 2: (2, False, "string"), 3: (2, True, "Signature")},
    "Signature": {1: (2, False, None), 2: (2, False, "string")},
    "Attestation": {1: (2, False, "string"), 2: (2, False, "string"), 3: (0, False, None),
                    4: (2, False, "Timestamp"), 5: (0, False, None), 6: (2, False, "Subject"),
                    7: (2, False, "string"), 8: (0, False, None), 9: (2, False, "Date"), 10: (2, False, "Date"),
                    11: (2, False, "string"), 12: (2, True, "string"), 13: (2, False, "string"),
                    14: (2, False, "Diploma")},
    "Subject": {1: (2, False, "string"), 2: (2, False, "string"), 3: (2, False, "string"), 4: (2, False, "Date"),
                5: (2, False, "string")},
    "Diploma": {1: (2, False, "string"), 2: (2, False, "string"), 3: (2, False, "Date")},
    "Date": {1: (0, False, None), 2: (0, False, None), 3: (0, False, None)},
    "Timestamp": {1: (0, False, None), 2: (0, False, None)},
}


def spec_varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        value |= (data[pos] & 0x7F) << shift
        shift += 7
        pos += 1
        if not data[pos - 1] & 0x80:
            return value, pos


def spec_wire_problem(data: bytes, message: str) -> str | None:
    """What breaks spec 4.3's parsing rules in ``data`` read as ``message``, or None. Unknown fields of
    wire types 0, 1, 2 and 5 are skipped (the vectors use no groups)."""
    fields, seen, pos = SPEC_MESSAGES[message], set(), 0
    try:
        while pos < len(data):
            tag, pos = spec_varint(data, pos)
            number, wire_type = tag >> 3, tag & 7
            start = pos
            if wire_type == 0:
                pos = spec_varint(data, pos)[1]
            elif wire_type in (1, 5):
                pos += 8 if wire_type == 1 else 4
            elif wire_type == 2:
                length, start = spec_varint(data, pos)
                pos = start + length
            else:
                return "wire type %d" % wire_type
            if pos > len(data):
                return "truncated"
            if number not in fields:
                continue
            expected, repeated, kind = fields[number]
            if wire_type != expected:
                return "%s field %d: wrong wire type" % (message, number)
            if not repeated and number in seen:
                return "%s field %d: twice" % (message, number)
            seen.add(number)
            value = data[start:pos]
            if kind == "string":
                value.decode("utf-8")
            elif kind is not None and (inner := spec_wire_problem(value, kind)):
                return inner
    except (ValueError, UnicodeDecodeError) as exc:
        return str(exc)
    return None


def spec_envelope_wire(envelope: dict[str, Any]) -> bytes:
    """Spec 4.1 written out: field 1 payload (omitted when empty), 2 payloadType, 3 per signature."""
    def delimited(number: int, value: bytes) -> bytes:
        length, prefix = len(value), bytearray()
        while length >= 0x80:
            prefix.append(length & 0x7F | 0x80)
            length >>= 7
        return bytes([number << 3 | 2]) + bytes(prefix) + bytes([length]) + value
    payload = spec_base64(envelope["payload"])
    out = delimited(1, payload) if payload else b""
    out += delimited(2, envelope["payloadType"].encode("utf-8"))
    for signature in envelope["signatures"]:
        keyid = signature.get("keyid", "").encode("utf-8")
        out += delimited(3, delimited(1, spec_base64(signature["sig"])) + (delimited(2, keyid) if keyid else b""))
    return out


def spec_structure_verdict(vector: dict[str, Any]) -> str:
    """MALFORMED when the JSON form, the envelope, or a payload whose signature verifies breaks the
    spec's encoding rules; otherwise OK. Signatures are checked with libsodium over this file's PAE."""
    try:
        wire = (base64.b64decode(vector["envelope_wire"], validate=True) if vector["envelope_wire"] is not None
                else spec_envelope_wire(vector["envelope"]))
    except ValueError:
        return "MALFORMED"
    if spec_wire_problem(wire, "Envelope"):
        return "MALFORMED"
    envelope = envelope_from_json(vector["envelope"]) if vector["envelope"] else None
    if envelope is None or envelope.payloadType != ATTESTATION_TYPE:
        return "OK"
    keys = {entry["keyid"]: jwk_raw_key(entry["jwk"]) for entry in vector["keys"]}
    for signature in envelope.signatures:
        if signature.keyid not in keys:
            continue
        try:
            nacl.signing.VerifyKey(keys[signature.keyid]).verify(dsse_pae(ATTESTATION_TYPE, envelope.payload),
                                                                 signature.sig)
        except (nacl.exceptions.BadSignatureError, ValueError):
            continue
        return "MALFORMED" if spec_wire_problem(envelope.payload, "Attestation") else "OK"
    return "OK"


@pytest.mark.parametrize("path", VECTOR_FILES, ids=ids(VECTOR_FILES))
def test_the_encoding_rules_of_the_spec_text_alone_refuse_exactly_where_the_vector_says_malformed(
        path: Path) -> None:
    vector = load(path)
    verdict = spec_structure_verdict(vector)
    if verdict == "MALFORMED":
        assert vector["expected"] == "MALFORMED", vector["description"]
    elif vector["expected"] == "VERIFIED":
        assert verdict == "OK", vector["description"]


def test_the_independent_wire_reader_sees_every_encoding_fault_the_vectors_pin() -> None:
    faults = {"payload-known-field-wrong-wire-type", "envelope-known-field-wrong-wire-type", "payload-invalid-utf8",
              "payload-type-invalid-utf8", "payload-sub-message-repeated", "payload-scalar-repeated",
              "base64-mixed-alphabets", "base64-unused-bits-set", "payload-truncated", "payload-not-protobuf"}
    found = {p.stem for p in VECTOR_FILES if spec_structure_verdict(load(p)) == "MALFORMED"}
    assert faults <= found, "the spec text alone does not refuse %s" % sorted(faults - found)


@pytest.mark.parametrize(("text", "expected"), [("++8=", b"\xfb\xef"), ("--8", b"\xfb\xef"), ("", b"")])
def test_the_independent_base64_reader_takes_both_alphabets(text: str, expected: bytes) -> None:
    assert spec_base64(text) == expected


def test_spec_lists_exactly_the_country_codes_the_verifier_accepts() -> None:
    spec = SPEC.read_text(encoding="utf-8")
    section = spec[spec.index("these 249 and no others"):]
    block = section[section.index("```") + 3:]
    listed = block[:block.index("```")].split()
    assert listed == sorted(ISO3166_ALPHA2), "docs/spec.md 7.1 and core/codes.py list different country codes"


# --- version 2: the digest rule, written from spec 15.2, 15.3 and RFC 9901 section 4.2.3 -----------

V2_VECTORS = [p for p in VECTOR_FILES if load(p)["disclosures"] is not None]
SPEC_BASE64URL = SPEC_BASE64_ALPHABETS[1]


def spec_digest(disclosure: str) -> str:
    """RFC 9901 section 4.2.3: base64url (no padding) of SHA-256 over the Disclosure's ASCII text."""
    digest = hashlib.sha256(disclosure.encode("ascii")).digest()
    bits = "".join(format(byte, "08b") for byte in digest) + "0000"  # 256 bits, padded to 43 sextets
    return "".join(SPEC_BASE64URL[int(bits[i:i + 6], 2)] for i in range(0, 258, 6))


def spec_digests_problem(digests: list[str], sd_alg: str) -> str | None:
    """What breaks spec 15.2's rules on subject_digests and sd_alg, or None."""
    if sd_alg != "sha-256":
        return "sd_alg"
    if not 1 <= len(digests) <= 64:
        return "count"
    for index, digest in enumerate(digests):
        if len(digest) != 43 or any(c not in SPEC_BASE64URL for c in digest):
            return "not base64url"
        if SPEC_BASE64URL.index(digest[-1]) & 3:
            return "unused bits"
        if index and digest <= digests[index - 1]:
            return "not sorted and unique"
    return None


def test_the_vectors_pin_the_v2_cases() -> None:
    names = {p.stem for p in V2_VECTORS}
    assert {"v2-licence", "v2-digest-not-base64url", "v2-digest-duplicate", "v2-too-many-digests",
            "v2-sd-alg-sha-512", "v2-personal-data-fields"} <= names


@pytest.mark.parametrize("path", V2_VECTORS, ids=ids(V2_VECTORS))
def test_the_digest_rule_of_the_spec_text_alone_agrees_with_each_v2_vector(path: Path) -> None:
    vector = load(path)
    att = vector["attestation"] or {}
    if "subject" in att or "subject_digests" not in att:
        assert vector["expected"] == "MALFORMED", vector["description"]  # v1-shaped: fields 6 are reserved
        return
    problem = spec_digests_problem(att["subject_digests"], att.get("sd_alg", ""))
    if vector["expected"] == "VERIFIED":
        assert problem is None, vector["description"]
        assert sorted(spec_digest(d) for d in vector["disclosures"]) == att["subject_digests"], (
            "the disclosures of %s do not hash to its digests" % path.name)
    else:
        assert problem is not None and vector["expected"] == "MALFORMED", vector["description"]


@pytest.mark.parametrize("path", V2_VECTORS, ids=ids(V2_VECTORS))
def test_every_v2_vectors_disclosures_are_rfc9901_disclosures(path: Path) -> None:
    for disclosure in load(path)["disclosures"]:
        salt, name, _ = json.loads(spec_base64(disclosure).decode("utf-8"))
        assert len(spec_base64(salt)) == 16 and name not in ("_sd", "...")
