"""The federation operator's work as plain functions: admit an issuer, change its record, publish it.

Each handler takes the current trust list (read by the caller), the root key, a publisher and the
clock, and returns the event of what was published; nothing here opens a connection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from credverify.core.envelope import ISSUER_RECORD_TYPE, Signer
from credverify.core.errors import DeliveryFailed, InvalidInput
from credverify.core.publishing import OutgoingRecord, Publisher
from credverify.core.topics import Topics
from credverify.core.trust import TrustList, sign_issuer_record
from credverify.federation.access import Access, check_issuer_id
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


class HubAccess(Protocol):
    """The hub's principals, grants and topics (KafkaHubAdmin on a real hub)."""

    def set_credential(self, name: str, password: str) -> None: ...
    def delete_credential(self, name: str) -> bool: ...
    def grant(self, access: Access) -> None: ...
    def revoke(self, principal: str) -> int: ...
    def ensure_topic(self, name: str, spec: dict[str, object]) -> bool: ...


@dataclass(frozen=True)
class AccessGranted:
    access: Access
    credential_set: bool


@dataclass(frozen=True)
class AccessRevoked:
    principal: str
    acls_removed: int
    credential_removed: bool


def grant_access(access: Access, *, hub: HubAccess, password: str | None) -> AccessGranted:
    """Grant ``access`` its ACLs and, with ``password``, set its SCRAM credential (replacing any)."""
    hub.grant(access)
    if password is not None:
        hub.set_credential(access.name, password)
    return AccessGranted(access, password is not None)


def revoke_access(name: str, *, hub: HubAccess) -> AccessRevoked:
    """Remove every ACL of ``name`` and its credential: its next request is refused. A connection it
    authenticated earlier stays open but may do nothing, since every request is checked against ACLs."""
    principal = "User:" + name
    removed = hub.revoke(principal)
    return AccessRevoked(principal, removed, hub.delete_credential(name))


def register_issuer(cmd: RegisterIssuer, *, trust: TrustList, root: Signer, publisher: Publisher, topics: Topics,
                    now: dt.datetime, hub: HubAccess | None = None, council: Access | None = None,
                    password: str | None = None) -> IssuerRecordPublished:
    """Admit the issuer ``cmd`` describes: its submission topic and hub access (``council`` granted on
    ``hub``, when given), then its signed record. Raises InvalidInput for a bad field or an issuer the
    trust list holds already (re-registering would reset its keys' validity and forget a compromise:
    rotate-key, set-scope and report-compromise change a record), DeliveryFailed."""
    check_issuer_id(cmd.issuer_id)
    record = build_issuer_record(cmd, now=now)
    if trust.issuer(cmd.issuer_id) is not None:
        raise InvalidInput("issuer-id: %s is on the trust list already; change its record with rotate-key, "
                           "set-scope or report-compromise" % cmd.issuer_id)
    if hub is not None and council is not None:
        hub.ensure_topic(topics.submissions(cmd.issuer_id), topics.submissions_spec())
        grant_access(council, hub=hub, password=password)
    return publish_issuer_record(record, root=root, publisher=publisher, topics=topics)


def change_issuer(issuer_id: str, change: RecordChange, *, trust: TrustList, root: Signer, publisher: Publisher,
                  topics: Topics) -> IssuerRecordPublished:
    """Publish the next version of ``issuer_id``'s current record, made by ``change``.
    Raises InvalidInput when the trust list holds no record of that issuer, DeliveryFailed."""
    current = trust.issuer(issuer_id)
    if current is None:
        raise InvalidInput("issuer-id: the trust list holds no record for %r; register it first" % issuer_id)
    return publish_issuer_record(change(current), root=root, publisher=publisher, topics=topics)
