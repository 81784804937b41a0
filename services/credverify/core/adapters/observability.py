"""Logs and metrics shared by credverify's services.

Logs are one JSON object per line (time, level, logger, message, and any
``extra=`` fields), so that a log pipeline can index them without parsing prose.
What goes into a message is the caller's responsibility: never a name, a
practitioner number or a birth date; credential ids, reason codes, offsets and
counts are fine.

Metrics are Prometheus metrics on a plain HTTP endpoint (``/metrics``), each
service with its own registry so that several services in one process (tests)
do not collide. gRPC servers get a request counter and a latency histogram per
method from ``grpc_server_kit.GrpcServerMetrics``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from credverify.core.errors import ConfigurationError

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonLogFormatter(logging.Formatter):
    """Formats a record as one line of JSON: ts (UTC, ISO 8601), level, logger, message, thread,
    the ``extra=`` fields, and ``exception`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_RECORD_FIELDS and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, *, json_lines: bool) -> None:
    """Send every log record to stderr, as JSON lines or as plain text, at ``level`` and above."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if json_lines
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        if type(old) is logging.StreamHandler:  # what basicConfig added; a test runner's handlers stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))  # client chatter, not ours
    # kafka-python warns of "credentials in the clear" on every SASL_PLAINTEXT connection, SCRAM
    # too, where the password never crosses the wire; PLAIN over plaintext is refused by our settings.
    logging.getLogger("kafka.net.sasl.scram").setLevel(logging.ERROR)


def split_host_port(listen: str) -> tuple[str, int]:
    """Parse ``host:port`` (``[::1]:9464`` for IPv6). Raises ConfigurationError."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigurationError("expected host:port, found %r" % listen)
    return host.strip("[]") or "0.0.0.0", int(port)


@dataclass
class MetricsEndpoint:
    """A running /metrics HTTP server; ``port`` is the one bound (useful when asked for port 0)."""

    port: int
    _shutdown: Callable[[], None]

    def stop(self) -> None:
        self._shutdown()


def serve_metrics(listen: str, registry: CollectorRegistry) -> MetricsEndpoint:
    """Serve ``registry`` on http://LISTEN/metrics from a daemon thread. Raises ConfigurationError
    when the address cannot be bound."""
    host, port = split_host_port(listen)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise ConfigurationError("cannot serve metrics on %s: %s" % (listen, exc.strerror)) from exc

    def shutdown() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return MetricsEndpoint(port=int(server.server_port), _shutdown=shutdown)
