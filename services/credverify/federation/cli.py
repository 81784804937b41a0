"""`credverify trust`: the federation operator's commands."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from credverify.cli import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.codes import check_isco
from credverify.core.errors import InvalidInput
from credverify.core.kafka_io import ConfirmingProducer, ensure_topics
from credverify.core.keys import generate_key_file, load_public_key, load_signer, public_key_path
from credverify.core.settings import KafkaSettings
from credverify.federation.handlers import RegisterIssuer, build_issuer_record, publish_issuer_record
from credverify.issuer.cli import parse_kind
from credverify.v1 import common_pb2


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init-root", help="create a federation root key")
    init.add_argument("--key", type=Path, required=True, help="private key file to create (0600)")
    init.set_defaults(handler=_init_root)

    register = commands.add_parser("register-issuer", help="sign and publish an issuer record")
    register.add_argument("--root-key", type=Path, required=True)
    register.add_argument("--issuer-id", required=True, help="e.g. KE-NCK")
    register.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. KE")
    register.add_argument("--name", required=True, help="display name, e.g. 'Nursing Council of Kenya'")
    register.add_argument("--kinds", required=True, help="comma-separated: LICENCE,DIPLOMA,GOOD_STANDING")
    register.add_argument("--isco", required=True, help="comma-separated ISCO-08 unit groups, e.g. 2221,2222")
    register.add_argument("--issuer-public-key", type=Path, action="append", required=True,
                          help="the issuer's public key PEM (repeat for several)")
    add_kafka_argument(register)
    register.set_defaults(handler=_register_issuer)


def parse_kinds(text: str) -> tuple[common_pb2.CredentialKind, ...]:
    return tuple(parse_kind(part) for part in text.split(",") if part.strip())


def _init_root(args: argparse.Namespace) -> int:
    signer = generate_key_file(args.key)
    print("root key %s\nkeyid %s\npublic key %s (give this file to every registry)" % (
        args.key, signer.keyid, public_key_path(args.key)))
    return EXIT_OK


def _register_issuer(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    root = load_signer(args.root_key)
    keys = []
    for path in args.issuer_public_key:
        try:
            keys.append(load_public_key(path.read_bytes()))
        except OSError as exc:
            raise InvalidInput("issuer-public-key: cannot read %s: %s" % (path, exc.strerror)) from exc
    cmd = RegisterIssuer(
        issuer_id=args.issuer_id,
        country=args.country,
        display_name=args.name,
        credential_kinds=parse_kinds(args.kinds),
        professions_isco=tuple(check_isco("isco", p.strip()) for p in args.isco.split(",") if p.strip()),
        public_keys=tuple(keys),
    )
    record = build_issuer_record(cmd, now=dt.datetime.now(dt.UTC))
    ensure_topics(settings.bootstrap_servers, settings.topics, only=[settings.topics.trust_list])
    producer = ConfirmingProducer(settings.bootstrap_servers, client_id="credverify-trust")
    try:
        delivery = publish_issuer_record(record, root=root, producer=producer, topics=settings.topics)
    finally:
        producer.close()
    if not delivery.confirmed:
        print("NOT CONFIRMED issuer record %s: %s" % (record.issuer_id, delivery.error))
        return EXIT_PARTIAL
    print("published issuer record %s version %d (%d key(s)) to %s[%s]@%s" % (
        record.issuer_id, record.version, len(record.keys), settings.topics.trust_list,
        delivery.partition, delivery.offset))
    return EXIT_OK
