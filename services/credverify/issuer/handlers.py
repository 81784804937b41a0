"""Issuer handlers: sign attestations and publish them, reporting only confirmed deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from credverify.core.attestation import sign_attestation
from credverify.core.envelope import ATTESTATION_TYPE, Signer
from credverify.core.kafka_io import ConfirmingProducer, Delivery, OutgoingRecord
from credverify.core.topics import Topics
from credverify.issuer.domain import IssueAttestation, build_attestation
from credverify.v1 import attestation_pb2, envelope_pb2


@dataclass(frozen=True)
class AttestationIssued:
    """Event: the broker confirmed this attestation (``delivery.confirmed``) or refused it."""

    credential_id: str
    version: int
    envelope: envelope_pb2.Envelope
    delivery: Delivery


SignedAttestation = tuple[attestation_pb2.Attestation, envelope_pb2.Envelope]


def sign_all(commands: Sequence[IssueAttestation], *, signer: Signer, now: dt.datetime) -> list[SignedAttestation]:
    """Validate and sign every command, touching no network. Raises InvalidInput for the first bad one,
    so that nothing of a batch is published when any of it is wrong."""
    signed = []
    for cmd in commands:
        att = build_attestation(cmd, now=now)
        signed.append((att, sign_attestation(att, signer=signer)))
    return signed


def publish(signed: Sequence[SignedAttestation], *, producer: ConfirmingProducer, topics: Topics
            ) -> list[AttestationIssued]:
    """Publish signed attestations keyed by credential id; return one event per attestation."""
    deliveries = producer.publish(
        OutgoingRecord(
            topic=topics.attestations,
            key=att.credential_id.encode(),
            value=envelope.SerializeToString(),
            payload_type=ATTESTATION_TYPE,
        )
        for att, envelope in signed
    )
    return [
        AttestationIssued(att.credential_id, att.version, envelope, delivery)
        for (att, envelope), delivery in zip(signed, deliveries, strict=True)
    ]


def issue(
    commands: Sequence[IssueAttestation],
    *,
    signer: Signer,
    producer: ConfirmingProducer,
    topics: Topics,
    now: dt.datetime,
) -> list[AttestationIssued]:
    """Sign every command (InvalidInput stops all before anything is sent), then publish them."""
    return publish(sign_all(commands, signer=signer, now=now), producer=producer, topics=topics)
