"""DSSE v1 envelopes: PAE, Ed25519 signing and signature checks.

Wire-compatible with secure-systems-lab/dsse: the signature covers
PAE(payloadType, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body,
lengths as ASCII decimal. Nothing here parses a payload: callers parse only
after ``verify_signature`` has returned.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from google.protobuf.message import DecodeError

from credverify.core.errors import Malformed, Untrusted
from credverify.core.wire import WireError, check_wire
from credverify.v1 import common_pb2, envelope_pb2

ATTESTATION_TYPE = "application/vnd.credverify.attestation.v1+protobuf"
ISSUER_RECORD_TYPE = "application/vnd.credverify.issuer-record.v1+protobuf"
# Far above any real attestation (a few hundred bytes) yet small enough that a
# hostile record cannot make a registry allocate much.
MAX_ENVELOPE_BYTES = 64 * 1024
# An issuer signs with one key, two during a rotation; 16 leaves room for co-signing and stops an
# envelope within 64 KiB from carrying thousands of short keyids for a verifier to look up.
MAX_SIGNATURES = 16
# A keyid is 64 hex characters (SHA-256); DSSE allows other forms, none longer than this.
MAX_KEYID_CHARS = 256
# Base64 in the JSON form (spec 2): DSSE lets producers use either alphabet, so a reader takes the
# standard one (RFC 4648 section 4) or the URL-safe one (section 5), one per value, padded or not.
_BASE64_STANDARD = re.compile(r"[A-Za-z0-9+/]*")
_BASE64_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return DSSE's Pre-Authentication Encoding of ``payload_type`` and ``payload``."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def keyid_of(key: Ed25519PublicKey | bytes) -> str:
    """Return the keyid: lowercase hex SHA-256 of the 32-byte raw public key."""
    raw = key if isinstance(key, bytes) else raw_public_key(key)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Signer:
    """A private key and its keyid; the only thing that can make signatures."""

    private_key: Ed25519PrivateKey

    @functools.cached_property
    def keyid(self) -> str:
        return keyid_of(self.private_key.public_key())

    def sign(self, payload_type: str, payload: bytes) -> envelope_pb2.Envelope:
        """Return an envelope holding ``payload`` and one signature over its PAE."""
        signature = self.private_key.sign(pae(payload_type, payload))
        return envelope_pb2.Envelope(
            payload=payload,
            payloadType=payload_type,
            signatures=[envelope_pb2.Signature(sig=signature, keyid=self.keyid)],
        )


def parse_envelope(data: bytes) -> envelope_pb2.Envelope:
    """Parse wire bytes into an Envelope. Raises Malformed for anything else."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise Malformed(
            "envelope of %d bytes exceeds the limit of %d" % (len(data), MAX_ENVELOPE_BYTES),
            reason=common_pb2.REASON_OVERSIZED,
        )
    envelope = envelope_pb2.Envelope()
    try:
        envelope.ParseFromString(data)
        check_wire(data, envelope_pb2.Envelope.DESCRIPTOR)
    except (DecodeError, WireError) as exc:
        raise Malformed("not a DSSE envelope: %s" % exc) from exc
    if not envelope.payloadType or not envelope.signatures:
        raise Malformed("envelope has no payloadType or no signatures")
    if len(envelope.signatures) > MAX_SIGNATURES:
        raise Malformed("envelope: expected at most %d signatures, found %d" % (MAX_SIGNATURES,
                                                                               len(envelope.signatures)))
    longest = max(len(signature.keyid) for signature in envelope.signatures)
    if longest > MAX_KEYID_CHARS:
        raise Malformed("envelope: expected keyids of at most %d characters, found one of %d" % (
            MAX_KEYID_CHARS, longest))
    return envelope


def verify_signature(
    envelope: envelope_pb2.Envelope, *, expected_type: str, keys: Mapping[str, Ed25519PublicKey]
) -> str:
    """Check that some signature verifies with one of ``keys`` (by keyid).

    Returns the keyid that verified. Raises Untrusted(REASON_PAYLOAD_TYPE_UNSUPPORTED)
    for another payload type, Untrusted(REASON_SIGNATURE_INVALID) when no signature
    by a listed key checks out. An empty key set never verifies anything.
    """
    if envelope.payloadType != expected_type:
        raise Untrusted(
            common_pb2.REASON_PAYLOAD_TYPE_UNSUPPORTED,
            "expected payloadType %s, found %r" % (expected_type, envelope.payloadType[:100]),
        )
    message = pae(envelope.payloadType, envelope.payload)
    tried = []
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        if key is None:
            tried.append(signature.keyid[:16] or "(empty keyid)")
            continue
        try:
            key.verify(signature.sig, message)
        except InvalidSignature:
            tried.append(signature.keyid[:16])
            continue
        return signature.keyid
    raise Untrusted(
        common_pb2.REASON_SIGNATURE_INVALID,
        "no signature verifies with a trusted key (keyids tried: %s)" % ", ".join(tried),
    )


def envelope_to_json(envelope: envelope_pb2.Envelope) -> dict[str, object]:
    """Return DSSE's JSON form: payload and sig in standard base64."""
    return {
        "payload": base64.b64encode(envelope.payload).decode(),
        "payloadType": envelope.payloadType,
        "signatures": [
            {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in envelope.signatures
        ],
    }


def envelope_from_json(data: str | dict[str, object]) -> envelope_pb2.Envelope:
    """Parse DSSE's JSON form. Raises Malformed."""
    try:
        obj = json.loads(data) if isinstance(data, str) else data
        assert isinstance(obj, dict)
        signatures = obj["signatures"]
        assert isinstance(signatures, list)
        return envelope_pb2.Envelope(
            payload=decode_base64(obj["payload"]),
            payloadType=str(obj["payloadType"]),
            signatures=[
                envelope_pb2.Signature(
                    sig=decode_base64(s["sig"]), keyid=str(s.get("keyid", ""))
                )
                for s in signatures
            ],
        )
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        raise Malformed("not a DSSE JSON envelope: %s" % exc) from exc


def decode_base64(text: object) -> bytes:
    """Return the bytes of a base64 value of the JSON form (spec 2). Raises ValueError for anything
    but the standard or the URL-safe alphabet (not both in one value), with correct ``=`` padding or
    none, and unused bits zero (so that each byte string has one text per alphabet)."""
    if not isinstance(text, str):
        raise ValueError("base64: expected a string, found %s" % type(text).__name__)
    digits = _unpadded_base64(text)
    standard = _BASE64_STANDARD.fullmatch(digits) is not None
    if not standard and _BASE64_URLSAFE.fullmatch(digits) is None:
        raise ValueError("base64: expected the standard or the URL-safe alphabet, found another character")
    padded = digits + "=" * (-len(digits) % 4)
    decoded = base64.b64decode(padded) if standard else base64.urlsafe_b64decode(padded)
    again = (base64.b64encode(decoded) if standard else base64.urlsafe_b64encode(decoded)).decode()
    if again.rstrip("=") != digits:
        raise ValueError("base64: the unused bits of the last character are not zero")
    return decoded


def _unpadded_base64(text: str) -> str:
    """Return ``text`` without its padding. Raises ValueError for wrong padding or length."""
    digits = text.rstrip("=")
    padding = len(text) - len(digits)
    if padding and (padding > 2 or len(text) % 4):
        raise ValueError("base64: wrong padding, %d '=' after %d characters" % (padding, len(digits)))
    if len(digits) % 4 == 1:
        raise ValueError("base64: %d characters cannot end a value" % len(digits))
    return digits
