"""`credverify issuer`: a source council's commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import cast

from credverify.cli import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.errors import InvalidInput
from credverify.core.kafka_io import ConfirmingProducer, ensure_topics
from credverify.core.keys import generate_key_file, load_signer, public_jwk, public_key_path, public_pem
from credverify.core.settings import KafkaSettings
from credverify.issuer.domain import IssueAttestation
from credverify.issuer.handlers import publish, sign_all
from credverify.v1 import common_pb2


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="create an Ed25519 signing key")
    keygen.add_argument("--key", type=Path, required=True, help="private key file to create (0600)")
    keygen.set_defaults(handler=_keygen)

    export = commands.add_parser("export-public", help="print the public key as PEM or JWK")
    export.add_argument("--key", type=Path, required=True)
    export.add_argument("--format", choices=["pem", "jwk"], default="pem")
    export.set_defaults(handler=_export_public)

    one = commands.add_parser("issue", help="sign and publish one attestation")
    one.add_argument("--key", type=Path, required=True, help="the issuer's private key file")
    one.add_argument("--issuer-id", required=True)
    one.add_argument("--jurisdiction", required=True, help="ISO 3166-1 alpha-2 country of the issuer")
    one.add_argument("--number", required=True, help="local credential number (credential id = ISSUER/NUMBER)")
    one.add_argument("--kind", default="LICENCE", help="LICENCE, DIPLOMA or GOOD_STANDING")
    one.add_argument("--practitioner-number", required=True)
    one.add_argument("--family-name", required=True)
    one.add_argument("--given-names", default="")
    one.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    one.add_argument("--trained-in", required=True, help="country of training, ISO 3166-1 alpha-2")
    one.add_argument("--isco", required=True, help="ISCO-08 unit group, e.g. 2221")
    one.add_argument("--status", default="ACTIVE",
                     help="ACTIVE, SUSPENDED, REVOKED, LAPSED or ACTIVE_WITH_CONDITIONS")
    one.add_argument("--status-reason", default="")
    one.add_argument("--condition", action="append", default=[], help="a condition on practice (repeatable)")
    one.add_argument("--valid-from", help="YYYY-MM-DD")
    one.add_argument("--valid-until", help="YYYY-MM-DD")
    one.add_argument("--version", type=int, help="explicit version (default: issuing time in microseconds)")
    add_kafka_argument(one)
    one.set_defaults(handler=_issue_one)


def parse_date(field: str, text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("%s: expected YYYY-MM-DD, found %r" % (field, text)) from exc


def parse_kind(text: str) -> common_pb2.CredentialKind:
    try:
        value = common_pb2.CredentialKind.Value("CREDENTIAL_KIND_" + text.strip().upper())
        return cast(common_pb2.CredentialKind, value)
    except ValueError as exc:
        raise InvalidInput("kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found %r" % text) from exc


def parse_status(text: str) -> common_pb2.CredentialStatus:
    try:
        value = common_pb2.CredentialStatus.Value("CREDENTIAL_STATUS_" + text.strip().upper())
        return cast(common_pb2.CredentialStatus, value)
    except ValueError as exc:
        raise InvalidInput(
            "status: expected ACTIVE, SUSPENDED, REVOKED, LAPSED or ACTIVE_WITH_CONDITIONS, found %r" % text
        ) from exc


def _keygen(args: argparse.Namespace) -> int:
    signer = generate_key_file(args.key)
    print("issuer key %s\nkeyid %s\npublic key %s (send it to the federation operator)" % (
        args.key, signer.keyid, public_key_path(args.key)))
    return EXIT_OK


def _export_public(args: argparse.Namespace) -> int:
    public = load_signer(args.key).private_key.public_key()
    print(public_pem(public).strip() if args.format == "pem" else json.dumps(public_jwk(public), indent=2))
    return EXIT_OK


def _issue_one(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    dob = parse_date("dob", args.dob)
    assert dob is not None
    cmd = IssueAttestation(
        issuer_id=args.issuer_id,
        jurisdiction=args.jurisdiction,
        local_number=args.number,
        kind=parse_kind(args.kind),
        practitioner_number=args.practitioner_number,
        family_name=args.family_name,
        given_names=args.given_names,
        date_of_birth=dob,
        country_of_training=args.trained_in,
        profession_isco=args.isco,
        status=parse_status(args.status),
        status_reason=args.status_reason,
        conditions=tuple(args.condition),
        valid_from=parse_date("valid-from", args.valid_from),
        valid_until=parse_date("valid-until", args.valid_until),
        version=args.version,
    )
    signed = sign_all([cmd], signer=load_signer(args.key), now=dt.datetime.now(dt.UTC))
    ensure_topics(settings.bootstrap_servers, settings.topics, only=[settings.topics.attestations])
    producer = ConfirmingProducer(settings.bootstrap_servers, client_id="credverify-issuer")
    try:
        [event] = publish(signed, producer=producer, topics=settings.topics)
    finally:
        producer.close()
    if not event.delivery.confirmed:
        print("NOT CONFIRMED %s: %s" % (event.credential_id, event.delivery.error))
        return EXIT_PARTIAL
    print("delivered %s version %d to %s[%s]@%s" % (
        event.credential_id, event.version, settings.topics.attestations,
        event.delivery.partition, event.delivery.offset))
    return EXIT_OK
