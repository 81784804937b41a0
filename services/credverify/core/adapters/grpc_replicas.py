"""One gRPC channel over several replicas of a service: calls spread over the replicas that are up,
a replica that dies or reports NOT_SERVING is skipped, and a call it cut off is tried again on another.

Two registry replicas of one country (each its own store, each ingesting the whole topics) answer
every call the same way, so a client may ask either. ``open_replicated_channel("a:50051,b:50051",
tls, service=...)`` gives it one channel to both, with gRPC's own machinery:

- ``round_robin`` load balancing: one connection per replica, calls taken in turn by those READY;
  a connection that breaks takes its replica out of the turn until it reconnects.
- client-side health checking (``healthCheckConfig``): each connection watches the replica's
  grpc.health.v1 status for ``service``, so a replica still catching up with the hub (NOT_SERVING)
  gets no calls even though it accepts connections.
- a retry policy: a call that fails UNAVAILABLE (the replica died under it, or was draining) is sent
  again, up to MAX_ATTEMPTS in all, with backoff; round_robin sends it to the next replica. Only
  calls that are safe to repeat belong on such a channel: the registry's are (Verify reads,
  RecordRegistration is idempotent by its move id).

Addresses are resolved once, when the channel is made (gRPC's ``ipv4:``/``ipv6:`` targets list them);
a single name (e.g. a Kubernetes headless service) is passed to gRPC's DNS resolver as it is, which
follows its addresses as they change. With TLS, every replica must present a certificate for the
first target's host name (the channel's authority).
"""

from __future__ import annotations

import ipaddress
import json
import socket

import grpc

from credverify.core.adapters.grpc_security import ClientTls, open_channel
from credverify.core.errors import ConfigurationError

MAX_ATTEMPTS = 4
INITIAL_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0


def split_targets(targets: str) -> list[tuple[str, int]]:
    """Parse ``host:port[,host:port...]`` (``[::1]:50051`` for IPv6). Raises ConfigurationError."""
    parsed = []
    for part in (p.strip() for p in targets.split(",")):
        host, sep, port = part.rpartition(":")
        if not part or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError("target: expected host:port[,host:port...], found %r" % targets)
        parsed.append((host.strip("[]"), int(port)))
    return parsed


def service_config(service: str) -> str:
    """The channel's service config: round_robin, health checking of ``service``, retry on UNAVAILABLE."""
    return json.dumps({
        "loadBalancingConfig": [{"round_robin": {}}],
        "healthCheckConfig": {"serviceName": service},
        "methodConfig": [{
            "name": [{"service": service}],
            "retryPolicy": {
                "maxAttempts": MAX_ATTEMPTS,
                "initialBackoff": "%gs" % INITIAL_BACKOFF_S,
                "maxBackoff": "%gs" % MAX_BACKOFF_S,
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }],
    })


def _host_port(host: str, port: int) -> str:
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def _addresses(host: str, port: int) -> list[str]:
    """``host``'s addresses as gRPC writes them in an ``ipv4:``/``ipv6:`` target. Raises ConfigurationError."""
    try:
        ipaddress.ip_address(host)
        found = [host]
    except ValueError:
        try:
            found = list(dict.fromkeys(str(info[4][0])
                                       for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))
        except OSError as exc:
            raise ConfigurationError("target %s:%d: cannot resolve %s (%s)" % (host, port, host, exc)) from exc
    return [_host_port(a, port) for a in found]


def replicated_target(targets: str) -> str:
    """The gRPC target naming every replica in ``targets`` (host:port, comma-separated): one name is
    left to gRPC's DNS resolver; several are resolved now into an ``ipv4:`` (or ``ipv6:``) list."""
    parsed = split_targets(targets)
    if len(parsed) == 1:
        return _host_port(*parsed[0])
    addresses = [a for host, port in parsed for a in _addresses(host, port)]
    v6 = [a for a in addresses if a.startswith("[")]
    if v6 and len(v6) != len(addresses):
        raise ConfigurationError("target %r: mixes IPv4 and IPv6 replicas; name them all one way" % targets)
    return ("ipv6:" if v6 else "ipv4:") + ",".join(addresses)


def open_replicated_channel(targets: str, tls: ClientTls | None, *, service: str) -> grpc.Channel:
    """A channel over the replicas ``targets`` (host:port, comma-separated) of ``service`` (its full
    name, as health reports it): TLS when ``tls`` is given, else plaintext (local use only).
    Raises ConfigurationError for a target that does not parse or resolve."""
    options: list[tuple[str, object]] = [("grpc.service_config", service_config(service)),
                                         ("grpc.enable_retries", 1)]
    parsed = split_targets(targets)
    if len(parsed) > 1:
        # What TLS checks the replicas' certificates against (and :authority), as for one target.
        options.append(("grpc.default_authority", _host_port(*parsed[0])))
    return open_channel(replicated_target(targets), tls, options=options)
