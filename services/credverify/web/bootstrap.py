"""The composition root of the pages: settings from the environment (and the command line), the
store, the gRPC clients, the application, and uvicorn serving it."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from credverify.core.adapters.grpc_security import ClientTls
from credverify.core.adapters.http_server import ThreadedHttpServer
from credverify.core.adapters.observability import split_host_port
from credverify.core.errors import ConfigurationError
from credverify.web.adapters.grpc_clients import IssuerClient, RegistryClient
from credverify.web.adapters.oidc_http import OidcClient
from credverify.web.adapters.sqlite_store import SqliteWebStore
from credverify.web.app import MeasuredApp, WebDeps
from credverify.web.assembly import create_app
from credverify.web.security import create_account

logger = logging.getLogger(__name__)

ENV_PREFIX = "CREDVERIFY_WEB_"


def _targets(text: str, what: str) -> dict[str, str]:
    """Parse ``KEY=host:port,KEY=host:port``, each target possibly replicas ``host:port|host:port``.
    Raises ConfigurationError."""
    targets: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, target = part.partition("=")
        replicas = [replica.strip() for replica in target.split("|")]
        if not sep or not key.strip() or not all(":" in replica for replica in replicas):
            raise ConfigurationError("%s: expected KEY=host:port[|host:port][,KEY=host:port], found %r"
                                     % (what, part))
        targets[key.strip().upper()] = "|".join(replicas)
    return targets


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host or "0.0.0.0").is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class WebSettings:
    listen: str
    db_path: Path
    registries: dict[str, str]  # destination country -> registry host:port, or replicas a:p|b:p
    issuers: dict[str, str]  # issuer id -> issuer service host:port
    grpc_tls: ClientTls | None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    behind_https_proxy: bool = False
    oidc_issuer: str = ""  # single sign-on: the OpenID Connect provider's issuer URL
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        self._check_listen()
        self._check_oidc()
        if not self.registries and not self.issuers:
            raise ConfigurationError("no service to talk to: pass --registry COUNTRY=host:port and/or "
                                     "--issuer ISSUER=host:port ($%sREGISTRIES, $%sISSUERS)" % (ENV_PREFIX, ENV_PREFIX))

    def _check_oidc(self) -> None:
        if not (self.oidc_issuer or self.oidc_client_id):
            return
        if not (self.oidc_issuer and self.oidc_client_id):
            raise ConfigurationError("single sign-on needs both --oidc-issuer and --oidc-client-id")
        url = urllib.parse.urlsplit(self.oidc_issuer)
        if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname or "")):
            raise ConfigurationError("--oidc-issuer: expected an https:// URL (http:// only on this machine), "
                                     "found %r" % self.oidc_issuer)

    def _check_listen(self) -> None:
        host, _ = split_host_port(self.listen)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigurationError("--tls-cert and --tls-key go together")
        if self.tls_cert is None and not self.behind_https_proxy and not _loopback(host):
            raise ConfigurationError("plain HTTP is served only on a loopback address: pass --tls-cert/--tls-key, "
                                     "or --behind-https-proxy when a proxy terminates TLS")

    @property
    def secure_cookies(self) -> bool:
        return self.tls_cert is not None or self.behind_https_proxy

    @classmethod
    def from_env(cls, args: argparse.Namespace | None = None) -> WebSettings:
        """Each setting from the command line, else $CREDVERIFY_WEB_<NAME>. Raises ConfigurationError."""
        env = os.environ

        def pick(name: str, default: str = "") -> str:
            value = getattr(args, name, None) if args is not None else None
            return str(value) if value not in (None, "", False) else env.get(ENV_PREFIX + name.upper(), default)

        def path(name: str) -> Path | None:
            value = pick(name)
            return Path(value) if value else None

        secret = pick("oidc_client_secret")
        if not secret and pick("oidc_client_secret_file"):
            secret = Path(pick("oidc_client_secret_file")).read_text(encoding="utf-8").strip()
        tls = ClientTls.chosen(ca=path("grpc_ca_cert"), cert=path("grpc_client_cert"), key=path("grpc_client_key"),
                               plaintext_for_local_use=pick("grpc_plaintext_for_local_use") in ("1", "True"))
        return cls(listen=pick("listen", "127.0.0.1:8080"), db_path=Path(pick("db", "web.db")),
                   registries=_targets(pick("registries"), "registries"), issuers=_targets(pick("issuers"), "issuers"),
                   grpc_tls=tls, tls_cert=path("tls_cert"), tls_key=path("tls_key"),
                   behind_https_proxy=pick("behind_https_proxy") in ("1", "True"),
                   oidc_issuer=pick("oidc_issuer").rstrip("/"), oidc_client_id=pick("oidc_client_id"),
                   oidc_client_secret=secret)


def open_deps(settings: WebSettings) -> WebDeps:
    return WebDeps(store=SqliteWebStore(settings.db_path),
                   registries={c: RegistryClient(t, settings.grpc_tls) for c, t in settings.registries.items()},
                   issuers={i: IssuerClient(t, settings.grpc_tls) for i, t in settings.issuers.items()},
                   secure_cookies=settings.secure_cookies,
                   oidc=OidcClient(settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret)
                   if settings.oidc_issuer else None)


def close_deps(deps: WebDeps) -> None:
    for hub in deps.extras.get("watch_hubs", {}).values():
        hub.stop()
    for client in [*deps.registries.values(), *deps.issuers.values()]:
        client.close()
    deps.store.close()


class WebServer(ThreadedHttpServer):
    """The pages served by uvicorn in a thread of this process: ``start()`` returns once it listens
    (``url`` then says where), ``stop()`` ends it. For the command line, the demo and the tests."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.deps = open_deps(settings)
        super().__init__(MeasuredApp(create_app(self.deps), self.deps.metrics), settings.listen, what="the pages",
                         thread_name="web", proxy_headers=settings.behind_https_proxy, tls_cert=settings.tls_cert,
                         tls_key=settings.tls_key)

    def start(self, timeout: float = 30.0) -> WebServer:
        """Start serving in a thread. Raises ConfigurationError when it did not listen within ``timeout`` s."""
        super().start(timeout)
        logger.info("pages served at %s", self.url)
        return self

    def serve_forever(self) -> None:
        """Serve in this (main) thread until SIGTERM or SIGINT; uvicorn lets running requests finish."""
        try:
            super().serve_forever()
        finally:
            close_deps(self.deps)

    def add_account(self, *, username: str, role: str, scope: str, password: str, display_name: str = "") -> None:
        """Create an account: ``role`` "case-officer" with a country as ``scope``, or "registrar" with an
        issuer id. Raises InvalidInput (a bad name or scope, a password under 12 characters, a taken name)."""
        create_account(self.deps.store, username=username, role=role, scope=scope, password=password,
                       display_name=display_name)

    def stop(self) -> None:
        super().stop()
        close_deps(self.deps)


def start_web(*, registries: dict[str, str] | None = None, issuers: dict[str, str] | None = None,
              db_path: Path, listen: str = "127.0.0.1:0", grpc_tls: ClientTls | None = None,
              oidc: tuple[str, str, str] | None = None) -> WebServer:
    """Start the pages in this process, talking to the given services (plaintext gRPC when ``grpc_tls``
    is None: local use only), with single sign-on when ``oidc`` is (issuer URL, client id, client
    secret); return the running server (``.url``, ``.add_account(...)``, ``.stop()``)."""
    issuer, client_id, secret = oidc or ("", "", "")
    return WebServer(WebSettings(listen=listen, db_path=db_path, registries=registries or {}, issuers=issuers or {},
                                 grpc_tls=grpc_tls, oidc_issuer=issuer, oidc_client_id=client_id,
                                 oidc_client_secret=secret)).start()
