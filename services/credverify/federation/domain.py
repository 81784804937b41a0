"""The federation operator's rules: what an IssuerRecord says and how each change makes its next version.

Pure: no clock (``now`` is passed in), no I/O. The handlers sign and publish what these return.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credverify.core.codes import check_country, check_isco
from credverify.core.envelope import keyid_of, raw_public_key
from credverify.core.errors import InvalidInput
from credverify.core.timefmt import from_timestamp, to_timestamp
from credverify.v1 import common_pb2, trust_pb2


@dataclass(frozen=True)
class RegisterIssuer:
    """Order: admit an issuer to the trust list (or replace its record) with these keys and scope."""

    issuer_id: str
    country: str
    display_name: str
    credential_kinds: tuple[common_pb2.CredentialKind, ...]
    professions_isco: tuple[str, ...]
    public_keys: tuple[Ed25519PublicKey, ...]


def build_issuer_record(cmd: RegisterIssuer, *, now: dt.datetime) -> trust_pb2.IssuerRecord:
    """Return the IssuerRecord for ``cmd``. Raises InvalidInput naming the bad field.

    The version is the issuing time in microseconds: monotonic without keeping
    state, as long as the operator's clock does not run backwards.
    """
    if not cmd.issuer_id or "/" in cmd.issuer_id:
        raise InvalidInput("issuer_id: expected a non-empty id without '/', found %r" % cmd.issuer_id)
    check_country("country", cmd.country)
    for isco in cmd.professions_isco:
        check_isco("professions_isco", isco)
    if not cmd.credential_kinds:
        raise InvalidInput("credential_kinds: an issuer must be allowed at least one kind")
    if not cmd.public_keys:
        raise InvalidInput("public_keys: an issuer needs at least one key")
    return trust_pb2.IssuerRecord(
        issuer_id=cmd.issuer_id,
        version=int(now.timestamp() * 1_000_000),
        country=cmd.country,
        display_name=cmd.display_name,
        credential_kinds=list(cmd.credential_kinds),
        professions_isco=list(cmd.professions_isco),
        keys=[
            trust_pb2.IssuerKey(
                keyid=keyid_of(key), public_key=raw_public_key(key), not_before=to_timestamp(now)
            )
            for key in cmd.public_keys
        ],
        issued_at=to_timestamp(now),
    )


def _next_record(current: trust_pb2.IssuerRecord, *, now: dt.datetime) -> trust_pb2.IssuerRecord:
    record = trust_pb2.IssuerRecord()
    record.CopyFrom(current)
    record.version = max(int(now.timestamp() * 1_000_000), current.version + 1)
    record.issued_at.CopyFrom(to_timestamp(now))
    return record


def _key_entry(record: trust_pb2.IssuerRecord, keyid: str) -> trust_pb2.IssuerKey:
    for key in record.keys:
        if key.keyid == keyid or (len(keyid) >= 8 and key.keyid.startswith(keyid)):
            return key
    raise InvalidInput("keyid: issuer %s lists no key %r (it lists %s)" % (
        record.issuer_id, keyid, ", ".join(k.keyid[:16] for k in record.keys)))


def rotate_key(current: trust_pb2.IssuerRecord, new_key: Ed25519PublicKey, *, now: dt.datetime,
               retire_at: dt.datetime | None = None) -> trust_pb2.IssuerRecord:
    """Return the next version of ``current`` with ``new_key`` valid from ``now`` and every other
    open-ended key given ``not_after = retire_at`` (default ``now``).

    What an old key signed before its not_after stays valid; after it, registries refuse it
    (KEY_NOT_VALID). Raises InvalidInput when the key is listed already or retire_at is in the past
    of an old key's start.
    """
    keyid = keyid_of(new_key)
    if any(k.keyid == keyid for k in current.keys):
        raise InvalidInput("new key %s is listed for %s already" % (keyid[:16], current.issuer_id))
    retire = retire_at or now
    record = _next_record(current, now=now)
    for key in record.keys:
        if not key.HasField("not_after") and not key.HasField("compromised_at"):
            if key.HasField("not_before") and from_timestamp(key.not_before) > retire:
                raise InvalidInput("retire_at: key %s only starts at %s" % (
                    key.keyid[:16], from_timestamp(key.not_before).isoformat()))
            key.not_after.CopyFrom(to_timestamp(retire))
    record.keys.append(
        trust_pb2.IssuerKey(keyid=keyid, public_key=raw_public_key(new_key), not_before=to_timestamp(now))
    )
    return record


def report_compromise(current: trust_pb2.IssuerRecord, keyid: str, *, compromised_at: dt.datetime,
                      now: dt.datetime) -> trust_pb2.IssuerRecord:
    """Return the next version of ``current`` listing key ``keyid`` (or a unique prefix of at least 8
    hex digits) as compromised from ``compromised_at``: registries refuse what it signed at or after that
    instant (KEY_REVOKED), and re-judge what they hold. An earlier instant than one already reported
    wins; a later one is refused, because it would re-admit signatures."""
    record = _next_record(current, now=now)
    key = _key_entry(record, keyid)
    if key.HasField("compromised_at") and from_timestamp(key.compromised_at) <= compromised_at:
        raise InvalidInput("key %s is reported compromised from %s already; a later instant would re-admit "
                           "what it signed in between" % (key.keyid[:16], from_timestamp(key.compromised_at)))
    key.compromised_at.CopyFrom(to_timestamp(compromised_at))
    return record


def change_scope(current: trust_pb2.IssuerRecord, *, now: dt.datetime,
                 credential_kinds: tuple[common_pb2.CredentialKind, ...] | None = None,
                 professions_isco: tuple[str, ...] | None = None) -> trust_pb2.IssuerRecord:
    """Return the next version of ``current`` with the scope replaced where given. Registries re-judge
    the issuer's attestations against the new scope."""
    record = _next_record(current, now=now)
    if credential_kinds is not None:
        if not credential_kinds:
            raise InvalidInput("credential_kinds: an issuer must be allowed at least one kind")
        del record.credential_kinds[:]
        record.credential_kinds.extend(credential_kinds)
    if professions_isco is not None:
        if not professions_isco:
            raise InvalidInput("professions_isco: an issuer must be allowed at least one profession")
        for isco in professions_isco:
            check_isco("professions_isco", isco)
        del record.professions_isco[:]
        record.professions_isco.extend(professions_isco)
    return record
