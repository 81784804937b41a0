"""`credverify registry`: serve a registry, and query one over gRPC."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import grpc
from google.protobuf import json_format

from credverify.core.adapters.grpc_replicas import open_replicated_channel
from credverify.core.adapters.grpc_security import ClientTls, open_channel
from credverify.core.adapters.grpc_server_kit import stop_on_signals
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, add_kafka_argument
from credverify.core.errors import ConfigurationError, reason_code
from credverify.core.parsing import parse_date
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import from_timestamp, to_date
from credverify.core.trust import RootKeys
from credverify.registry import bootstrap
from credverify.registry.bootstrap import RegistrySettings
from credverify.registry.rebuild import rebuild
from credverify.v1 import common_pb2, registry_pb2, registry_pb2_grpc

REGISTRY_SERVICE = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="ingest attestations and answer gRPC")
    serve.add_argument("--db", type=Path, help="SQLite file (default $CREDVERIFY_REGISTRY_DB or registry.db)")
    serve.add_argument("--listen", help="host:port for gRPC (default 127.0.0.1:50051)")
    serve.add_argument("--root-key", action="append", help="federation root public key PEM (repeatable)")
    serve.add_argument("--country", help="this registry's country, ISO 3166-1 alpha-2")
    serve.add_argument("--pseudonym-key-file", help="secret for the pseudonymous tokens in verified moves")
    tls = serve.add_argument_group("access (mutual TLS, or plaintext for local use)")
    tls.add_argument("--tls-cert", help="server certificate chain, PEM ($CREDVERIFY_REGISTRY_TLS_CERT)")
    tls.add_argument("--tls-key", help="server private key, PEM ($CREDVERIFY_REGISTRY_TLS_KEY)")
    tls.add_argument("--tls-client-ca", help="CA that issues the regulators' client certificates, PEM "
                                             "($CREDVERIFY_REGISTRY_TLS_CLIENT_CA)")
    tls.add_argument("--allow-list", help="TOML file of the regulators admitted ($CREDVERIFY_REGISTRY_ALLOW_LIST)")
    tls.add_argument("--plaintext-for-local-use", action="store_true",
                     help="serve unauthenticated plaintext gRPC: a developer's machine or the demo only")
    serve.add_argument("--metrics-listen", help="host:port for Prometheus /metrics "
                                                "($CREDVERIFY_REGISTRY_METRICS_LISTEN; default: none)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="processes answering gRPC on the one port, beside the one that ingests: about one "
                            "per core ($CREDVERIFY_REGISTRY_WORKERS; default 1: one process does both)")
    serve.add_argument("--stall-after", type=float, metavar="SECONDS",
                       help="health turns NOT_SERVING when the topics hold records not committed and ingest has "
                            "made no progress this long ($CREDVERIFY_REGISTRY_STALL_AFTER_S; default 120)")
    serve.add_argument("--log-format", choices=("json", "text"),
                       default=os.environ.get("CREDVERIFY_LOG_FORMAT", "json"),
                       help="json lines (default) or text")
    add_kafka_argument(serve)
    serve.set_defaults(handler=_serve)

    rebuild = commands.add_parser(
        "rebuild", help="replay the trust list and attestation topics from offset 0 into a fresh store, then exit")
    rebuild.add_argument("--store", type=Path, required=True, help="SQLite file to build (refused if it exists)")
    rebuild.add_argument("--force", action="store_true", help="replace --store if it exists")
    rebuild.add_argument("--root-key", action="append", help="federation root public key PEM (repeatable)")
    rebuild.add_argument("--publish-dead-letters", action="store_true",
                         help="send the refused records to the dead-letter topic again")
    rebuild.add_argument("--processes", type=int, default=1, metavar="N",
                         help="ingest processes, each reading a disjoint share of the attestation partitions "
                              "into the one store: about one per core (default 1)")
    add_kafka_argument(rebuild)
    rebuild.set_defaults(handler=_rebuild)

    for name, help_text, handler in (
        ("verify", "ask a registry whether a credential verifies", _verify),
        ("register", "record a registration (emits one anonymised verified move)", _register),
    ):
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("credential_id")
        _add_client_arguments(sub)
        sub.add_argument("--family-name", default="")
        sub.add_argument("--given-names", default="")
        sub.add_argument("--dob", help="claimed date of birth, YYYY-MM-DD")
        sub.add_argument("--presentation", type=Path, metavar="FILE",
                         help="the applicant's SD-JWT presentation (needed for a v2 credential's details)")
        sub.add_argument("--audience", default="", help="the audience her key-binding JWT names, if bound")
        sub.add_argument("--nonce", default="", help="the nonce you gave her for it, if bound")
        sub.add_argument("--json", action="store_true", help="print the whole answer as JSON")
        sub.add_argument("--timeout", type=float, default=10.0)
        sub.set_defaults(handler=handler)

    watch = commands.add_parser("watch", help="print status changes of credentials as they happen")
    watch.add_argument("credential_id", nargs="+")
    _add_client_arguments(watch)
    watch.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    watch.set_defaults(handler=_watch)


def _add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default=os.environ.get("CREDVERIFY_REGISTRY_TARGET", "127.0.0.1:50051"),
                        help="registry host:port; replicas of one country's registry as host:port,host:port "
                             "(calls go to those serving, and move on when one fails) "
                             "($CREDVERIFY_REGISTRY_TARGET)")
    parser.add_argument("--ca-cert", default=os.environ.get("CREDVERIFY_GRPC_CA_CERT"),
                        help="CA of the registry's certificate, PEM ($CREDVERIFY_GRPC_CA_CERT)")
    parser.add_argument("--cert", default=os.environ.get("CREDVERIFY_GRPC_CLIENT_CERT"),
                        help="this regulator's client certificate, PEM ($CREDVERIFY_GRPC_CLIENT_CERT)")
    parser.add_argument("--key", default=os.environ.get("CREDVERIFY_GRPC_CLIENT_KEY"),
                        help="its private key, PEM ($CREDVERIFY_GRPC_CLIENT_KEY)")
    parser.add_argument("--plaintext-for-local-use", action="store_true",
                        default=os.environ.get("CREDVERIFY_GRPC_PLAINTEXT_FOR_LOCAL_USE", "") == "1",
                        help="talk plaintext to a registry on your own machine; names and birth dates go "
                             "unencrypted ($CREDVERIFY_GRPC_PLAINTEXT_FOR_LOCAL_USE=1)")


def _channel(args: argparse.Namespace) -> grpc.Channel:
    """Return a channel to ``--target`` (over its replicas when it names several): TLS from --ca-cert
    (mutual with --cert/--key), plaintext only with --plaintext-for-local-use. Raises
    ConfigurationError for anything in between."""
    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    tls = ClientTls.chosen(ca=path(args.ca_cert), cert=path(args.cert), key=path(args.key),
                           plaintext_for_local_use=args.plaintext_for_local_use)
    if "," in args.target:
        return open_replicated_channel(args.target, tls, service=REGISTRY_SERVICE)
    return open_channel(args.target, tls)


def _serve(args: argparse.Namespace) -> int:
    settings = RegistrySettings.from_env(args)
    return bootstrap.run(settings, stop_on_signals(),
                         on_started=lambda port: print("registry serving on port %d" % port, flush=True))


def _rebuild(args: argparse.Namespace) -> int:
    root_keys = args.root_key or [p for p in os.environ.get("CREDVERIFY_ROOT_KEYS", "").split(",") if p]
    if not root_keys:
        raise ConfigurationError("no federation root key: pass --root-key FILE or set CREDVERIFY_ROOT_KEYS")
    summary = rebuild(KafkaSettings.from_env(args.bootstrap), store_path=args.store,
                      roots=RootKeys.from_pem_files(root_keys), overwrite=args.force,
                      publish_dead_letters=args.publish_dead_letters, processes=args.processes)
    print(summary.describe(), flush=True)
    return EXIT_OK


def _claimed(args: argparse.Namespace) -> registry_pb2.ClaimedSubject | None:
    if not (args.family_name or args.given_names or args.dob):
        return None
    claimed = registry_pb2.ClaimedSubject(family_name=args.family_name, given_names=args.given_names)
    dob = parse_date("dob", args.dob)
    if dob:
        claimed.date_of_birth.CopyFrom(to_date(dob))
    return claimed


def _presentation(args: argparse.Namespace) -> str:
    """The text of --presentation FILE, without surrounding white space; "" without the option.
    Raises ConfigurationError when the file cannot be read."""
    if args.presentation is None:
        return ""
    try:
        return str(args.presentation.read_text(encoding="ascii")).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError("--presentation %s: cannot read it (%s)" % (args.presentation, exc)) from exc


def _verify(args: argparse.Namespace) -> int:
    request = registry_pb2.VerifyRequest(credential_id=args.credential_id, claimed=_claimed(args),
                                         presentation=_presentation(args), audience=args.audience,
                                         nonce=args.nonce)
    with _channel(args) as channel:
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
    request = registry_pb2.RecordRegistrationRequest(credential_id=args.credential_id, claimed=_claimed(args),
                                                     presentation=_presentation(args), audience=args.audience,
                                                     nonce=args.nonce)
    with _channel(args) as channel:
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


def _watch(args: argparse.Namespace) -> int:
    request = registry_pb2.WatchStatusRequest(credential_ids=args.credential_id)
    with _channel(args) as channel:
        stream = registry_pb2_grpc.RegistryServiceStub(channel).WatchStatus(request, timeout=args.timeout)
        try:
            for update in stream:
                status = common_pb2.CredentialStatus.Name(update.status).removeprefix("CREDENTIAL_STATUS_")
                print("%s %-28s v%-4d %-22s %-9s %s" % (
                    from_timestamp(update.observed_at).isoformat(timespec="milliseconds"), update.credential_id,
                    update.version, status, "VERIFIED" if update.verified else "REFUSED",
                    ",".join(reason_code(r) for r in update.reasons)), flush=True)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return EXIT_OK
            print("error: %s: %s" % (exc.code().name, exc.details()), file=sys.stderr)
            return EXIT_PARTIAL
    return EXIT_OK
