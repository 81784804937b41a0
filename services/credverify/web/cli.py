"""`credverify web`: serve the pages; create the accounts of case officers and registrars."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import secrets
import sys
from pathlib import Path

from credverify.core.adapters.observability import configure_logging
from credverify.core.cli_support import EXIT_OK
from credverify.core.errors import ConfigurationError
from credverify.web import bootstrap
from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.security import create_account


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve the pages for case officers and registrars")
    serve.add_argument("--listen", help="host:port (default $CREDVERIFY_WEB_LISTEN or 127.0.0.1:8080)")
    serve.add_argument("--db", help="the pages' SQLite file: accounts, sessions, audit log "
                                    "(default $CREDVERIFY_WEB_DB or ./web.db)")
    serve.add_argument("--registry", action="append", default=[], metavar="COUNTRY=HOST:PORT[|HOST:PORT]",
                       help="the registry of a destination country, for its case officers, or its replicas "
                            "separated by | (calls balanced over those serving); repeatable "
                            "($CREDVERIFY_WEB_REGISTRIES, comma-separated)")
    serve.add_argument("--issuer", action="append", default=[], metavar="ISSUER=HOST:PORT",
                       help="the issuer service of a council, for its registrars; repeatable "
                            "($CREDVERIFY_WEB_ISSUERS, comma-separated)")
    serve.add_argument("--grpc-ca-cert", help="CA of the services' certificates ($CREDVERIFY_WEB_GRPC_CA_CERT)")
    serve.add_argument("--grpc-client-cert", help="the pages' client certificate for mutual TLS "
                                                  "($CREDVERIFY_WEB_GRPC_CLIENT_CERT)")
    serve.add_argument("--grpc-client-key", help="its key ($CREDVERIFY_WEB_GRPC_CLIENT_KEY)")
    serve.add_argument("--grpc-plaintext-for-local-use", action="store_true",
                       help="plaintext gRPC to services on this machine "
                            "($CREDVERIFY_WEB_GRPC_PLAINTEXT_FOR_LOCAL_USE=1)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this certificate ($CREDVERIFY_WEB_TLS_CERT)")
    serve.add_argument("--tls-key", help="and this key ($CREDVERIFY_WEB_TLS_KEY)")
    serve.add_argument("--behind-https-proxy", action="store_true",
                       help="a proxy terminates TLS: cookies are Secure, X-Forwarded-* is trusted "
                            "($CREDVERIFY_WEB_BEHIND_HTTPS_PROXY=1)")
    serve.add_argument("--log-format", choices=("json", "text"),
                       default=os.environ.get("CREDVERIFY_LOG_FORMAT", "json"),
                       help="log lines as JSON (default) or text for people ($CREDVERIFY_LOG_FORMAT)")
    serve.add_argument("--oidc-issuer", help="single sign-on: the OpenID Connect provider's issuer URL "
                                             "($CREDVERIFY_WEB_OIDC_ISSUER)")
    serve.add_argument("--oidc-client-id", help="the pages' client id at the provider ($CREDVERIFY_WEB_OIDC_CLIENT_ID)")
    serve.add_argument("--oidc-client-secret-file", help="a file holding the client secret "
                                                         "($CREDVERIFY_WEB_OIDC_CLIENT_SECRET[_FILE])")
    serve.set_defaults(handler=_serve)

    account = commands.add_parser("add-account", help="create the account of a case officer or a registrar")
    account.add_argument("--db", default=os.environ.get("CREDVERIFY_WEB_DB", "web.db"), type=Path)
    account.add_argument("--username", required=True)
    role = account.add_mutually_exclusive_group(required=True)
    role.add_argument("--country", help="a case officer of this destination country (ISO 3166-1 alpha-2)")
    role.add_argument("--issuer-id", help="a registrar of this council (issuer id)")
    account.add_argument("--display-name", default="")
    account.add_argument("--password-file", type=Path, help="read the password from this file "
                                                             "(default: ask for it twice)")
    account.add_argument("--sso-issuer", help="single sign-on: the provider's issuer URL, as --oidc-issuer")
    account.add_argument("--sso-subject", help="her subject (sub) at that provider: signing in "
                                                           "there opens this account")
    account.add_argument("--no-password", action="store_true", help="single sign-on only (needs --sso-subject)")
    account.set_defaults(handler=_add_account)


def _serve(args: argparse.Namespace) -> int:
    args.registries = ",".join(args.registry)
    args.issuers = ",".join(args.issuer)
    configure_logging(logging.getLevelName(logging.getLogger().level), json_lines=args.log_format == "json")
    settings = bootstrap.WebSettings.from_env(args)
    server = bootstrap.WebServer(settings)
    print("pages served at %s://%s" % ("https" if settings.tls_cert else "http", settings.listen), flush=True)
    server.serve_forever()
    return EXIT_OK


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            return str(args.password_file.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise ConfigurationError("cannot read %s: %s" % (args.password_file, exc.strerror)) from exc
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ConfigurationError("the two passwords differ")
    return first


def _add_account(args: argparse.Namespace) -> int:
    if bool(args.sso_issuer) != bool(args.sso_subject) or (args.no_password and not args.sso_subject):
        raise ConfigurationError("--sso-issuer and --sso-subject go together, and --no-password needs them")
    # An account for single sign-on only gets a password nobody knows: the password form never opens it.
    password = secrets.token_urlsafe(32) if args.no_password else _password(args)
    store = SqliteWebStore(args.db)
    try:
        role, scope = ("case-officer", args.country) if args.country else ("registrar", args.issuer_id)
        account = create_account(store, username=args.username, role=role, scope=scope, password=password,
                                 display_name=args.display_name)
        if args.sso_subject:
            store.bind_sso(account.username, args.sso_issuer.rstrip("/"), args.sso_subject)
    finally:
        store.close()
    print("account %s created: %s of %s" % (account.username, account.role.value, account.scope), file=sys.stdout)
    return EXIT_OK
