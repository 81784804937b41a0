"""The federation operator's work: a root key, and one signed IssuerRecord per issuer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credverify.core.codes import check_country, check_isco
from credverify.core.envelope import ISSUER_RECORD_TYPE, Signer, keyid_of, raw_public_key
from credverify.core.errors import InvalidInput
from credverify.core.kafka_io import ConfirmingProducer, Delivery, OutgoingRecord
from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import sign_issuer_record
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


def publish_issuer_record(
    record: trust_pb2.IssuerRecord, *, root: Signer, producer: ConfirmingProducer, topics: Topics
) -> Delivery:
    """Sign ``record`` with the root key and publish it keyed by issuer id; return the delivery."""
    envelope = sign_issuer_record(record, root=root)
    return producer.publish_one(
        OutgoingRecord(
            topic=topics.trust_list,
            key=record.issuer_id.encode(),
            value=envelope.SerializeToString(),
            payload_type=ISSUER_RECORD_TYPE,
        )
    )
