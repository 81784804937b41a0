"""`credverify trust`: the federation operator's commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from google.protobuf import json_format

from credverify.core.adapters.kafka import ConfirmingProducer, ensure_topics
from credverify.core.adapters.trust_reader import read_trust_list
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.codes import check_isco
from credverify.core.envelope import Signer, keyid_of
from credverify.core.errors import InvalidInput
from credverify.core.keys import generate_key_file, load_public_key, load_signer, public_key_path
from credverify.core.parsing import parse_kinds
from credverify.core.settings import KafkaSettings, read_passphrase
from credverify.core.timefmt import parse_instant
from credverify.core.trust import RootKeys
from credverify.federation.handlers import (
    RegisterIssuer,
    build_issuer_record,
    change_scope,
    publish_issuer_record,
    report_compromise,
    rotate_key,
)
from credverify.v1 import trust_pb2


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init-root", help="create a federation root key")
    init.add_argument("--key", type=Path, required=True, help="private key file to create (0600)")
    init.add_argument("--passphrase-file", type=Path, help="read the key passphrase from this file")
    init.add_argument("--prompt-passphrase", action="store_true", help="ask for the key passphrase")
    init.add_argument("--unencrypted", action="store_true", help="store the key in the clear (throwaway keys only)")
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

    rotate = commands.add_parser("rotate-key", help="add an issuer's new key; retire its current key(s)")
    _add_edit(rotate)
    rotate.add_argument("--new-public-key", type=Path, required=True, help="the issuer's new public key PEM")
    rotate.add_argument("--retire-at", help="when the old key(s) stop being valid, ISO 8601 (default: now); "
                                            "what they signed before stays valid")
    rotate.set_defaults(handler=_rotate_key)

    compromise = commands.add_parser("report-compromise", help="list an issuer's key as compromised from an instant")
    _add_edit(compromise)
    compromise.add_argument("--keyid", required=True, help="the keyid, or a unique prefix of 8+ hex digits")
    compromise.add_argument("--at", help="the instant of compromise, ISO 8601 (default: now); registries refuse "
                                         "what the key signed from then on")
    compromise.set_defaults(handler=_report_compromise)

    scope = commands.add_parser("set-scope", help="change what an issuer may attest")
    _add_edit(scope)
    scope.add_argument("--kinds", help="comma-separated: LICENCE,DIPLOMA,GOOD_STANDING")
    scope.add_argument("--isco", help="comma-separated ISCO-08 unit groups")
    scope.set_defaults(handler=_set_scope)

    show = commands.add_parser("show", help="print the current trust list (or one issuer's record) as JSON")
    show.add_argument("--root-public-key", type=Path, action="append", required=True)
    show.add_argument("--issuer-id", help="only this issuer")
    add_kafka_argument(show)
    show.set_defaults(handler=_show)


def _add_edit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root-key", type=Path, required=True)
    parser.add_argument("--issuer-id", required=True)
    add_kafka_argument(parser)


def _init_root(args: argparse.Namespace) -> int:
    passphrase = read_passphrase(file=args.passphrase_file, prompt=args.prompt_passphrase, confirm=True)
    signer = generate_key_file(args.key, passphrase=passphrase, unencrypted=args.unencrypted)
    print("root key %s\nkeyid %s\npublic key %s (give this file to every registry)" % (
        args.key, signer.keyid, public_key_path(args.key)))
    return EXIT_OK


def _register_issuer(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    root = load_signer(args.root_key, passphrase=read_passphrase())
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
    ensure_topics(settings, only=[settings.topics.trust_list])
    producer = ConfirmingProducer(settings, client_id="credverify-trust")
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


def _current_record(args: argparse.Namespace, root: Signer, settings: KafkaSettings) -> trust_pb2.IssuerRecord:
    roots = RootKeys({root.keyid: root.private_key.public_key()})
    record = read_trust_list(settings, roots=roots).issuer(args.issuer_id)
    if record is None:
        raise InvalidInput("issuer-id: the trust list holds no record for %r; register it first" % args.issuer_id)
    return record


def _publish(record: trust_pb2.IssuerRecord, root: Signer, settings: KafkaSettings, what: str) -> int:
    ensure_topics(settings, only=[settings.topics.trust_list])
    producer = ConfirmingProducer(settings, client_id="credverify-trust")
    try:
        delivery = publish_issuer_record(record, root=root, producer=producer, topics=settings.topics)
    finally:
        producer.close()
    if not delivery.confirmed:
        print("NOT CONFIRMED issuer record %s: %s" % (record.issuer_id, delivery.error))
        return EXIT_PARTIAL
    print("%s: issuer record %s version %d published to %s[%s]@%s" % (
        what, record.issuer_id, record.version, settings.topics.trust_list, delivery.partition, delivery.offset))
    return EXIT_OK


def _rotate_key(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    root = load_signer(args.root_key, passphrase=read_passphrase())
    try:
        new_key = load_public_key(args.new_public_key.read_bytes())
    except OSError as exc:
        raise InvalidInput("new-public-key: cannot read %s: %s" % (args.new_public_key, exc.strerror)) from exc
    now = dt.datetime.now(dt.UTC)
    record = rotate_key(_current_record(args, root, settings), new_key, now=now,
                        retire_at=parse_instant("retire-at", args.retire_at) if args.retire_at else None)
    return _publish(record, root, settings, "key %s added" % keyid_of(new_key)[:16])


def _report_compromise(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    root = load_signer(args.root_key, passphrase=read_passphrase())
    at = parse_instant("at", args.at) if args.at else dt.datetime.now(dt.UTC)
    record = report_compromise(_current_record(args, root, settings), args.keyid.lower(), compromised_at=at,
                               now=dt.datetime.now(dt.UTC))
    return _publish(record, root, settings, "key %s compromised from %s" % (args.keyid[:16], at.isoformat()))


def _set_scope(args: argparse.Namespace) -> int:
    if not args.kinds and not args.isco:
        raise InvalidInput("give --kinds, --isco or both")
    settings = KafkaSettings.from_env(args.bootstrap)
    root = load_signer(args.root_key, passphrase=read_passphrase())
    record = change_scope(
        _current_record(args, root, settings), now=dt.datetime.now(dt.UTC),
        credential_kinds=parse_kinds(args.kinds) if args.kinds else None,
        professions_isco=tuple(p.strip() for p in args.isco.split(",") if p.strip()) if args.isco else None,
    )
    return _publish(record, root, settings, "scope changed")


def _show(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    roots = RootKeys.from_pem_files([str(p) for p in args.root_public_key])
    trust = read_trust_list(settings, roots=roots)
    records = [trust.issuer(args.issuer_id)] if args.issuer_id else [
        trust.issuer(i) for i in sorted(trust.issuers)]
    if args.issuer_id and records[0] is None:
        raise InvalidInput("issuer-id: the trust list holds no record for %r" % args.issuer_id)
    print(json.dumps([json_format.MessageToDict(r) for r in records if r is not None], indent=2, ensure_ascii=False))
    return EXIT_OK
