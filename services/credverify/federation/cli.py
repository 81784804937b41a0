"""`credverify trust`: the federation operator's commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf import json_format

from credverify.core.cli_support import EXIT_OK, add_kafka_argument
from credverify.core.codes import check_isco
from credverify.core.envelope import keyid_of
from credverify.core.errors import InvalidInput
from credverify.core.keys import generate_key_file, load_public_key, public_key_path
from credverify.core.parsing import parse_kinds
from credverify.core.settings import read_passphrase
from credverify.core.timefmt import parse_instant
from credverify.federation.access import Access, Role, access_for, check_issuer_id, default_name
from credverify.federation.bootstrap import Federation, FederationSettings
from credverify.federation.domain import RegisterIssuer, change_scope, report_compromise, rotate_key
from credverify.federation.handlers import IssuerRecordPublished


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init-root", help="create a federation root key")
    init.add_argument("--key", type=Path, required=True, help="private key file to create (0600)")
    _add_passphrase(init)
    init.add_argument("--unencrypted", action="store_true", help="store the key in the clear (throwaway keys only)")
    init.set_defaults(handler=_init_root)

    register = commands.add_parser("register-issuer", help="sign and publish an issuer record")
    _add_root_key(register)
    register.add_argument("--issuer-id", required=True, help="e.g. KE-NCK")
    register.add_argument("--country", required=True, help="ISO 3166-1 alpha-2, e.g. KE")
    register.add_argument("--name", required=True, help="display name, e.g. 'Nursing Council of Kenya'")
    register.add_argument("--kinds", required=True, help="comma-separated: LICENCE,DIPLOMA,GOOD_STANDING")
    register.add_argument("--isco", required=True, help="comma-separated ISCO-08 unit groups, e.g. 2221,2222")
    register.add_argument("--issuer-public-key", type=Path, action="append", required=True,
                          help="the issuer's public key PEM (repeat for several)")
    _add_credentials_out(register)
    register.set_defaults(handler=_register_issuer)

    grant = commands.add_parser("grant", help="give a principal of the hub its ACLs (and a credential)")
    grant.add_argument("--role", required=True, choices=[r.value for r in Role])
    grant.add_argument("--name", help="the principal: registry-<CC> for a registry, the issuer id for a "
                                      "council; default credverify-admission / credverify-flows")
    _add_credentials_out(grant)
    add_kafka_argument(grant)
    grant.set_defaults(handler=_grant)

    revoke = commands.add_parser("revoke-access", help="remove a principal's ACLs and credential from the hub")
    who = revoke.add_mutually_exclusive_group(required=True)
    who.add_argument("--principal", help="e.g. registry-GB or User:registry-GB")
    who.add_argument("--issuer-id", help="a council's principal, e.g. KE-NCK")
    add_kafka_argument(revoke)
    revoke.set_defaults(handler=_revoke_access)

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


def _add_passphrase(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passphrase-file", type=Path, help="read the key passphrase from this file "
                                                             "(default $CREDVERIFY_KEY_PASSPHRASE(_FILE))")
    parser.add_argument("--prompt-passphrase", action="store_true", help="ask for the key passphrase")


def _add_credentials_out(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hub-credentials-out", type=Path,
                        help="make a new hub credential (a random password) and write the principal's Kafka "
                             "settings to this new file (0600) for the operator to hand over; it is never "
                             "printed. Without it no credential is made.")


def _add_root_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root-key", type=Path, required=True, help="the federation root's private key file")
    _add_passphrase(parser)
    add_kafka_argument(parser)


def _add_edit(parser: argparse.ArgumentParser) -> None:
    _add_root_key(parser)
    parser.add_argument("--issuer-id", required=True)


def _operator(args: argparse.Namespace) -> Federation:
    """The operator's tools, opened with the root key the arguments name."""
    return Federation.open(FederationSettings.from_env(
        bootstrap=args.bootstrap, root_key=args.root_key, passphrase_file=args.passphrase_file,
        prompt_passphrase=args.prompt_passphrase))


def _public_key(option: str, path: Path) -> Ed25519PublicKey:
    try:
        return load_public_key(path.read_bytes())
    except OSError as exc:
        raise InvalidInput("%s: cannot read %s: %s" % (option, path, exc.strerror)) from exc


def _published(event: IssuerRecordPublished, what: str) -> int:
    record = event.record
    print("%s: %s version %d (%d key(s)), partition %s offset %s" % (
        what, record.issuer_id, record.version, len(record.keys), event.partition, event.offset))
    return EXIT_OK


def _init_root(args: argparse.Namespace) -> int:
    passphrase = read_passphrase(file=args.passphrase_file, prompt=args.prompt_passphrase, confirm=True)
    signer = generate_key_file(args.key, passphrase=passphrase, unencrypted=args.unencrypted)
    print("root key %s\nkeyid %s\npublic key %s (give this file to every registry)" % (
        args.key, signer.keyid, public_key_path(args.key)))
    return EXIT_OK


def _register_issuer(args: argparse.Namespace) -> int:
    cmd = RegisterIssuer(
        issuer_id=args.issuer_id,
        country=args.country,
        display_name=args.name,
        credential_kinds=parse_kinds(args.kinds),
        professions_isco=tuple(check_isco("isco", p.strip()) for p in args.isco.split(",") if p.strip()),
        public_keys=tuple(_public_key("issuer-public-key", path) for path in args.issuer_public_key),
    )
    with _operator(args) as federation:
        event, council = federation.register(cmd, credentials_out=args.hub_credentials_out)
    _access_report(council, args.hub_credentials_out)
    return _published(event, "published issuer record")


def _access_report(access: Access, credentials_out: Path | None) -> None:
    print("hub access: %s may %s" % (access.principal, "; ".join(
        "%s %s%s" % ("/".join(g.operations), g.name, "*" if g.pattern == "prefixed" else "")
        for g in access.grants)))
    if credentials_out is not None:
        print("hub credential of %s written to %s (0600): hand it over, then delete it" % (
            access.name, credentials_out))
    else:
        print("no hub credential made (give --hub-credentials-out to make one)")


def _grant(args: argparse.Namespace) -> int:
    role = Role(args.role)
    name = args.name or default_name(role)
    if name is None:
        raise InvalidInput("name: a %s principal has no default; give --name" % role.value)
    settings = FederationSettings.from_env(bootstrap=args.bootstrap)
    with Federation.for_access(settings) as federation:
        granted = federation.grant(access_for(role, name, settings.kafka.topics),
                                   credentials_out=args.hub_credentials_out)
    _access_report(granted.access, args.hub_credentials_out)
    return EXIT_OK


def _revoke_access(args: argparse.Namespace) -> int:
    name = check_issuer_id(args.issuer_id) if args.issuer_id else args.principal.removeprefix("User:")
    if not name:
        raise InvalidInput("principal: expected a name, found %r" % args.principal)
    with Federation.for_access(FederationSettings.from_env(bootstrap=args.bootstrap)) as federation:
        revoked = federation.revoke(name)
    print("%s: %d ACL(s) removed, credential %s" % (
        revoked.principal, revoked.acls_removed, "removed" if revoked.credential_removed else "none held"))
    return EXIT_OK


def _rotate_key(args: argparse.Namespace) -> int:
    new_key = _public_key("new-public-key", args.new_public_key)
    retire_at = parse_instant("retire-at", args.retire_at) if args.retire_at else None
    now = dt.datetime.now(dt.UTC)
    with _operator(args) as federation:
        event = federation.change(args.issuer_id, lambda current: rotate_key(current, new_key, now=now,
                                                                             retire_at=retire_at))
    return _published(event, "key %s added" % keyid_of(new_key)[:16])


def _report_compromise(args: argparse.Namespace) -> int:
    now = dt.datetime.now(dt.UTC)
    at = parse_instant("at", args.at) if args.at else now
    with _operator(args) as federation:
        event = federation.change(args.issuer_id, lambda current: report_compromise(
            current, args.keyid.lower(), compromised_at=at, now=now))
    return _published(event, "key %s compromised from %s" % (args.keyid[:16], at.isoformat()))


def _set_scope(args: argparse.Namespace) -> int:
    if not args.kinds and not args.isco:
        raise InvalidInput("give --kinds, --isco or both")
    kinds = parse_kinds(args.kinds) if args.kinds else None
    professions = tuple(p.strip() for p in args.isco.split(",") if p.strip()) if args.isco else None
    now = dt.datetime.now(dt.UTC)
    with _operator(args) as federation:
        event = federation.change(args.issuer_id, lambda current: change_scope(
            current, now=now, credential_kinds=kinds, professions_isco=professions))
    return _published(event, "scope changed")


def _show(args: argparse.Namespace) -> int:
    settings = FederationSettings.from_env(bootstrap=args.bootstrap, root_public_keys=args.root_public_key)
    with Federation.open(settings) as federation:
        trust = federation.trust()
    records = [trust.issuer(args.issuer_id)] if args.issuer_id else [
        trust.issuer(i) for i in sorted(trust.issuers)]
    if args.issuer_id and records[0] is None:
        raise InvalidInput("issuer-id: the trust list holds no record for %r" % args.issuer_id)
    print(json.dumps([json_format.MessageToDict(r) for r in records if r is not None], indent=2, ensure_ascii=False))
    return EXIT_OK
