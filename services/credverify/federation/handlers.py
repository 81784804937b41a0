"""The federation operator's work as plain functions: admit an issuer, change its record, publish it.

Each handler takes the current trust list (read by the caller), the root key, a publisher and the
clock, and returns the event of what was published; nothing here opens a connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from credverify.core.envelope import ISSUER_RECORD_TYPE, Signer
from credverify.core.errors import DeliveryFailed, InvalidInput
from credverify.core.publishing import OutgoingRecord, Publisher
from credverify.core.topics import Topics
from credverify.core.trust import TrustList, sign_issuer_record
from credverify.federation.domain import RegisterIssuer, build_issuer_record
from credverify.v1 import trust_pb2

# A change of an issuer's current record into its next version (see federation.domain).
RecordChange = Callable[[trust_pb2.IssuerRecord], trust_pb2.IssuerRecord]


@dataclass(frozen=True)
class IssuerRecordPublished:
    record: trust_pb2.IssuerRecord
    partition: int | None
    offset: int | None


def publish_issuer_record(record: trust_pb2.IssuerRecord, *, root: Signer, publisher: Publisher,
                          topics: Topics) -> IssuerRecordPublished:
    """Sign ``record`` with the root key and publish it keyed by issuer id.
    Raises DeliveryFailed when the hub does not confirm it."""
    envelope = sign_issuer_record(record, root=root)
    [delivery] = publisher.publish([OutgoingRecord(
        topic=topics.trust_list,
        key=record.issuer_id.encode(),
        value=envelope.SerializeToString(),
        payload_type=ISSUER_RECORD_TYPE,
    )])
    if not delivery.confirmed:
        raise DeliveryFailed("issuer record %s version %d not confirmed: %s" % (
            record.issuer_id, record.version, delivery.error))
    return IssuerRecordPublished(record, delivery.partition, delivery.offset)


def register_issuer(cmd: RegisterIssuer, *, root: Signer, publisher: Publisher, topics: Topics,
                    now: dt.datetime) -> IssuerRecordPublished:
    """Admit the issuer ``cmd`` describes. Raises InvalidInput for a bad field, DeliveryFailed."""
    return publish_issuer_record(build_issuer_record(cmd, now=now), root=root, publisher=publisher, topics=topics)


def change_issuer(issuer_id: str, change: RecordChange, *, trust: TrustList, root: Signer, publisher: Publisher,
                  topics: Topics) -> IssuerRecordPublished:
    """Publish the next version of ``issuer_id``'s current record, made by ``change``.
    Raises InvalidInput when the trust list holds no record of that issuer, DeliveryFailed."""
    current = trust.issuer(issuer_id)
    if current is None:
        raise InvalidInput("issuer-id: the trust list holds no record for %r; register it first" % issuer_id)
    return publish_issuer_record(change(current), root=root, publisher=publisher, topics=topics)
