"""The trust list: which issuers exist, which keys they sign with, what they may attest.

A federation root key signs one IssuerRecord per issuer. Registries learn the
root public keys out of band (a file) and accept an issuer record only when a
root signature verifies; a record with a lower version than the one held is a
replay and is ignored.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError

from credverify.core.envelope import ISSUER_RECORD_TYPE, Signer, keyid_of, parse_envelope, verify_signature
from credverify.core.errors import ConfigurationError, Malformed, Untrusted
from credverify.core.keys import load_public_key, public_key_from_raw
from credverify.core.timefmt import from_timestamp
from credverify.v1 import common_pb2, envelope_pb2, trust_pb2


@dataclass(frozen=True)
class RootKeys:
    """Federation root public keys by keyid. Never empty: an empty trust set must fail, not pass."""

    keys: dict[str, Ed25519PublicKey]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError("no federation root keys configured: nothing could ever be trusted")

    @classmethod
    def from_pem_files(cls, paths: list[str]) -> RootKeys:
        keys: dict[str, Ed25519PublicKey] = {}
        for path in paths:
            try:
                with open(path, "rb") as handle:
                    key = load_public_key(handle.read())
            except OSError as exc:
                raise ConfigurationError("cannot read root key %s: %s" % (path, exc.strerror)) from exc
            keys[keyid_of(key)] = key
        return cls(keys)


@dataclass(frozen=True)
class VerifiedIssuerRecord:
    """An IssuerRecord whose root signature has been checked. Only ``verify_issuer_record`` makes one."""

    record: trust_pb2.IssuerRecord
    envelope_bytes: bytes
    root_keyid: str


def sign_issuer_record(record: trust_pb2.IssuerRecord, *, root: Signer) -> envelope_pb2.Envelope:
    """Return the DSSE envelope of ``record`` signed by the federation ``root`` key."""
    return root.sign(ISSUER_RECORD_TYPE, record.SerializeToString(deterministic=True))


def verify_issuer_record(data: bytes, *, roots: RootKeys) -> VerifiedIssuerRecord:
    """Verify the bytes of an issuer-record envelope against the root keys, then parse it.

    Raises Malformed or Untrusted (reason TRUST_LIST_INVALID for a bad root signature).
    """
    envelope = parse_envelope(data)
    try:
        root_keyid = verify_signature(envelope, expected_type=ISSUER_RECORD_TYPE, keys=roots.keys)
    except Untrusted as exc:
        if exc.reason == common_pb2.REASON_SIGNATURE_INVALID:
            raise Untrusted(common_pb2.REASON_TRUST_LIST_INVALID, "issuer record: " + exc.detail) from exc
        raise
    record = trust_pb2.IssuerRecord()
    try:
        record.ParseFromString(envelope.payload)
    except DecodeError as exc:
        raise Malformed("signed issuer record does not parse: %s" % exc) from exc
    if not record.issuer_id or record.version == 0:
        raise Malformed("issuer record lacks issuer_id or version")
    for key in record.keys:
        if len(key.public_key) != 32 or keyid_of(key.public_key) != key.keyid:
            raise Malformed("issuer record %s lists key %r whose keyid does not match it" % (
                record.issuer_id, key.keyid[:16]))
    return VerifiedIssuerRecord(record=record, envelope_bytes=data, root_keyid=root_keyid)


@dataclass(frozen=True)
class TrustedKey:
    issuer_id: str
    public_key: Ed25519PublicKey
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    compromised_at: dt.datetime | None


def _optional_time(record_key: trust_pb2.IssuerKey, name: str) -> dt.datetime | None:
    return from_timestamp(getattr(record_key, name)) if record_key.HasField(name) else None


# Epochs of trust lists are process-wide and only grow, so "checked against epoch N" names one list.
_epochs = itertools.count(1)


@dataclass(frozen=True)
class TrustList:
    """The current issuer records, indexed by issuer and by keyid. Immutable: ``applied`` returns a
    new list with a higher ``epoch``, so a reader on another thread holds one list or the next, never
    a half-applied one, and ``epoch`` alone tells whether something was checked against this list."""

    issuers: Mapping[str, VerifiedIssuerRecord] = field(default_factory=dict)
    epoch: int = field(default_factory=lambda: next(_epochs))
    _keys: Mapping[str, TrustedKey] = field(default_factory=dict, repr=False)
    _public_keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, records: Iterable[VerifiedIssuerRecord]) -> TrustList:
        """Return the list holding the newest of ``records`` per issuer."""
        trust = cls()
        for verified in records:
            trust = trust.applied(verified)
        return trust

    def newer(self, verified: VerifiedIssuerRecord) -> bool:
        """True when ``verified`` has a higher version than the record held for its issuer."""
        held = self.issuers.get(verified.record.issuer_id)
        return held is None or held.record.version < verified.record.version

    def applied(self, verified: VerifiedIssuerRecord) -> TrustList:
        """Return the list with ``verified`` adopted, or this very list when its version is not newer."""
        if not self.newer(verified):
            return self
        issuers = dict(self.issuers)
        issuers[verified.record.issuer_id] = verified
        keys: dict[str, TrustedKey] = {}
        for issuer_id, held in issuers.items():
            for key in held.record.keys:
                keys[key.keyid] = TrustedKey(
                    issuer_id=issuer_id,
                    public_key=public_key_from_raw(key.public_key),
                    not_before=_optional_time(key, "not_before"),
                    not_after=_optional_time(key, "not_after"),
                    compromised_at=_optional_time(key, "compromised_at"),
                )
        return TrustList(issuers=MappingProxyType(issuers), _keys=MappingProxyType(keys),
                         _public_keys=MappingProxyType({keyid: k.public_key for keyid, k in keys.items()}))

    def key(self, keyid: str) -> TrustedKey | None:
        return self._keys.get(keyid)

    def public_keys(self) -> Mapping[str, Ed25519PublicKey]:
        return self._public_keys

    def issuer(self, issuer_id: str) -> trust_pb2.IssuerRecord | None:
        verified = self.issuers.get(issuer_id)
        return verified.record if verified else None
