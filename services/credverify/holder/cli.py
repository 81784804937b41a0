"""`credverify holder`: the practitioner's commands. No network: everything happens in her files."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from credverify.core.cli_support import EXIT_OK
from credverify.holder.bootstrap import (
    HolderSettings,
    create_holder_key,
    load_holder_key,
    read_credential,
    write_presentation,
)
from credverify.holder.domain import PresentCredential, describe, present_credential


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    present = commands.add_parser("present", help="make a presentation disclosing only the claims you choose")
    present.add_argument("--credential", type=Path, required=True, help="your credential file (.sd-jwt)")
    present.add_argument("--disclose", default="", help="comma-separated claim names, e.g. family_name,birth_date "
                                                        "(none: a good-standing check without personal details)")
    present.add_argument("--holder-key", type=Path, help="your wallet key, when the credential is bound to it")
    present.add_argument("--audience", help="who the presentation is for (the verifier tells you)")
    present.add_argument("--nonce", help="the verifier's one-time value")
    present.add_argument("--output", type=Path, help="write to this new file (0600) instead of standard output")
    _add_passphrase(present)
    present.set_defaults(handler=_present)

    keygen = commands.add_parser("keygen", help="create a wallet key for credentials bound to you")
    keygen.add_argument("--key", type=Path, required=True, help="private key file to create (0600)")
    keygen.add_argument("--unencrypted", action="store_true", help="store the key in the clear (tests only)")
    _add_passphrase(keygen)
    keygen.set_defaults(handler=_keygen)

    show = commands.add_parser("show", help="list the claims of your credential")
    show.add_argument("--credential", type=Path, required=True)
    show.add_argument("--values", action="store_true", help="print the values too (they are personal data)")
    show.set_defaults(handler=_show)


def _add_passphrase(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--passphrase-file", type=Path, help="the wallet key's passphrase "
                                                             "(default $CREDVERIFY_KEY_PASSPHRASE(_FILE))")
    parser.add_argument("--prompt-passphrase", action="store_true", help="ask for the wallet key's passphrase")


def _settings(args: argparse.Namespace) -> HolderSettings:
    return HolderSettings(passphrase_file=args.passphrase_file, prompt_passphrase=args.prompt_passphrase)


def _present(args: argparse.Namespace) -> int:
    cmd = PresentCredential(
        credential=read_credential(args.credential),
        disclose=tuple(name.strip() for name in args.disclose.split(",") if name.strip()),
        audience=args.audience, nonce=args.nonce)
    key = load_holder_key(args.holder_key, _settings(args)) if args.holder_key else None
    presentation = present_credential(cmd, holder_key=key, now=dt.datetime.now(dt.UTC))
    if args.output is not None:
        write_presentation(args.output, presentation)
        print("presentation written to %s (%d bytes; discloses %s)" % (
            args.output, len(presentation), ", ".join(cmd.disclose) or "no personal claim"), file=sys.stderr)
    else:
        print(presentation)
    return EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    keyid = create_holder_key(args.key, _settings(args), unencrypted=args.unencrypted)
    print("wallet key %s\nkeyid %s\ngive the public key (%s) to your council to bind your credential" % (
        args.key, keyid, args.key.with_suffix(".pub.pem")))
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    for line in describe(read_credential(args.credential), values=args.values):
        print(line)
    return EXIT_OK
