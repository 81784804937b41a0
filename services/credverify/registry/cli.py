"""`credverify registry`: serve a registry, and query one over gRPC."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

import grpc
from google.protobuf import json_format

from credverify.cli import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, add_kafka_argument
from credverify.core.errors import reason_code
from credverify.core.timefmt import to_date
from credverify.issuer.cli import parse_date
from credverify.registry.bootstrap import Registry, settings_from
from credverify.v1 import registry_pb2, registry_pb2_grpc


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="ingest attestations and answer gRPC")
    serve.add_argument("--db", type=Path, help="SQLite file (default $CREDVERIFY_REGISTRY_DB or registry.db)")
    serve.add_argument("--listen", help="host:port for gRPC (default 127.0.0.1:50051)")
    serve.add_argument("--root-key", action="append", help="federation root public key PEM (repeatable)")
    serve.add_argument("--country", help="this registry's country, ISO 3166-1 alpha-2")
    serve.add_argument("--pseudonym-key-file", help="secret for the pseudonymous tokens in verified moves")
    add_kafka_argument(serve)
    serve.set_defaults(handler=_serve)

    for name, help_text, handler in (
        ("verify", "ask a registry whether a credential verifies", _verify),
        ("register", "record a registration (emits one anonymised verified move)", _register),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("credential_id")
        sub.add_argument("--target", default="127.0.0.1:50051", help="registry host:port")
        sub.add_argument("--family-name", default="")
        sub.add_argument("--given-names", default="")
        sub.add_argument("--dob", help="claimed date of birth, YYYY-MM-DD")
        sub.add_argument("--json", action="store_true", help="print the whole answer as JSON")
        sub.add_argument("--timeout", type=float, default=10.0)
        sub.set_defaults(handler=handler)


def _serve(args: argparse.Namespace) -> int:
    registry = Registry(settings_from(args))
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    registry.start()
    print("registry serving on port %d" % registry.port, flush=True)
    stopping.wait()
    registry.stop()
    return EXIT_OK


def _claimed(args: argparse.Namespace) -> registry_pb2.ClaimedSubject | None:
    if not (args.family_name or args.given_names or args.dob):
        return None
    claimed = registry_pb2.ClaimedSubject(family_name=args.family_name, given_names=args.given_names)
    dob = parse_date("dob", args.dob)
    if dob:
        claimed.date_of_birth.CopyFrom(to_date(dob))
    return claimed


def _verify(args: argparse.Namespace) -> int:
    request = registry_pb2.VerifyRequest(credential_id=args.credential_id, claimed=_claimed(args))
    with grpc.insecure_channel(args.target) as channel:
        try:
            response = registry_pb2_grpc.RegistryServiceStub(channel).Verify(request, timeout=args.timeout)
        except grpc.RpcError as exc:
            print("error: %s: %s" % (exc.code().name, exc.details()), file=sys.stderr)
            return EXIT_USAGE
    if args.json:
        print(json.dumps(json_format.MessageToDict(response), indent=2))
    else:
        print("%-28s %-10s %s  (%s)" % (
            args.credential_id, "VERIFIED" if response.verified else "REFUSED",
            ",".join(reason_code(r) for r in response.reasons), response.detail))
    return EXIT_OK if response.verified else EXIT_PARTIAL


def _register(args: argparse.Namespace) -> int:
    request = registry_pb2.RecordRegistrationRequest(credential_id=args.credential_id, claimed=_claimed(args))
    with grpc.insecure_channel(args.target) as channel:
        try:
            response = registry_pb2_grpc.RegistryServiceStub(channel).RecordRegistration(
                request, timeout=args.timeout)
        except grpc.RpcError as exc:
            print("error: %s: %s" % (exc.code().name, exc.details()), file=sys.stderr)
            return EXIT_PARTIAL
    move = response.move
    print("%s move %s %s->%s ISCO %s%s" % (
        "already recorded" if response.already_recorded else "recorded", move.move_id[:12],
        move.origin_country, move.destination_country, move.profession_isco,
        " (return migration)" if move.return_migration else ""))
    if args.json:
        print(json.dumps(json_format.MessageToDict(response), indent=2))
    return EXIT_OK
