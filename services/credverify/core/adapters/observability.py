"""Logs and metrics shared by credverify's services.

Logs are one JSON object per line (time, level, logger, message, and any
``extra=`` fields), so that a log pipeline can index them without parsing prose.
What goes into a message is the caller's responsibility: never a name, a
practitioner number or a birth date; credential ids, reason codes, offsets and
counts are fine.

Metrics are Prometheus metrics on a plain HTTP endpoint (``/metrics``), each
service with its own registry so that several services in one process (tests)
do not collide. gRPC servers get a request counter and a latency histogram per
method from ``GrpcServerMetrics``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from credverify.core.errors import ConfigurationError

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is logged as a field.
_STANDARD_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# Unary answers of a registry take well under a millisecond of work; the buckets resolve the
# sub-millisecond range and still show the tail of a slow broker on RecordRegistration.
RPC_SECONDS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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


class GrpcServerMetrics(grpc.ServerInterceptor):  # type: ignore[misc]
    """Counts every RPC by method and status code and times unary ones.

    Metric names follow the conventions of grpc-ecosystem's go-grpc-prometheus, so dashboards
    written for those work here: ``grpc_server_handled_total{grpc_service, grpc_method, grpc_code}``
    and ``grpc_server_handling_seconds{grpc_service, grpc_method}``.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._handled = Counter("grpc_server_handled_total", "RPCs completed on the server, by status code.",
                                ["grpc_service", "grpc_method", "grpc_code"], registry=registry)
        self._seconds = Histogram("grpc_server_handling_seconds",
                                  "Time from receiving a unary request to returning its answer.",
                                  ["grpc_service", "grpc_method"], registry=registry,
                                  buckets=RPC_SECONDS_BUCKETS)
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._lock = threading.Lock()

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        wrapped = self._handlers.get(method)
        if wrapped is not None:
            return wrapped
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: gRPC answers UNIMPLEMENTED
        wrapped = self._wrap(method, handler)
        with self._lock:
            self._handlers[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        service, _, name = method.lstrip("/").rpartition("/")
        seconds = self._seconds.labels(service, name)
        codes: dict[str, Any] = {}

        def count(code: str) -> None:
            counter = codes.get(code)
            if counter is None:
                counter = codes[code] = self._handled.labels(service, name, code)
            counter.inc()

        if handler.unary_unary is not None:
            unary = handler.unary_unary

            def timed(request: Any, context: grpc.ServicerContext) -> Any:
                started = time.perf_counter()
                try:
                    response = unary(request, context)
                except BaseException:
                    count(_code_name(context, "UNKNOWN"))
                    raise
                finally:
                    seconds.observe(time.perf_counter() - started)
                count(_code_name(context, "OK"))
                return response

            return grpc.unary_unary_rpc_method_handler(
                timed, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)

        if handler.unary_stream is not None:
            streaming = handler.unary_stream

            def counted(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                try:
                    yield from streaming(request, context)
                except GeneratorExit:  # the caller went away: cancelled, or its deadline passed
                    count("CANCELLED")
                    raise
                except BaseException:
                    count(_code_name(context, "UNKNOWN"))
                    raise
                count(_code_name(context, "OK"))

            return grpc.unary_stream_rpc_method_handler(
                counted, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler  # client- and bidirectional streaming: none in credverify yet


def _code_name(context: grpc.ServicerContext, default: str) -> str:
    code = context.code()  # set by abort() or set_code(); None when the handler just returned
    return code.name if isinstance(code, grpc.StatusCode) else default
