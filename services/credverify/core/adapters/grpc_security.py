"""TLS and mutual TLS for credverify's gRPC services, and who is calling.

A server presents its certificate chain. With a client CA configured it also
requires every caller to present a certificate issued by that CA (mutual TLS):
a certificate from any other CA, or none, is refused during the handshake,
before any RPC runs. The caller's identity is then read from the verified
certificate: its one URI subject alternative name ``urn:credverify:regulator:<ID>``
(e.g. ``urn:credverify:regulator:GB-NMC``). The subject common name is never an
identity: a CA may put any text there, and a certificate issued for a web server
called "GB-NMC" must not act as the council. A certificate without that URI, or
with several, is refused. An allow-list file says which identities may call, for
which country each acts and, for a service with roles (the issuer), which RPCs
each may call; a valid certificate that is not on it gets PERMISSION_DENIED.

Plaintext exists for local use only (the demo, a developer's laptop); it is
spelled out in the name of the policy that allows it, a server in plaintext may
be asked to listen on a loopback address only (``require_loopback``), and a client
uses plaintext only when asked for by name too.
"""

from __future__ import annotations

import ipaddress
import logging
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from credverify.core.codes import check_country
from credverify.core.errors import AccessDenied, ConfigurationError, InvalidInput

logger = logging.getLogger(__name__)

REGULATOR_URI_PREFIX = "urn:credverify:regulator:"
# What gRPC's TLS layer puts in a call's auth context (grpc/grpc_security_constants.h).
_PEER_URI = "peer_uri"
_PEER_CERTIFICATE = "x509_pem_cert"
_PEER_COMMON_NAME = "x509_common_name"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError("cannot read %s %s: %s" % (what, path, exc.strerror)) from exc


def _certificates(path: Path, what: str) -> bytes:
    """Read a PEM file holding one or more certificates; fail at start-up, not at the first handshake."""
    data = _read(path, what)
    try:
        if not x509.load_pem_x509_certificates(data):
            raise ValueError("no certificate")
    except ValueError as exc:
        raise ConfigurationError("%s %s: expected PEM certificate(s) (%s)" % (what, path, exc)) from exc
    return data


def _private_key(path: Path, what: str) -> bytes:
    data = _read(path, what)
    try:
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError("%s %s: expected an unencrypted PEM private key" % (what, path)) from exc
    return data


@dataclass(frozen=True)
class ServerTls:
    """A server's certificate chain and key; with ``client_ca``, callers must present a certificate
    issued by that CA (mutual TLS)."""

    cert_chain: Path
    private_key: Path
    client_ca: Path | None = None

    @classmethod
    def chosen(cls, *, cert: Path | None, key: Path | None, client_ca: Path | None,
               plaintext_for_local_use: bool) -> ServerTls | None:
        """Return TLS from a certificate and key (mutual TLS with ``client_ca``), or None for plaintext
        when explicitly asked for; neither, both, or half a TLS configuration is a ConfigurationError."""
        if cert is None and key is None and client_ca is None:
            if not plaintext_for_local_use:
                raise ConfigurationError(
                    "no transport security configured: pass --tls-cert, --tls-key, --tls-client-ca (and "
                    "--allow-list for a registry) for mutual TLS, or --plaintext-for-local-use on a developer's "
                    "machine")
            return None
        if plaintext_for_local_use:
            raise ConfigurationError("--plaintext-for-local-use contradicts the TLS options given; pick one")
        if cert is None or key is None:
            raise ConfigurationError("TLS needs both --tls-cert and --tls-key")
        return cls(cert_chain=cert, private_key=key, client_ca=client_ca)

    def credentials(self) -> grpc.ServerCredentials:
        """Return gRPC server credentials. Raises ConfigurationError for a missing or unusable file."""
        chain = _certificates(self.cert_chain, "server certificate")
        key = _private_key(self.private_key, "server private key")
        client_ca = _certificates(self.client_ca, "client CA") if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
        )


@dataclass(frozen=True)
class ClientTls:
    """What a client trusts (the CA of the server's certificate) and, for mutual TLS, its own
    certificate chain and key."""

    server_ca: Path
    cert_chain: Path | None = None
    private_key: Path | None = None

    @classmethod
    def chosen(cls, *, ca: Path | None, cert: Path | None, key: Path | None,
               plaintext_for_local_use: bool) -> ClientTls | None:
        """Return TLS trusting ``ca`` (with a client certificate when ``cert`` and ``key`` are given),
        or None for plaintext when explicitly asked for. A client certificate without a CA is refused
        rather than sent nowhere while the request (names, birth dates) goes out in clear.
        Raises ConfigurationError."""
        if plaintext_for_local_use:
            if ca is not None or cert is not None or key is not None:
                raise ConfigurationError("--plaintext-for-local-use contradicts --ca-cert/--cert/--key; pick one")
            return None
        if ca is None:
            if cert is not None or key is not None:
                raise ConfigurationError("a client certificate needs --ca-cert (the CA of the server's "
                                         "certificate): without it the call would go out in plaintext")
            raise ConfigurationError("no transport security: pass --ca-cert (and --cert/--key for mutual TLS), "
                                     "or --plaintext-for-local-use to talk to a server on your own machine")
        if (cert is None) != (key is None):
            raise ConfigurationError("a client certificate needs its private key and vice versa")
        return cls(server_ca=ca, cert_chain=cert, private_key=key)

    def credentials(self) -> grpc.ChannelCredentials:
        """Return gRPC channel credentials. Raises ConfigurationError for a missing or unusable file."""
        if (self.cert_chain is None) != (self.private_key is None):
            raise ConfigurationError("a client certificate needs its private key and vice versa")
        return grpc.ssl_channel_credentials(
            root_certificates=_certificates(self.server_ca, "server CA"),
            private_key=_private_key(self.private_key, "client private key") if self.private_key else None,
            certificate_chain=(_certificates(self.cert_chain, "client certificate")
                               if self.cert_chain else None),
        )


def open_channel(target: str, tls: ClientTls | None, *,
                 options: list[tuple[str, object]] | None = None) -> grpc.Channel:
    """Return a channel to ``target``: TLS when ``tls`` is given, else plaintext (local use only)."""
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, tls.credentials(), options=options)


def peer_identity(context: grpc.ServicerContext) -> str | None:
    """Return ``<ID>`` from the one URI SAN ``urn:credverify:regulator:<ID>`` of the caller's verified
    client certificate, or None when the caller presented no certificate.

    Raises AccessDenied for a certificate without such a URI (its common name does not count) or
    with several: which of them would it act as?
    """
    auth: dict[str, list[bytes]] = context.auth_context()
    if not auth.get(_PEER_CERTIFICATE) and not auth.get(_PEER_COMMON_NAME) and not auth.get(_PEER_URI):
        return None
    regulators = [text for text in (uri.decode("utf-8", errors="replace") for uri in auth.get(_PEER_URI, ()))
                  if text.startswith(REGULATOR_URI_PREFIX)]
    if len(regulators) > 1:
        raise AccessDenied("client certificate: expected one %s<ID> URI, found %d" % (
            REGULATOR_URI_PREFIX, len(regulators)))
    identity = regulators[0][len(REGULATOR_URI_PREFIX):] if regulators else ""
    if not identity:
        raise AccessDenied("client certificate: expected a URI subject alternative name %s<ID>, found none"
                           % REGULATOR_URI_PREFIX)
    return identity


@dataclass(frozen=True)
class Caller:
    """Who is calling, as configured: an identity from a client certificate and the country it acts for."""

    id: str
    country: str
    name: str = ""
    # What it may do on a service with roles (the issuer's "reader", "issuer", "key-admin"); a
    # service without roles (the registry) ignores them.
    roles: frozenset[str] = field(default_factory=frozenset)


class AccessPolicy(Protocol):
    """Decides who the caller of an RPC is; raises AccessDenied when they may not call at all."""

    def caller(self, context: grpc.ServicerContext) -> Caller: ...


class AllowList:
    """The callers a service admits, by certificate identity. Never empty: an empty list would admit
    no one, which is a configuration mistake to report at start-up, not at the first call."""

    def __init__(self, callers: list[Caller]) -> None:
        if not callers:
            raise ConfigurationError("the allow-list names no caller: nobody could ever call")
        self.callers: dict[str, Caller] = {}
        for caller in callers:
            if caller.id in self.callers:
                raise ConfigurationError("the allow-list names caller %r twice" % caller.id)
            self.callers[caller.id] = caller

    @classmethod
    def from_file(cls, path: Path, *, roles: Collection[str] | None = None) -> AllowList:
        """Read a TOML allow-list. A registry's (``roles`` None) names the country each caller acts for::

            [[caller]]
            id = "GB-NMC"          # URI SAN urn:credverify:regulator:GB-NMC of its client certificate
            country = "GB"         # ISO 3166-1 alpha-2: the country the caller acts for
            name = "Nursing and Midwifery Council"

        A service with ``roles`` (the issuer) names what each caller may do instead; country is optional::

            [[caller]]
            id = "KE-NCK-REGISTER"
            name = "the council's register system"
            roles = ["reader", "issuer"]

        Raises ConfigurationError naming the file and the entry.
        """
        try:
            document = tomllib.loads(_read(path, "allow-list").decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigurationError("allow-list %s is not valid TOML: %s" % (path, exc)) from exc
        entries = document.get("caller", [])
        if not isinstance(entries, list):
            raise ConfigurationError("allow-list %s: expected [[caller]] tables" % path)
        return cls([_caller_entry("allow-list %s, caller %d" % (path, index + 1), entry, roles)
                    for index, entry in enumerate(entries)])

    def caller(self, context: grpc.ServicerContext) -> Caller:
        identity = peer_identity(context)
        if identity is None:
            raise AccessDenied("no client certificate: this service admits callers by mutual TLS only")
        caller = self.callers.get(identity)
        if caller is None:
            raise AccessDenied("caller %r is not on this service's allow-list" % identity[:100])
        return caller


def _caller_entry(where: str, entry: object, roles: Collection[str] | None) -> Caller:
    """One [[caller]] table of an allow-list. Raises ConfigurationError naming ``where``."""
    if not isinstance(entry, dict):
        raise ConfigurationError("%s: expected a table" % where)
    caller_id, country, name = entry.get("id"), entry.get("country", ""), entry.get("name", "")
    if not isinstance(caller_id, str) or not caller_id.strip():
        raise ConfigurationError("%s: id: expected the <ID> of the caller's certificate URI %s<ID>" % (
            where, REGULATOR_URI_PREFIX))
    if not isinstance(country, str) or not isinstance(name, str):
        raise ConfigurationError("%s: country and name must be strings" % where)
    if country or roles is None:
        try:
            check_country("country", country)
        except InvalidInput as exc:
            raise ConfigurationError("%s: %s" % (where, exc)) from exc
    return Caller(id=caller_id, country=country, name=name, roles=_roles(where, entry.get("roles"), roles))


def _roles(where: str, given: object, known: Collection[str] | None) -> frozenset[str]:
    if known is None:
        if given is not None:
            raise ConfigurationError("%s: roles: this service has none" % where)
        return frozenset()
    if not isinstance(given, list) or not given or not all(isinstance(r, str) for r in given):
        raise ConfigurationError("%s: roles: expected a list of some of %s" % (where, ", ".join(sorted(known))))
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigurationError("%s: roles: expected some of %s, found %s" % (
            where, ", ".join(sorted(known)), ", ".join(unknown)))
    return frozenset(given)


def admit(policy: AccessPolicy, context: grpc.ServicerContext, role: str) -> Caller:
    """Return the caller when it holds ``role``. Raises AccessDenied when it is not admitted at all or
    lacks the role."""
    caller = policy.caller(context)
    if role not in caller.roles:
        raise AccessDenied("caller %s does not hold the %s role this call needs" % (caller.id, role))
    return caller


class UnauthenticatedLocalAccess:
    """Admits every caller as acting for ``country``: for plaintext on a developer's machine only."""

    def __init__(self, country: str, *, roles: Collection[str] = ()) -> None:
        self._caller = Caller(id="unauthenticated-local", country=country, name="unauthenticated local caller",
                              roles=frozenset(roles))

    def caller(self, context: grpc.ServicerContext) -> Caller:
        return self._caller


def require_loopback(listen: str) -> None:
    """Refuse to serve plaintext anywhere but on this machine: ``listen`` must be a loopback address
    (127.0.0.0/8, ::1, ``localhost``) or a Unix socket. Raises ConfigurationError naming it."""
    if listen.startswith(("unix:", "unix-abstract:")):
        return
    host = listen.rpartition(":")[0].strip("[]") if ":" in listen else listen
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ConfigurationError(
            "--plaintext-for-local-use serves only on a loopback address (127.0.0.1, [::1], localhost), found "
            "--listen %s: anyone who reaches it could call unauthenticated; use mutual TLS there" % listen)
