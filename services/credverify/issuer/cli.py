"""`credverify issuer`: a source council's commands.

    keygen, export-public, report-compromise     keys
    issue, bulk, resend                          attestations (one, a register export, retries)
    suspend, reinstate, revoke, lapse,           status changes: each a new signed version
    add-condition, lift-condition
    credential                                   a practitioner's credential (SD-JWT VC), again
    show                                         what the ledger holds for a credential
    serve                                        the gRPC IssuerService
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from google.protobuf import json_format

from credverify.core.adapters.grpc_server_kit import stop_on_signals
from credverify.core.attestation import STATUS_REASON_CODES
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, add_kafka_argument
from credverify.core.errors import InvalidInput
from credverify.core.issuing import IssueAttestation
from credverify.core.keys import (
    generate_key_file,
    load_public_key,
    load_signer,
    public_jwk,
    public_key_path,
    public_pem,
)
from credverify.core.parsing import parse_date, parse_kind, parse_status
from credverify.core.private_files import write_private
from credverify.core.qr import qr_png
from credverify.core.sdjwt import IssuedCredential
from credverify.core.settings import read_passphrase
from credverify.core.timefmt import parse_instant
from credverify.issuer import bootstrap
from credverify.issuer.adapters.credential_files import QR_SUFFIX, CredentialDirectory
from credverify.issuer.adapters.keyring import Keyring
from credverify.issuer.bootstrap import (
    DEFAULT_LEDGER,
    DEFAULT_LISTEN,
    LEDGER_ENV,
    Issuer,
    IssuerServiceSettings,
    IssuerSettings,
)
from credverify.issuer.domain import STATUS_ACTIONS, ChangeStatus
from credverify.issuer.handlers import AttestationIssued, BulkReport

__all__ = ["add_commands"]

# What --subject-file holds; given_names may be empty.
SUBJECT_FIELDS = ("practitioner_number", "family_name", "given_names", "date_of_birth", "country_of_training")
REQUIRED_SUBJECT_FIELDS = frozenset(SUBJECT_FIELDS) - {"given_names"}
# Flags that put personal data in /proc/PID/cmdline and shell history; each now names --subject-file.
REFUSED_SUBJECT_FLAGS = ("--practitioner-number", "--family-name", "--given-names", "--dob", "--trained-in")
# A subject is five short fields; anything much larger is the wrong file.
MAX_SUBJECT_FILE_BYTES = 64 * 1024


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keygen = commands.add_parser("keygen", help="create an Ed25519 signing key, encrypted at rest")
    where = keygen.add_mutually_exclusive_group(required=True)
    where.add_argument("--key", type=Path, help="private key file to create (0600)")
    where.add_argument("--keyring", type=Path, help="add a new key to this keyring directory (a rotation)")
    _add_passphrase(keygen)
    keygen.add_argument("--unencrypted", action="store_true",
                        help="store the private key in the clear (only for throwaway keys)")
    keygen.set_defaults(handler=_keygen)

    export = commands.add_parser("export-public", help="print a public key as PEM or JWK")
    export.add_argument("--key", type=Path, required=True, help="a private key file or its .pub.pem")
    export.add_argument("--format", choices=["pem", "jwk"], default="pem")
    _add_passphrase(export)
    export.set_defaults(handler=_export_public)

    compromise = commands.add_parser(
        "report-compromise", help="stop signing with a key at once; prints what to send to the federation")
    compromise.add_argument("--keyring", type=Path, required=True)
    compromise.add_argument("--keyid", required=True, help="the keyid, or a unique prefix of 8+ hex digits")
    compromise.add_argument("--at", help="when it was compromised, ISO 8601 (default: now)")
    _add_passphrase(compromise)
    compromise.set_defaults(handler=_report_compromise)

    one = commands.add_parser("issue", help="sign and publish one attestation")
    _add_issuer(one)
    one.add_argument("--number", required=True, help="local credential number (credential id = ISSUER/NUMBER)")
    one.add_argument("--kind", default="LICENCE", help="LICENCE, DIPLOMA or GOOD_STANDING")
    one.add_argument("--subject-file", required=True, metavar="FILE|-",
                     help="the practitioner's details, from a file or - for standard input, never the command "
                          "line (every user of the machine can read it): JSON or key=value lines with %s"
                          % ", ".join(SUBJECT_FIELDS))
    for flag in REFUSED_SUBJECT_FLAGS:  # the old flags: refused with a reason, not 'unrecognized'
        one.add_argument(flag, dest="refused_" + flag[2:].replace("-", "_"), help=argparse.SUPPRESS)
    one.add_argument("--isco", required=True, help="ISCO-08 unit group, e.g. 2221")
    one.add_argument("--status", default="ACTIVE",
                     help="ACTIVE, SUSPENDED, REVOKED, LAPSED or ACTIVE_WITH_CONDITIONS")
    one.add_argument("--status-reason", default="", help="a status reason code, e.g. NEW_REGISTRATION")
    one.add_argument("--condition", action="append", default=[], help="a condition on practice (repeatable)")
    one.add_argument("--valid-from", help="YYYY-MM-DD")
    one.add_argument("--valid-until", help="YYYY-MM-DD")
    one.add_argument("--institution", default="", help="DIPLOMA: the awarding institution")
    one.add_argument("--programme", default="", help="DIPLOMA: the programme, e.g. 'BSc Nursing'")
    one.add_argument("--award-date", help="DIPLOMA: YYYY-MM-DD")
    one.add_argument("--version", type=int, help="explicit version (default: issuing time in microseconds)")
    one.add_argument("--credential-out", type=Path, metavar="FILE",
                     help="write the practitioner's credential (SD-JWT VC) here (0600), and a QR code "
                          "beside it (FILE.qr.png) where it fits one: hers to keep and present")
    one.set_defaults(handler=_issue_one)

    bulk = commands.add_parser("bulk", help="issue every row of a register export (CSV, see README)")
    _add_issuer(bulk)
    bulk.add_argument("--register", type=Path, required=True, help="the CSV file")
    bulk.add_argument("--strict", action="store_true", help="publish nothing when any row is invalid")
    bulk.add_argument("--no-progress", action="store_true", help="no progress bar")
    bulk.add_argument("--credentials-out", type=Path, metavar="DIR",
                      help="write each practitioner's credential into DIR (0700): <id>.sd-jwt (0600) and, "
                           "where it fits one, a QR code <id>.qr.png; '/' in an id is written %%2F")
    bulk.add_argument("--no-qr", action="store_true", help="with --credentials-out: no QR code images")
    bulk.set_defaults(handler=_bulk)

    cred = commands.add_parser("credential", help="write a practitioner's credential (SD-JWT VC) again, signed "
                                                  "now, with the digests of the version on the hub")
    _add_issuer(cred, identity=False)
    cred.add_argument("--credential-id", required=True, help="ISSUER/NUMBER")
    cred.add_argument("--out", type=Path, required=True, metavar="FILE|-",
                      help="the credential file to write (0600), or - for standard output")
    cred.add_argument("--qr", type=Path, metavar="PNG", help="also write it as a QR code image (0600)")
    cred.add_argument("--holder-public-key", type=Path, metavar="PEM",
                      help="bind it to the practitioner's wallet key (credverify holder keygen): a "
                           "presentation then needs her key-binding signature")
    cred.set_defaults(handler=_credential)

    resend = commands.add_parser("resend", help="publish again what the broker never confirmed")
    _add_issuer(resend, identity=False)
    resend.set_defaults(handler=_resend)

    for action in STATUS_ACTIONS:
        change = commands.add_parser(action, help="%s a credential (a new signed version)" % action.replace("-", " "))
        _add_issuer(change, identity=False)
        change.add_argument("--credential-id", required=True, action="append",
                            help="ISSUER/NUMBER (repeatable: one change each)")
        change.add_argument("--reason", required=True,
                            help="status reason code: %s" % ", ".join(sorted(STATUS_REASON_CODES)))
        if action.endswith("condition"):
            change.add_argument("--condition", required=True, help="the text of the condition")
        change.set_defaults(handler=_change_status, action=action)

    show = commands.add_parser("show", help="print the latest attestation of a credential and its delivery")
    show.add_argument("--credential-id", required=True)
    show.add_argument("--ledger", type=Path, default=_default_ledger())
    show.set_defaults(handler=_show)

    serve = commands.add_parser("serve", help="run the gRPC IssuerService")
    _add_issuer(serve)
    serve.add_argument("--listen", help="host:port to listen on ($CREDVERIFY_ISSUER_LISTEN; default %s)"
                                        % DEFAULT_LISTEN)
    serve.add_argument("--plaintext-for-local-use", action="store_true",
                       help="serve without TLS on a loopback address only (a machine of your own; logged as a warning)")
    serve.add_argument("--tls-cert", type=Path, help="server certificate (PEM; $CREDVERIFY_ISSUER_TLS_CERT)")
    serve.add_argument("--tls-key", type=Path, help="server private key (PEM; $CREDVERIFY_ISSUER_TLS_KEY)")
    serve.add_argument("--tls-client-ca", type=Path, help="CA of the council's client certificates (mutual TLS; "
                                                          "$CREDVERIFY_ISSUER_TLS_CLIENT_CA)")
    serve.add_argument("--allow-list", type=Path,
                       help="TOML file of the council's systems that may call and their roles (reader, issuer, "
                            "key-admin); needed with TLS ($CREDVERIFY_ISSUER_ALLOW_LIST)")
    serve.add_argument("--metrics-listen", help="host:port for Prometheus /metrics "
                                                "($CREDVERIFY_ISSUER_METRICS_LISTEN; default: none)")
    serve.add_argument("--log-format", choices=("json", "text"),
                       default=os.environ.get("CREDVERIFY_LOG_FORMAT", "json"), help="json lines (default) or text")
    serve.set_defaults(handler=_serve)


def _default_ledger() -> Path:
    return Path(os.environ.get(LEDGER_ENV) or DEFAULT_LEDGER)


def _add_passphrase(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passphrase-file", type=Path, help="read the key passphrase from this file")
    parser.add_argument("--prompt-passphrase", action="store_true", help="ask for the key passphrase")


def _add_issuer(parser: argparse.ArgumentParser, *, identity: bool = True) -> None:
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--key", type=Path, help="the private key file to sign with")
    keys.add_argument("--keyring", type=Path,
                      help="a keyring directory: sign with its key that the trust list lists as valid now")
    parser.add_argument("--root-public-key", type=Path, action="append", default=[],
                        help="federation root public key (PEM), needed with --keyring (repeatable)")
    _add_passphrase(parser)
    parser.add_argument("--ledger", type=Path, default=_default_ledger(),
                        help="the issuer's ledger of signed and confirmed attestations "
                             "(default $%s or ./%s)" % (LEDGER_ENV, DEFAULT_LEDGER))
    if identity:
        parser.add_argument("--issuer-id", required=True, help="e.g. KE-NCK")
        parser.add_argument("--jurisdiction", required=True, help="ISO 3166-1 alpha-2 country of the issuer")
    add_kafka_argument(parser)


def _passphrase(args: argparse.Namespace, *, confirm: bool = False) -> bytes | None:
    return read_passphrase(file=args.passphrase_file, prompt=args.prompt_passphrase, confirm=confirm)


def _open(args: argparse.Namespace, *, issuer_id: str = "") -> Issuer:
    return Issuer.open(IssuerSettings.from_env(args, issuer_id=issuer_id))


def _keygen(args: argparse.Namespace) -> int:
    passphrase = _passphrase(args, confirm=True)
    if args.keyring is not None:
        args.keyring.mkdir(parents=True, exist_ok=True)
        if passphrase is None and not args.unencrypted:
            raise InvalidInput("no passphrase for the keyring: give --passphrase-file or --prompt-passphrase, "
                               "or set $CREDVERIFY_KEY_PASSPHRASE")
        signer = Keyring(args.keyring, passphrase=passphrase).generate()
        print("new key %s in keyring %s\npublic key:\n%s\nsend it to the federation operator "
              "(`credverify trust rotate-key`); signing switches to it once the trust list lists it" % (
                  signer.keyid, args.keyring, public_pem(signer.private_key.public_key()).strip()))
        return EXIT_OK
    signer = generate_key_file(args.key, passphrase=passphrase, unencrypted=args.unencrypted)
    print("issuer key %s\nkeyid %s\npublic key %s (send it to the federation operator)" % (
        args.key, signer.keyid, public_key_path(args.key)))
    return EXIT_OK


def _export_public(args: argparse.Namespace) -> int:
    data = args.key.read_bytes() if args.key.exists() else b""
    if b"PUBLIC KEY" in data:
        public = load_public_key(data)
    else:
        public = load_signer(args.key, passphrase=_passphrase(args)).private_key.public_key()
    print(public_pem(public).strip() if args.format == "pem" else json.dumps(public_jwk(public), indent=2))
    return EXIT_OK


def _report_compromise(args: argparse.Namespace) -> int:
    keyring = Keyring(args.keyring, passphrase=_passphrase(args))
    matches = [k for k in keyring.signers() if k.startswith(args.keyid.lower())]
    if len(args.keyid) < 8 or len(matches) != 1:
        raise InvalidInput("keyid: expected one key of the keyring (8+ hex digits), found %d matching %r" % (
            len(matches), args.keyid))
    at = parse_instant("at", args.at) if args.at else dt.datetime.now(dt.UTC)
    keyring.mark_compromised(matches[0], at)
    print("key %s will not sign again.\nsend to the federation operator:\n  credverify trust report-compromise "
          "--issuer-id <ISSUER> --keyid %s --at %s\nthen rotate: credverify issuer keygen --keyring %s" % (
              matches[0], matches[0], at.isoformat(), args.keyring))
    return EXIT_OK


def _report(events: list[AttestationIssued]) -> int:
    failed = 0
    for event in events:
        if not event.confirmed:
            failed += 1
            print("NOT CONFIRMED %s version %d: %s" % (event.credential_id, event.version, event.error))
        elif event.delivery is None:
            print("unchanged %s version %d (confirmed before; nothing sent)" % (event.credential_id, event.version))
        else:
            print("delivered %s version %d to %s[%s]@%s" % (
                event.credential_id, event.version, event.delivery.record.topic, event.delivery.partition,
                event.delivery.offset))
    return EXIT_PARTIAL if failed else EXIT_OK


def read_subject(text: str) -> dict[str, str]:
    """Return the subject fields of a --subject-file: a JSON object, or ``key=value`` lines (blank lines
    and lines starting with # ignored). Raises InvalidInput naming fields, never their values."""
    stripped = text.strip()
    fields = _json_fields(stripped) if stripped.startswith("{") else _key_value_lines(stripped)
    unknown = sorted(name[:40] for name in set(fields) - set(SUBJECT_FIELDS))
    missing = sorted(name for name in REQUIRED_SUBJECT_FIELDS if not fields.get(name, "").strip())
    problems = ["unknown: " + ", ".join(unknown)] if unknown else []
    problems += ["missing: " + ", ".join(missing)] if missing else []
    if problems:
        raise InvalidInput("subject-file: expected the fields %s; %s" % (", ".join(SUBJECT_FIELDS),
                                                                         "; ".join(problems)))
    return {name: fields.get(name, "").strip() for name in SUBJECT_FIELDS}


def _json_fields(text: str) -> dict[str, str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput("subject-file: not valid JSON (line %d, column %d)" % (exc.lineno, exc.colno)) from exc
    if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
        raise InvalidInput("subject-file: expected a JSON object of text fields")
    return {str(k): v for k, v in document.items()}


def _key_value_lines(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise InvalidInput("subject-file: line %d: expected key=value" % number)
        if name.strip() in fields:
            raise InvalidInput("subject-file: line %d: %s given twice" % (number, name.strip()[:40]))
        fields[name.strip()] = value.strip()
    return fields


def _subject_text(source: str) -> str:
    """Read --subject-file (``-``: standard input). Raises InvalidInput."""
    try:
        if source == "-":
            text = sys.stdin.read(MAX_SUBJECT_FILE_BYTES + 1)
        else:
            with open(source, encoding="utf-8-sig") as handle:
                text = handle.read(MAX_SUBJECT_FILE_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput("subject-file: cannot read %s (%s)" % (source, getattr(exc, "strerror", None) or
                                                                   type(exc).__name__)) from exc
    if len(text) > MAX_SUBJECT_FILE_BYTES:
        raise InvalidInput("subject-file: expected at most %d bytes" % MAX_SUBJECT_FILE_BYTES)
    return text


def _refuse_subject_flags(args: argparse.Namespace) -> None:
    given = [flag for flag in REFUSED_SUBJECT_FLAGS if getattr(args, "refused_" + flag[2:].replace("-", "_"))]
    if given:
        raise InvalidInput("%s: personal data on the command line is readable by every user of this machine "
                           "(/proc/PID/cmdline) and stays in shell history; put the subject in --subject-file "
                           "FILE (or - for standard input) instead" % ", ".join(given))


def _date_of_birth(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:  # the message would carry the value: a birth date
        raise InvalidInput("subject-file: date_of_birth: expected a date YYYY-MM-DD") from exc


def _issue_one(args: argparse.Namespace) -> int:
    _refuse_subject_flags(args)
    subject = read_subject(_subject_text(args.subject_file))
    cmd = IssueAttestation(
        issuer_id=args.issuer_id,
        jurisdiction=args.jurisdiction,
        local_number=args.number,
        kind=parse_kind(args.kind),
        practitioner_number=subject["practitioner_number"],
        family_name=subject["family_name"],
        given_names=subject["given_names"],
        date_of_birth=_date_of_birth(subject["date_of_birth"]),
        country_of_training=subject["country_of_training"].upper(),
        profession_isco=args.isco,
        status=parse_status(args.status),
        status_reason=args.status_reason,
        conditions=tuple(args.condition),
        valid_from=parse_date("valid-from", args.valid_from),
        valid_until=parse_date("valid-until", args.valid_until),
        institution=args.institution,
        programme=args.programme,
        award_date=parse_date("award-date", args.award_date),
        version=args.version,
    )
    from credverify.core.issuing import build_attestation, without_personal_value

    try:
        build_attestation(cmd, now=dt.datetime.now(dt.UTC))  # a bad order stops here, before any connection
    except InvalidInput as exc:
        raise without_personal_value(exc) from exc
    issuer = _open(args)
    try:
        events = issuer.issue([cmd])
        if args.credential_out is not None and events[0].confirmed:
            out = args.credential_out
            qr = None if str(out) == "-" else out.with_name(out.name + QR_SUFFIX)
            _write_credential(issuer.credential(cmd.credential_id), out, qr=qr)
        return _report(events)
    finally:
        issuer.close()


def _write_credential(credential: IssuedCredential, out: Path, *, qr: Path | None) -> None:
    if str(out) == "-":
        print(credential.text, flush=True)
    else:
        write_private(out, credential.text.encode("ascii") + b"\n", replace=True)
        print("credential written to %s (%d characters; hand it to the practitioner only)" % (
            out, len(credential.text)))
    if qr is not None:
        png = qr_png(credential.text)
        if png is None:
            print("no QR code: %d characters do not fit one" % len(credential.text))
        else:
            write_private(qr, png, replace=True)
            print("QR code written to %s" % qr)


def _credential(args: argparse.Namespace) -> int:
    holder_key = load_public_key(_read_small(args.holder_public_key)) if args.holder_public_key else None
    issuer = _open(args, issuer_id=args.credential_id.partition("/")[0])
    try:
        _write_credential(issuer.credential(args.credential_id, holder_key=holder_key), args.out, qr=args.qr)
    finally:
        issuer.close()
    return EXIT_OK


def _read_small(path: Path) -> bytes:
    try:
        return path.read_bytes()[:MAX_SUBJECT_FILE_BYTES]
    except OSError as exc:
        raise InvalidInput("%s: %s" % (path, exc.strerror)) from exc


def _bulk(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    path: Path = args.register
    if not path.is_file():
        raise InvalidInput("register: no file %s" % path)

    def open_register():  # type: ignore[no-untyped-def]
        return path.open(newline="", encoding="utf-8-sig")

    out = CredentialDirectory(args.credentials_out, qr=not args.no_qr) if args.credentials_out else None
    issuer = _open(args)
    bar = tqdm(total=None, unit="row", desc="publishing", disable=True if args.no_progress else None,
               file=sys.stderr)
    try:
        report = issuer.issue_register(open_register, strict=args.strict, progress=bar.update,
                                       deliver_credentials=out.write_many if out else None)
    finally:
        bar.close()
        issuer.close()
        if out is not None:
            out.close()
    if out is not None:
        print("%d credentials written to %s" % (report.credentials, out.path))
    return _bulk_outcome(report, strict=args.strict)


def _bulk_outcome(report: BulkReport, *, strict: bool) -> int:
    """Print what a bulk run did; return EXIT_USAGE when the file was refused as a whole, else
    EXIT_OK when every row was published and confirmed, EXIT_PARTIAL otherwise."""
    for invalid in report.invalid[:1000]:
        print("INVALID %s" % invalid)
    if len(report.invalid) > 1000:
        print("... and %d more invalid rows" % (len(report.invalid) - 1000))
    for row, credential_id, why in report.not_confirmed:
        print("NOT CONFIRMED row %d %s: %s" % (row, credential_id, why))
    header_refused = bool(report.invalid) and report.invalid[0].row == 1
    published_nothing = bool(report.invalid) and (strict or header_refused)
    print("%d rows: %d published and confirmed, %d unchanged (confirmed before), %d invalid, %d not confirmed%s" % (
        report.rows, report.published, report.unchanged, len(report.invalid), len(report.not_confirmed),
        "; nothing published" if published_nothing else ""))
    if header_refused:
        return EXIT_USAGE
    return EXIT_OK if report.complete else EXIT_PARTIAL


def _resend(args: argparse.Namespace) -> int:
    issuer = _open(args)
    try:
        events = issuer.resend_unconfirmed()
        if not events:
            print("nothing unconfirmed in %s" % args.ledger)
        return _report(events)
    finally:
        issuer.close()


def _change_status(args: argparse.Namespace) -> int:
    changes = [ChangeStatus(credential_id=cid, action=args.action, reason=args.reason,
                            condition=getattr(args, "condition", "")) for cid in args.credential_id]
    issuer_ids = {cid.partition("/")[0] for cid in args.credential_id}
    if len(issuer_ids) != 1:
        raise InvalidInput("credential-id: expected credentials of one issuer, found %s" % sorted(issuer_ids))
    issuer = _open(args, issuer_id=issuer_ids.pop())
    try:
        return _report(issuer.change_statuses(changes))
    finally:
        issuer.close()


def _show(args: argparse.Namespace) -> int:
    from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
    from credverify.issuer.handlers import current_attestation

    ledger = SqliteIssuedLedger(args.ledger)
    try:
        att, entry = current_attestation(args.credential_id, ledger=ledger)
    finally:
        ledger.close()
    print(json.dumps({
        "attestation": json_format.MessageToDict(att),
        "delivery": {"confirmed": entry.confirmed, "partition": entry.partition, "offset": entry.offset},
    }, indent=2, ensure_ascii=False))
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    settings = IssuerServiceSettings.from_env(args)
    return bootstrap.run(settings, stop_on_signals(),
                         on_started=lambda port: print("issuer serving on port %d" % port, flush=True))

