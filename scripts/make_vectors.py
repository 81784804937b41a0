"""Generate the conformance vectors in tests/vectors/, one JSON file each.

    python scripts/make_vectors.py            # rewrite tests/vectors/
    python scripts/make_vectors.py --check    # exit 1 when the committed files differ

Keys come from fixed seeds, every time is fixed, protobuf messages are
serialized deterministically and Ed25519 signatures are deterministic
(RFC 8032), so a re-run reproduces every file byte for byte.
tests/unit/test_conformance_vectors.py checks each vector's verdict and that the
committed files equal a fresh generation. docs/spec.md ("Conformance vectors")
describes every field.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import json_format
from google.protobuf.message import DecodeError

from credverify.core.attestation import ATTESTATION_V2_TYPE, attestation_v2_of
from credverify.core.envelope import (
    ATTESTATION_TYPE,
    MAX_ENVELOPE_BYTES,
    Signer,
    envelope_to_json,
    pae,
    raw_public_key,
)
from credverify.core.sdjwt import b64url, content_of_attestation, issue_credential, split_combined
from credverify.core.timefmt import to_date, to_timestamp
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2

ROOT = Path(__file__).resolve().parent.parent
VECTORS_DIR = ROOT / "tests" / "vectors"

# A field number no version of Attestation uses: the vectors put unknown data there.
UNKNOWN_FIELD = 1000


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micros(moment: dt.datetime) -> int:
    """The version convention of credverify's issuers: the issuing time in microseconds."""
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


# --- keys and issuers: the one trust list every vector carries -----------------------------------


@dataclass(frozen=True)
class VectorKey:
    name: str
    issuer_id: str | None  # None: on no issuer's record
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    compromised_at: dt.datetime | None = None

    @property
    def signer(self) -> Signer:
        seed = hashlib.sha256(b"credverify conformance vectors: " + self.name.encode()).digest()
        return Signer(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def keyid(self) -> str:
        return self.signer.keyid

    @property
    def raw(self) -> bytes:
        return raw_public_key(self.signer.private_key.public_key())


# Kenya's nursing council: a retired key (later found leaked), its current key, a branch office's
# key reported lost, and the next key published ahead of its start. Romania's college of physicians:
# one key. A stranger's key is on no record.
KE_RETIRED = VectorKey("KE-NCK 2024", "KE-NCK", utc("2024-01-01T00:00:00Z"), utc("2025-07-01T00:00:00Z"),
                       compromised_at=utc("2026-06-01T00:00:00Z"))
KE_CURRENT = VectorKey("KE-NCK 2025", "KE-NCK", utc("2025-07-01T00:00:00Z"))
KE_LOST = VectorKey("KE-NCK Mombasa office", "KE-NCK", utc("2025-07-01T00:00:00Z"),
                    compromised_at=utc("2026-03-01T00:00:00Z"))
KE_NEXT = VectorKey("KE-NCK 2027", "KE-NCK", utc("2027-01-01T00:00:00Z"))
RO_CURRENT = VectorKey("RO-CMR 2025", "RO-CMR", utc("2025-01-01T00:00:00Z"))
STRANGER = VectorKey("not on the trust list", None)
TRUSTED_KEYS = (KE_RETIRED, KE_CURRENT, KE_LOST, KE_NEXT, RO_CURRENT)

ISSUERS = [
    {
        "issuer_id": "KE-NCK",
        "country": "KE",
        "display_name": "Nursing Council of Kenya",
        "credential_kinds": ["LICENCE", "GOOD_STANDING"],
        "professions_isco": ["2221", "2222", "3221"],
    },
    {
        "issuer_id": "RO-CMR",
        "country": "RO",
        "display_name": "Colegiul Medicilor din România",
        "credential_kinds": ["LICENCE", "DIPLOMA"],
        "professions_isco": ["2211", "2212"],
    },
]


def key_entry(key: VectorKey) -> dict[str, object]:
    x = base64.urlsafe_b64encode(key.raw).decode().rstrip("=")
    return {
        "keyid": key.keyid,
        "jwk": {"kty": "OKP", "crv": "Ed25519", "x": x},
        "issuer_id": key.issuer_id,
        "not_before": rfc3339(key.not_before),
        "not_after": rfc3339(key.not_after),
        "compromised_at": rfc3339(key.compromised_at),
    }


# --- attestations -----------------------------------------------------------------------------------

ISSUED_AT = utc("2026-04-14T08:30:00Z")


def nurse_licence(*, issued_at: dt.datetime = ISSUED_AT, version: int | None = None,
                  status: common_pb2.CredentialStatus = common_pb2.CREDENTIAL_STATUS_ACTIVE,
                  status_reason: str = "RENEWED") -> attestation_pb2.Attestation:
    """A Kenyan nurse's annual practising licence, every field set."""
    return attestation_pb2.Attestation(
        credential_id="KE-NCK/10001",
        issuer_id="KE-NCK",
        version=version if version is not None else micros(issued_at),
        issued_at=to_timestamp(issued_at),
        kind=common_pb2.CREDENTIAL_KIND_LICENCE,
        subject=attestation_pb2.Subject(
            practitioner_number="NCK-10001",
            family_name="Wanjiru",
            given_names="Grace Akinyi",
            date_of_birth=to_date(dt.date(1992, 3, 14)),
            country_of_training="KE",
        ),
        profession_isco="2221",
        status=status,
        valid_from=to_date(dt.date(2026, 1, 1)),
        valid_until=to_date(dt.date(2026, 12, 31)),
        jurisdiction="KE",
        status_reason=status_reason,
    )


def doctor_diploma() -> attestation_pb2.Attestation:
    """A Romanian physician's medical degree, as recognised by the college: no end date."""
    issued_at = utc("2026-03-02T14:05:09Z")
    return attestation_pb2.Attestation(
        credential_id="RO-CMR/D-20417",
        issuer_id="RO-CMR",
        version=micros(issued_at),
        issued_at=to_timestamp(issued_at),
        kind=common_pb2.CREDENTIAL_KIND_DIPLOMA,
        subject=attestation_pb2.Subject(
            practitioner_number="CMR-20417",
            family_name="Popescu",
            given_names="Ioana Ștefania",
            date_of_birth=to_date(dt.date(1988, 9, 2)),
            country_of_training="RO",
        ),
        profession_isco="2211",
        status=common_pb2.CREDENTIAL_STATUS_ACTIVE,
        valid_from=to_date(dt.date(2013, 9, 30)),
        jurisdiction="RO",
        status_reason="NEW_REGISTRATION",
        diploma=attestation_pb2.Diploma(
            institution="Universitatea de Medicină și Farmacie „Carol Davila” din București",
            programme="Medicină (doctor-medic)",
            award_date=to_date(dt.date(2013, 9, 30)),
        ),
    )


def midwife_good_standing() -> attestation_pb2.Attestation:
    """A certificate of good standing for a Kenyan midwife, valid 90 days."""
    return attestation_pb2.Attestation(
        credential_id="KE-NCK/GS-2026-0042",
        issuer_id="KE-NCK",
        version=micros(ISSUED_AT),
        issued_at=to_timestamp(ISSUED_AT),
        kind=common_pb2.CREDENTIAL_KIND_GOOD_STANDING,
        subject=attestation_pb2.Subject(
            practitioner_number="NCK-20733",
            family_name="Achieng",
            given_names="Mary Atieno",
            date_of_birth=to_date(dt.date(1986, 11, 30)),
            country_of_training="KE",
        ),
        profession_isco="2222",
        status=common_pb2.CREDENTIAL_STATUS_ACTIVE,
        valid_from=to_date(dt.date(2026, 4, 14)),
        valid_until=to_date(dt.date(2026, 7, 12)),
        jurisdiction="KE",
        status_reason="NEW_REGISTRATION",
    )


def changed(att: attestation_pb2.Attestation, change: Callable[[attestation_pb2.Attestation], None]
            ) -> attestation_pb2.Attestation:
    copy = attestation_pb2.Attestation()
    copy.CopyFrom(att)
    change(copy)
    return copy


def canonical(att: attestation_pb2.Attestation) -> bytes:
    return att.SerializeToString(deterministic=True)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def unknown_field(data: bytes) -> bytes:
    """A length-delimited field with a number Attestation does not define."""
    return varint(UNKNOWN_FIELD << 3 | 2) + varint(len(data)) + data


def reversed_field_order(att: attestation_pb2.Attestation) -> bytes:
    """The same message with its fields written last first: valid protobuf, but not what a
    serializer of ours would emit, so only a verifier of the bytes as received accepts it."""
    names = [descriptor.name for descriptor, _value in att.ListFields()]
    parts = []
    for name in names:
        single = attestation_pb2.Attestation()
        single.CopyFrom(att)
        for other in names:
            if other != name:
                single.ClearField(other)
        parts.append(single.SerializeToString(deterministic=True))
    return b"".join(reversed(parts))


# --- envelopes -----------------------------------------------------------------------------------------


def clone(env: envelope_pb2.Envelope) -> envelope_pb2.Envelope:
    copy = envelope_pb2.Envelope()
    copy.CopyFrom(env)
    return copy


def signature(key: VectorKey, payload_type: str, payload: bytes) -> envelope_pb2.Signature:
    return envelope_pb2.Signature(sig=key.signer.private_key.sign(pae(payload_type, payload)), keyid=key.keyid)


def envelope(payload: bytes, *signatures: envelope_pb2.Signature,
             payload_type: str = ATTESTATION_TYPE) -> envelope_pb2.Envelope:
    return envelope_pb2.Envelope(payload=payload, payloadType=payload_type, signatures=list(signatures))


def signed(payload: bytes, key: VectorKey = KE_CURRENT, payload_type: str = ATTESTATION_TYPE
           ) -> envelope_pb2.Envelope:
    return envelope(payload, signature(key, payload_type, payload), payload_type=payload_type)


def signed_att(att: attestation_pb2.Attestation, key: VectorKey = KE_CURRENT) -> envelope_pb2.Envelope:
    return signed(canonical(att), key)


def with_unknown_padding(att: attestation_pb2.Attestation, wire_length: int) -> envelope_pb2.Envelope:
    """The attestation, signed, with unknown-field padding sized so the envelope is ``wire_length`` bytes."""
    base = canonical(att)
    # Type, signature, tags and lengths take a few hundred bytes; within those one size fits exactly.
    guess = wire_length - len(base)
    for size in range(guess - 400, guess + 1):
        candidate = signed(base + unknown_field(b"x" * size))
        if candidate.ByteSize() == wire_length:
            return candidate
    raise ValueError("cannot pad an envelope to exactly %d bytes" % wire_length)


# --- the vectors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    name: str
    description: str
    expected: str
    envelope: envelope_pb2.Envelope
    record_key: str | None
    stored: envelope_pb2.Envelope | None = None
    appended_at: dt.datetime | None = None
    # The JSON form as written, when it is not what envelope_to_json writes (other base64 texts).
    envelope_json: dict[str, object] | None = None
    # The record value byte for byte, when no JSON form can state it (spec 13.2, envelope_wire).
    wire: bytes | None = None
    # v2 (spec 15.5): the practitioner's Disclosures that open the attestation's digests.
    disclosures: tuple[str, ...] | None = None


def vector(name: str, description: str, expected: str, env: envelope_pb2.Envelope, *,
           record_key: str | None = "KE-NCK/10001", stored: envelope_pb2.Envelope | None = None,
           appended_at: dt.datetime | None = None, envelope_json: dict[str, object] | None = None,
           wire: bytes | None = None, disclosures: tuple[str, ...] | None = None) -> Vector:
    """A vector; its hub append time is ``appended_at``, by default the moment the payload says it
    was issued (ISSUED_AT when the payload has no readable issued_at): the record reached the hub
    as it was signed, so only the vectors about witnessed time (spec 10.3) depend on it."""
    return Vector(name, description, expected, env, record_key, stored,
                  appended_at if appended_at is not None else _issued_at(env), envelope_json, wire, disclosures)


def _issued_at(env: envelope_pb2.Envelope) -> dt.datetime:
    try:
        att = attestation_pb2.Attestation.FromString(env.payload)
    except DecodeError:
        return ISSUED_AT
    if not att.HasField("issued_at") or not 0 < att.issued_at.seconds < 253402300800:
        return ISSUED_AT
    return att.issued_at.ToDatetime(tzinfo=dt.UTC)


def all_vectors() -> list[Vector]:
    licence = nurse_licence()
    licence_env = signed_att(licence)
    licence_bytes = canonical(licence)
    diploma = doctor_diploma()
    good_standing = midwife_good_standing()

    older = nurse_licence(issued_at=utc("2026-02-02T10:00:00Z"), status_reason="RENEWED")
    suspension = nurse_licence(status=common_pb2.CREDENTIAL_STATUS_SUSPENDED, status_reason="INTERIM_ORDER")
    corrected = changed(older, lambda a: setattr(a.subject, "given_names", "Grace Akinyi Njeri"))

    tampered = clone(licence_env)
    tampered.payload = licence_bytes.replace(b"Wanjiru", b"Wanjiro")

    relabelled = signed(licence_bytes, payload_type="application/vnd.credverify.attestation.v0+protobuf")
    relabelled.payloadType = ATTESTATION_TYPE
    relabelled_away = clone(licence_env)
    relabelled_away.payloadType = "application/vnd.credverify.attestation.v3+protobuf"

    wrong_keyid = clone(licence_env)
    wrong_keyid.signatures[0].keyid = KE_RETIRED.keyid
    upper_keyid = clone(licence_env)
    upper_keyid.signatures[0].keyid = KE_CURRENT.keyid.upper()
    no_keyid = clone(licence_env)
    no_keyid.signatures[0].keyid = ""
    truncated_sig = clone(licence_env)
    truncated_sig.signatures[0].sig = truncated_sig.signatures[0].sig[:63]

    garbage = envelope_pb2.Signature(sig=bytes(64), keyid=RO_CURRENT.keyid)
    raw_only = envelope(licence_bytes, envelope_pb2.Signature(
        sig=KE_CURRENT.signer.private_key.sign(licence_bytes), keyid=KE_CURRENT.keyid))
    b64_payload = base64.b64encode(licence_bytes)
    pae_of_base64 = envelope(licence_bytes, envelope_pb2.Signature(
        sig=KE_CURRENT.signer.private_key.sign(pae(ATTESTATION_TYPE, b64_payload)), keyid=KE_CURRENT.keyid))

    no_signatures = envelope(licence_bytes)
    no_type = clone(licence_env)
    no_type.payloadType = ""

    as_json = json.dumps(json_format.MessageToDict(licence, preserving_proto_field_name=True),
                         ensure_ascii=False, separators=(",", ":")).encode()

    return [
        # --- accepted ---
        vector("valid-licence", "A nurse's practising licence signed by her council's current key.",
               "VERIFIED", licence_env),
        vector("valid-diploma", "A physician's medical diploma (kind DIPLOMA, no valid_until: open-ended) "
               "signed by the college's key; names and institution are non-ASCII UTF-8.",
               "VERIFIED", signed_att(diploma, RO_CURRENT), record_key=diploma.credential_id),
        vector("valid-good-standing", "A midwife's certificate of good standing.",
               "VERIFIED", signed_att(good_standing), record_key=good_standing.credential_id),
        vector("valid-suspension-newer-version", "A suspension: a newer version of a credential the registry "
               "holds. Accepted: a signed status change is verified like any other version (its status is "
               "judged when someone asks).",
               "VERIFIED", signed_att(suspension), stored=signed_att(older)),
        vector("identical-duplicate", "The very bytes the registry already holds, delivered again (a producer "
               "retry, a consumer re-reading the log): a harmless duplicate, not a replay.",
               "VERIFIED", licence_env, stored=licence_env),
        vector("unknown-field-ignored", "The licence with an extra length-delimited field (number 1000) that "
               "this version of Attestation does not define, as a later minor revision might add. The "
               "signature covers it; parsers must skip unknown fields.",
               "VERIFIED", signed(licence_bytes + unknown_field(b"added by a later revision"))),
        vector("non-canonical-field-order", "The licence with its fields serialized in reverse order. The "
               "bytes are what was signed; a verifier that re-serializes the parsed message before checking "
               "the signature would wrongly reject it.",
               "VERIFIED", signed(reversed_field_order(licence))),
        vector("multiple-signatures-first-unlisted", "Two signatures: the first by a key on no issuer's record, "
               "the second by the council's current key. One signature by a listed key that verifies is "
               "enough.",
               "VERIFIED", envelope(licence_bytes, signature(STRANGER, ATTESTATION_TYPE, licence_bytes),
                                    signature(KE_CURRENT, ATTESTATION_TYPE, licence_bytes))),
        vector("multiple-signatures-first-invalid", "Two signatures: the first names a listed key (another "
               "issuer's) but is 64 zero bytes, the second is good.",
               "VERIFIED", envelope(licence_bytes, garbage, signature(KE_CURRENT, ATTESTATION_TYPE,
                                                                      licence_bytes))),
        vector("key-valid-from-not-before", "Issued at exactly the key's not_before: the key is valid "
               "(not_before <= issued_at).",
               "VERIFIED", signed_att(nurse_licence(issued_at=KE_CURRENT.not_before or ISSUED_AT))),
        vector("compromised-key-before-compromise", "Signed with a key reported compromised, but issued one "
               "second before the time of compromise: what the key signed earlier stays valid.",
               "VERIFIED", signed_att(nurse_licence(issued_at=utc("2026-02-28T23:59:59Z")), KE_LOST)),
        vector("envelope-at-size-limit", "An envelope of exactly 65536 bytes on the wire (the licence padded "
               "with an unknown field): at the limit, not over it.",
               "VERIFIED", with_unknown_padding(licence, MAX_ENVELOPE_BYTES)),
        # --- envelope ---
        vector("oversized", "An envelope of 65537 bytes on the wire, otherwise valid: refused before parsing.",
               "OVERSIZED", with_unknown_padding(licence, MAX_ENVELOPE_BYTES + 1)),
        vector("no-signatures", "An envelope with a payload and payloadType but no signature.",
               "MALFORMED", no_signatures),
        vector("empty-payload-type", "An envelope whose payloadType is empty.", "MALFORMED", no_type),
        # --- signatures ---
        vector("tampered-payload", "The valid licence with one byte of the payload changed (Wanjiru to "
               "Wanjiro); signature and keyid untouched.",
               "SIGNATURE_INVALID", tampered),
        vector("tampered-payload-type", "Signed under payloadType "
               "application/vnd.credverify.attestation.v0+protobuf, then relabelled with the attestation "
               "type: PAE binds the type, so the signature no longer verifies.",
               "SIGNATURE_INVALID", relabelled),
        vector("signature-over-payload-without-pae", "The signature is over the payload bytes alone instead "
               "of PAE(payloadType, payload).",
               "SIGNATURE_INVALID", raw_only),
        vector("signature-over-base64-payload", "The signature is over PAE of the base64 text of the payload "
               "instead of the payload bytes.",
               "SIGNATURE_INVALID", pae_of_base64),
        vector("truncated-signature", "The valid licence with its signature cut to 63 bytes.",
               "SIGNATURE_INVALID", truncated_sig),
        vector("wrong-keyid", "Signed by the council's current key, but the keyid names its retired key, "
               "which is also listed. keyid selects the one key to try: no other key is tried.",
               "SIGNATURE_INVALID", wrong_keyid),
        vector("wrong-issuers-key", "An attestation naming issuer KE-NCK, validly signed by a key that the "
               "trust list gives to RO-CMR.",
               "SIGNATURE_INVALID", signed_att(licence, RO_CURRENT)),
        vector("unlisted-key", "Validly signed by a key that no issuer's record lists.",
               "ISSUER_UNKNOWN", signed_att(licence, STRANGER)),
        vector("keyid-uppercase", "The council's current key's keyid in upper-case hex: keyids are compared "
               "as exact strings, so it names no listed key.",
               "ISSUER_UNKNOWN", upper_keyid),
        vector("keyid-empty", "A valid signature without a keyid: credverify requires the keyid to find the key.",
               "ISSUER_UNKNOWN", no_keyid),
        # --- payload type ---
        vector("payload-type-unsupported", "Validly signed over "
               "application/vnd.credverify.attestation.v3+protobuf, a type this version does not accept.",
               "PAYLOAD_TYPE_UNSUPPORTED",
               signed(licence_bytes, payload_type="application/vnd.credverify.attestation.v3+protobuf")),
        vector("payload-type-case-differs", "Validly signed over "
               "application/vnd.credverify.Attestation.v1+protobuf: payload types are compared exactly, "
               "case included.",
               "PAYLOAD_TYPE_UNSUPPORTED",
               signed(licence_bytes, payload_type="application/vnd.credverify.Attestation.v1+protobuf")),
        vector("payload-type-relabelled-away", "The valid licence relabelled with another payloadType: the type "
               "is checked before the signature, so the answer is PAYLOAD_TYPE_UNSUPPORTED.",
               "PAYLOAD_TYPE_UNSUPPORTED", relabelled_away),
        vector("unlisted-key-and-unsupported-type", "A key on no record and an unsupported payloadType: the "
               "keyid check comes first.",
               "ISSUER_UNKNOWN",
               signed(licence_bytes, STRANGER, payload_type="application/vnd.credverify.attestation.v3+protobuf")),
        # --- payload ---
        vector("payload-not-protobuf", "A valid signature over the licence serialized as JSON instead of "
               "protobuf: the signature checks out, the payload does not parse.",
               "MALFORMED", signed(as_json)),
        vector("payload-truncated", "A valid signature over the first 40 bytes of the licence: a field is cut "
               "in the middle.",
               "MALFORMED", signed(licence_bytes[:40])),
        vector("payload-missing-issued-at", "A valid signature over a licence without issued_at.",
               "MALFORMED", signed_att(changed(licence, lambda a: a.ClearField("issued_at")))),
        vector("payload-diploma-without-institution", "A valid signature over a DIPLOMA whose diploma has no "
               "institution.",
               "MALFORMED", signed_att(changed(diploma, lambda a: a.diploma.ClearField("institution")), RO_CURRENT),
               record_key=diploma.credential_id),
        vector("payload-issued-at-out-of-range", "A valid signature over a licence whose issued_at is in the "
               "year 10000, outside the range of google.protobuf.Timestamp.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a.issued_at, "seconds", 253402300800)))),
        vector("payload-status-undefined", "A valid signature over a licence whose status is 99, a number "
               "CredentialStatus does not define: refused, never taken for a known status.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "status", 99)))),
        vector("payload-kind-undefined", "A valid signature over an attestation whose kind is 99, a number "
               "CredentialKind does not define.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "kind", 99)))),
        # --- key validity ---
        vector("expired-key", "Signed by the council's retired key after its not_after (and before it was "
               "found compromised).",
               "KEY_NOT_VALID", signed_att(licence, KE_RETIRED)),
        vector("key-not-after-is-exclusive", "Issued at exactly the retired key's not_after: no longer valid "
               "(issued_at < not_after is required).",
               "KEY_NOT_VALID", signed_att(nurse_licence(issued_at=KE_RETIRED.not_after or ISSUED_AT),
                                           KE_RETIRED)),
        vector("key-not-yet-valid", "Signed by the council's next key, published ahead of its not_before.",
               "KEY_NOT_VALID", signed_att(licence, KE_NEXT)),
        vector("compromised-key", "Signed by a key reported compromised, issued after the time of compromise.",
               "KEY_REVOKED", signed_att(licence, KE_LOST)),
        vector("compromised-key-at-instant", "Issued at exactly the key's time of compromise: refused "
               "(compromised_at <= issued_at).",
               "KEY_REVOKED", signed_att(nurse_licence(issued_at=KE_LOST.compromised_at or ISSUED_AT), KE_LOST)),
        # --- witnessed time: the hub's append time (spec 10.3) ---
        vector("compromised-key-backdated", "Signed by a key reported compromised, with an issued_at a month "
               "before the compromise, but appended to the hub after it: refused whatever issued_at says.",
               "KEY_REVOKED", signed_att(nurse_licence(issued_at=utc("2026-02-01T08:00:00Z")), KE_LOST),
               appended_at=ISSUED_AT),
        vector("compromised-key-appended-at-instant", "Issued a day before the key's time of compromise and "
               "appended to the hub at exactly that instant: refused (compromised_at <= appended_at).",
               "KEY_REVOKED", signed_att(nurse_licence(issued_at=utc("2026-02-28T00:00:00Z")), KE_LOST),
               appended_at=KE_LOST.compromised_at),
        vector("compromised-key-appended-before-compromise", "Issued and appended to the hub one second "
               "before the key's time of compromise: accepted.",
               "VERIFIED", signed_att(nurse_licence(issued_at=utc("2026-02-28T23:59:58Z")), KE_LOST),
               appended_at=utc("2026-02-28T23:59:59Z")),
        vector("issued-after-append-time", "An issued_at ten minutes after the hub appended the record, more "
               "than the 5-minute clock skew allowed.",
               "ISSUED_AFTER_WITNESSED", licence_env, appended_at=ISSUED_AT - dt.timedelta(minutes=10)),
        vector("issued-within-clock-skew", "An issued_at exactly 5 minutes after the hub's append time: "
               "within the clock skew allowed.",
               "VERIFIED", licence_env, appended_at=ISSUED_AT - dt.timedelta(minutes=5)),
        vector("compromised-and-expired-key", "Signed by the retired key after both its not_after and its "
               "time of compromise: compromise is checked first.",
               "KEY_REVOKED", signed_att(nurse_licence(issued_at=utc("2026-06-15T00:00:00Z")), KE_RETIRED)),
        # --- issuer scope ---
        vector("profession-not-authorised", "The nursing council attests a generalist medical practitioner "
               "(ISCO-08 2211), outside its professions.",
               "ISSUER_NOT_AUTHORISED", signed_att(changed(licence, lambda a: setattr(a, "profession_isco", "2211")))),
        vector("kind-not-authorised", "The nursing council attests a DIPLOMA, a kind it may not attest.",
               "ISSUER_NOT_AUTHORISED", signed_att(changed(licence, _as_nursing_diploma))),
        vector("jurisdiction-mismatch", "The Kenyan council's licence says it was issued in Uganda.",
               "ISSUER_NOT_AUTHORISED", signed_att(changed(licence, lambda a: setattr(a, "jurisdiction", "UG")))),
        # --- record key ---
        vector("record-key-mismatch", "A valid licence published under another credential's record key.",
               "RECORD_KEY_MISMATCH", licence_env, record_key="KE-NCK/10002"),
        vector("record-key-missing", "A valid licence published with no record key.",
               "RECORD_KEY_MISMATCH", licence_env, record_key=None),
        # --- versions ---
        vector("replayed-older-version", "The ACTIVE version of a licence re-published after the registry "
               "accepted its newer SUSPENDED version.",
               "REPLAYED", signed_att(older), stored=signed_att(suspension)),
        vector("equal-version-different-bytes", "The same version number as the one held, with different "
               "content: only a newer version replaces what is held.",
               "REPLAYED", signed_att(corrected), stored=signed_att(older)),
        vector("replayed-older-version-tampered", "An older version whose payload was also tampered with: "
               "the trust rules come before the version rule.",
               "SIGNATURE_INVALID", _tampered(signed_att(older)), stored=signed_att(suspension)),
    ] + interoperability_vectors(licence, licence_env) + v2_vectors(licence, licence_env)


def _counting_bytes() -> Callable[[int], bytes]:
    """Salts for the vectors: fixed, so a re-run reproduces every file (a council uses secrets)."""
    counter = iter(range(1 << 30))
    return lambda n: hashlib.sha256(b"credverify vector salt %d" % next(counter)).digest()[:n]


def v2_vectors(licence: attestation_pb2.Attestation, licence_env: envelope_pb2.Envelope) -> list[Vector]:
    """Version 2 (spec 15): the licence with its person sealed in the digests of her credential."""
    credential = issue_credential(content_of_attestation(licence), signer=KE_CURRENT.signer, now=ISSUED_AT,
                                  random_bytes=_counting_bytes())
    disclosures = split_combined(credential.text).disclosures
    digests = list(credential.digests)
    good = attestation_v2_of(licence, digests)

    def v2(change: Callable[[attestation_pb2.AttestationV2], None]) -> envelope_pb2.Envelope:
        att = attestation_pb2.AttestationV2()
        att.CopyFrom(good)
        change(att)
        return signed(att.SerializeToString(deterministic=True), payload_type=ATTESTATION_V2_TYPE)

    def digests_as(values: list[str]) -> Callable[[attestation_pb2.AttestationV2], None]:
        def change(att: attestation_pb2.AttestationV2) -> None:
            del att.subject_digests[:]
            att.subject_digests.extend(values)
        return change

    plus = sorted(digests[1:] + [digests[0][:-1].replace("-", "+").replace("_", "/") + "+"])
    decoys = [b64url(hashlib.sha256(b"decoy %d" % i).digest()) for i in range(65 - len(digests))]
    relabelled = clone(licence_env)
    relabelled.payloadType = ATTESTATION_V2_TYPE
    return [
        vector("v2-licence", "The licence as version 2: non-personal fields and the digests of the five "
               "Disclosures of the practitioner's credential, which `disclosures` carries.",
               "VERIFIED", v2(lambda a: None), record_key="KE-NCK/10001", disclosures=disclosures),
        vector("v2-digest-not-base64url", "A v2 licence one of whose digests uses the standard base64 "
               "alphabet ('+', '/'): digests are base64url.",
               "MALFORMED", v2(digests_as(plus)), disclosures=disclosures),
        vector("v2-digest-duplicate", "A v2 licence carrying one digest twice.",
               "MALFORMED", v2(digests_as(sorted(digests + digests[:1]))), disclosures=disclosures),
        vector("v2-too-many-digests", "A v2 licence with 65 digests (its own five and 60 decoys); at most 64.",
               "MALFORMED", v2(digests_as(sorted(digests + decoys))), disclosures=disclosures),
        vector("v2-sd-alg-sha-512", "A v2 licence whose sd_alg is sha-512; only sha-256 is defined.",
               "MALFORMED", v2(lambda a: setattr(a, "sd_alg", "sha-512")), disclosures=disclosures),
        vector("v2-personal-data-fields", "The v1 licence, personal data and all, validly signed under the v2 "
               "payloadType: fields 6 (subject) are reserved in AttestationV2.",
               "MALFORMED", signed(canonical(licence), payload_type=ATTESTATION_V2_TYPE), disclosures=disclosures),
        vector("v1-relabelled-as-v2", "The valid v1 licence with its payloadType changed to the v2 type: PAE "
               "binds the type, so the signature no longer verifies.",
               "SIGNATURE_INVALID", relabelled),
    ]


def field(number: int, wire_type: int, value: bytes | int) -> bytes:
    """One protobuf field written by hand: for wire types the library would never emit here."""
    tag = varint(number << 3 | wire_type)
    if isinstance(value, int):
        return tag + varint(value)
    return tag + varint(len(value)) + value


def raw_envelope(payload: bytes, payload_type: bytes, key: VectorKey = KE_CURRENT) -> bytes:
    """An envelope's wire bytes with a payloadType given as bytes (4.1), signed over PAE of those bytes."""
    message = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)
    sig = field(1, 2, key.signer.private_key.sign(message)) + field(2, 2, key.keyid.encode())
    return field(1, 2, payload) + field(2, 2, payload_type) + field(3, 2, sig)


def split_subject(att: attestation_pb2.Attestation) -> bytes:
    """The attestation with its subject written as two Subject fields that protobuf would merge."""
    names = attestation_pb2.Subject()
    names.CopyFrom(att.subject)
    names.ClearField("date_of_birth")
    names.ClearField("country_of_training")
    rest = attestation_pb2.Subject(date_of_birth=att.subject.date_of_birth,
                                   country_of_training=att.subject.country_of_training)
    without = changed(att, lambda a: a.ClearField("subject"))
    return (canonical(without) + field(6, 2, names.SerializeToString(deterministic=True))
            + field(6, 2, rest.SerializeToString(deterministic=True)))


def with_base64(env: envelope_pb2.Envelope, encode: Callable[[bytes], str]) -> dict[str, object]:
    out = envelope_to_json(env)
    out["payload"] = encode(env.payload)
    out["signatures"] = [{"keyid": s.keyid, "sig": encode(s.sig)} for s in env.signatures]
    return out


def _url_safe_unpadded(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _mixed_alphabets(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    first = min(i for i, c in enumerate(text) if c in "+/")
    mixed = text[:first] + {"+": "-", "/": "_"}[text[first]] + text[first + 1:]
    if not any(c in "+/" for c in mixed):
        raise ValueError("need a base64 text with two characters of 62 or 63 to mix alphabets")
    return mixed


def _unused_bits_set(data: bytes) -> str:
    """Standard base64 of ``data`` (a length not a multiple of 3) with an unused bit of the last
    character set: a lax decoder reads the same bytes, a strict one refuses."""
    text = base64.b64encode(data).decode()
    digits = text.rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet[alphabet.index(digits[-1]) | 1]
    return digits[:-1] + last + text[len(digits):]


def interoperability_vectors(licence: attestation_pb2.Attestation, licence_env: envelope_pb2.Envelope
                             ) -> list[Vector]:
    """Where two careful implementations of the spec disagreed until the text settled it."""
    licence_bytes = canonical(licence)
    long_number = "KE-NCK/" + "7" * 64
    bad_json = clone(licence_env)
    return [
        # --- the wire (4.3) ---
        vector("payload-known-field-wrong-wire-type", "The signed licence followed by field 7 "
               "(profession_isco, a string) written as a varint: a known field with the wrong wire type is "
               "MALFORMED, though protobuf libraries skip it as an unknown field.",
               "MALFORMED", signed(licence_bytes + field(7, 0, 5))),
        vector("envelope-known-field-wrong-wire-type", "A valid envelope followed by field 2 (payloadType) "
               "written as a varint. Only envelope_wire can state it.",
               "MALFORMED", licence_env, wire=licence_env.SerializeToString() + field(2, 0, 5)),
        vector("payload-invalid-utf8", "A signed licence whose family name holds the byte ff (Wanjir\\xff): not "
               "UTF-8, so the payload is not an Attestation.",
               "MALFORMED", signed(licence_bytes.replace(b"Wanjiru", b"Wanjir\xff"))),
        vector("payload-type-invalid-utf8", "An envelope whose payloadType is the attestation type followed by "
               "the byte ff, signed over PAE of those bytes: not UTF-8, so not an Envelope.",
               "MALFORMED", licence_env, wire=raw_envelope(licence_bytes, ATTESTATION_TYPE.encode() + b"\xff")),
        vector("payload-sub-message-repeated", "A signed licence whose subject is written as two Subject fields "
               "(names, then birth date and country). Protobuf would merge them into a valid subject; a "
               "singular field occurring twice is MALFORMED.",
               "MALFORMED", signed(split_subject(licence))),
        vector("payload-scalar-repeated", "A signed ACTIVE licence followed by a second status field "
               "(SUSPENDED): a singular field occurring twice is MALFORMED, not 'the last value wins'.",
               "MALFORMED", signed(licence_bytes + field(8, 0, common_pb2.CREDENTIAL_STATUS_SUSPENDED))),
        # --- presence (7) ---
        vector("payload-empty-diploma-on-licence", "A licence with field 14 (diploma) present but of length 0: "
               "a sub-message is present when its field occurs on the wire, even empty.",
               "MALFORMED", signed_att(changed(licence, lambda a: a.diploma.SetInParent()))),
        vector("valid-until-present-all-zero", "A licence whose valid_until is present on the wire with year, "
               "month and day 0: an all-zero Date is unset (open-ended), present or not.",
               "VERIFIED", signed_att(changed(licence, _all_zero_valid_until))),
        # --- identifiers and text (7.1, 7.2) ---
        vector("credential-id-prefix-differs", "A KE-NCK licence whose credential_id is RO-CMR/10001: the part "
               "before '/' must equal issuer_id.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "credential_id", "RO-CMR/10001"))),
               record_key="RO-CMR/10001"),
        vector("credential-id-number-with-slash", "credential_id KE-NCK/2026/10001: the local number may not "
               "contain '/'.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "credential_id", "KE-NCK/2026/10001"))),
               record_key="KE-NCK/2026/10001"),
        vector("credential-id-number-at-length-limit", "A local number of 64 characters, the most allowed.",
               "VERIFIED", signed_att(changed(licence, lambda a: setattr(a, "credential_id", long_number))),
               record_key=long_number),
        vector("credential-id-number-too-long", "A local number of 65 characters.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "credential_id", long_number + "7"))),
               record_key=long_number + "7"),
        vector("family-name-blank", "A family name of one U+3000 IDEOGRAPHIC SPACE: only White_Space code "
               "points, so blank.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a.subject, "family_name", "\u3000")))),
        vector("given-names-c1-control", "Given names with U+0085 NEXT LINE between them: a C1 control "
               "character (general category Cc).",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a.subject, "given_names",
                                                                          "Grace\u0085Akinyi")))),
        vector("country-of-training-not-assigned", "country_of_training XK (Kosovo's user-assigned code, not an "
               "officially assigned ISO 3166-1 code).",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a.subject, "country_of_training", "XK")))),
        vector("jurisdiction-lower-case", "jurisdiction 'ke': codes are upper case.",
               "MALFORMED", signed_att(changed(licence, lambda a: setattr(a, "jurisdiction", "ke")))),
        # --- base64 of the JSON form (2) ---
        vector("base64-url-safe-unpadded", "The valid licence with payload and sig in the URL-safe alphabet "
               "without padding, as DSSE allows producers to write.",
               "VERIFIED", licence_env, envelope_json=with_base64(licence_env, _url_safe_unpadded)),
        vector("base64-mixed-alphabets", "The valid licence with a sig whose base64 mixes the two alphabets in "
               "one value.",
               "MALFORMED", bad_json, envelope_json=_with_sig_text(bad_json, _mixed_alphabets)),
        vector("base64-unused-bits-set", "The valid licence with a sig whose last base64 character has an unused "
               "bit set: a lax decoder reads the same 64 bytes, the spec refuses it.",
               "MALFORMED", bad_json, envelope_json=_with_sig_text(bad_json, _unused_bits_set)),
        # --- duplicates (11.2) ---
        vector("identical-duplicate-after-compromise", "The very bytes the registry holds, signed after the "
               "signing key's compromise under today's trust list: an identical duplicate is recognised before "
               "the trust rules, so it is neither refused nor stored (the held copy is re-judged on its own).",
               "VERIFIED", signed_att(licence, KE_LOST), stored=signed_att(licence, KE_LOST)),
    ]


def _all_zero_valid_until(att: attestation_pb2.Attestation) -> None:
    att.ClearField("valid_until")
    att.valid_until.SetInParent()


def _with_payload_text(env: envelope_pb2.Envelope, encode: Callable[[bytes], str]) -> dict[str, object]:
    out = envelope_to_json(env)
    out["payload"] = encode(env.payload)
    return out


def _with_sig_text(env: envelope_pb2.Envelope, encode: Callable[[bytes], str]) -> dict[str, object]:
    out = envelope_to_json(env)
    out["signatures"] = [{"keyid": s.keyid, "sig": encode(s.sig)} for s in env.signatures]
    return out


def _as_nursing_diploma(att: attestation_pb2.Attestation) -> None:
    att.kind = common_pb2.CREDENTIAL_KIND_DIPLOMA
    att.valid_from.CopyFrom(to_date(dt.date(2014, 11, 21)))
    att.ClearField("valid_until")
    att.diploma.institution = "University of Nairobi"
    att.diploma.programme = "Bachelor of Science in Nursing"
    att.diploma.award_date.CopyFrom(to_date(dt.date(2014, 11, 21)))


def _tampered(env: envelope_pb2.Envelope) -> envelope_pb2.Envelope:
    copy = clone(env)
    copy.payload = copy.payload.replace(b"Wanjiru", b"Wanjiro")
    return copy


# --- JSON ------------------------------------------------------------------------------------------


def _payload_as_attestation(payload: bytes, payload_type: str) -> dict[str, object] | None:
    att = attestation_pb2.AttestationV2() if payload_type == ATTESTATION_V2_TYPE else attestation_pb2.Attestation()
    try:
        att.ParseFromString(payload)
        return json_format.MessageToDict(att, preserving_proto_field_name=True)
    except (DecodeError, json_format.SerializeToJsonError):  # no parse, or no proto3 JSON form
        return None


def _stored(env: envelope_pb2.Envelope) -> dict[str, object]:
    held = attestation_pb2.Attestation.FromString(env.payload)
    # A decimal string, as proto3's JSON mapping writes a uint64: exact in every JSON parser.
    return {"credential_id": held.credential_id, "version": str(held.version), "envelope": envelope_to_json(env)}


def to_json(v: Vector) -> dict[str, object]:
    out: dict[str, object] = {
        "description": v.description,
        "expected": v.expected,
        "envelope": None if v.wire is not None else v.envelope_json or envelope_to_json(v.envelope),
        "envelope_wire": None if v.wire is None else base64.b64encode(v.wire).decode(),
        "record_key": v.record_key,
        "appended_at": rfc3339(v.appended_at),
        "stored": None if v.stored is None else _stored(v.stored),
        "keys": [key_entry(key) for key in TRUSTED_KEYS],
        "issuers": ISSUERS,
        "attestation": _payload_as_attestation(v.envelope.payload, v.envelope.payloadType),
        "disclosures": None if v.disclosures is None else list(v.disclosures),
    }
    return out


def render() -> dict[str, str]:
    """Return every vector file's name and exact text."""
    files: dict[str, str] = {}
    for v in all_vectors():
        name = v.name + ".json"
        if name in files:
            raise ValueError("two vectors named %s" % v.name)
        files[name] = json.dumps(to_json(v), indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with tests/vectors/ instead of writing")
    args = parser.parse_args(argv)
    files = render()
    existing = {p.name: p.read_text(encoding="utf-8") for p in sorted(VECTORS_DIR.glob("*.json"))}
    if args.check:
        differing = sorted(n for n in set(files) | set(existing) if files.get(n) != existing.get(n))
        for name in differing:
            print("differs: tests/vectors/%s" % name)
        return 1 if differing else 0
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(existing) - set(files)):
        (VECTORS_DIR / name).unlink()
        print("removed tests/vectors/%s" % name)
    for name, text in files.items():
        if existing.get(name) != text:
            (VECTORS_DIR / name).write_text(text, encoding="utf-8")
            print("wrote tests/vectors/%s" % name)
    print("%d vectors in %s" % (len(files), VECTORS_DIR.relative_to(ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
