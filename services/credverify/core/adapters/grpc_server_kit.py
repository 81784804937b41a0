"""What every credverify gRPC server is made of: one error boundary, three interceptors, one builder.

``RpcBoundary`` decides once what an RPC's failure means for the caller. ``build_server`` assembles
a server from a service and the parts every service shares, outermost first:

(1) ``GrpcServerMetrics`` counts and times every call, refusals included (when metrics are on);
(2) ``ShutdownGate`` answers UNAVAILABLE once the server is draining, and waits for running calls;
(3) ``DecodeErrorsAreInvalidArgument`` answers request bytes that do not parse with INVALID_ARGUMENT;
then the standard health service (NOT_SERVING until the composition root says otherwise),
reflection, a bound on message sizes, and TLS or plaintext.

The interceptors share one way of wrapping a method's handler (``MethodInterceptor``) and wrap a
method once, when it is first called, and only when the server serves it: a peer may send any
``:path``, and an unknown one must not leave anything behind.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, Counter, Histogram

from credverify.core.adapters.grpc_security import ServerTls
from credverify.core.errors import (
    AccessDenied,
    ConfigurationError,
    DeliveryFailed,
    HubUnavailable,
    InvalidInput,
    NotFound,
    Refused,
)

logger = logging.getLogger(__name__)

# An attestation envelope is a few hundred bytes (at most 64 KiB); a watch of 1,000 ids is ~30 KB.
MAX_MESSAGE_BYTES = 1 * 1024 * 1024
# Unary answers take well under a millisecond of work; the buckets resolve the sub-millisecond
# range and still show the tail of a slow broker on the calls that publish.
RPC_SECONDS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Behaviour = Callable[[Any, grpc.ServicerContext], Any]


# --- the error boundary ---------------------------------------------------------------------------

# Our errors and what a caller is told: (kind, status, message for the caller or None for the
# error's own, whether to log it). First match wins, so a subclass comes before its base.
_STATUS_OF: tuple[tuple[type[Exception], grpc.StatusCode, str | None, bool], ...] = (
    (NotFound, grpc.StatusCode.NOT_FOUND, None, False),
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT, None, False),
    (AccessDenied, grpc.StatusCode.PERMISSION_DENIED, None, True),
    (ConfigurationError, grpc.StatusCode.FAILED_PRECONDITION, None, False),
    (DeliveryFailed, grpc.StatusCode.UNAVAILABLE, "the hub did not confirm the record; retry the call", True),
    (HubUnavailable, grpc.StatusCode.UNAVAILABLE, "the hub does not answer; retry later", True),
)


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str, bool] | None:
    """Return the status, the message for the caller and whether to log, for one of our errors;
    None for anything else (an unexpected failure)."""
    if isinstance(exc, Refused):
        code = getattr(grpc.StatusCode, exc.status, None)
        return (code, str(exc), False) if isinstance(code, grpc.StatusCode) else None
    for kind, code, message, log in _STATUS_OF:
        if isinstance(exc, kind):
            return code, message or str(exc), log
    return None


class RpcBoundary:
    """``with RpcBoundary(context, "Verify", service="registry"):`` around an RPC's body; the only
    place that calls ``context.abort``.

    A malformed request is INVALID_ARGUMENT (NOT_FOUND when it names something that does not exist),
    a refused caller PERMISSION_DENIED, a missing precondition (e.g. no key that may sign)
    FAILED_PRECONDITION, a hub that does not answer or confirm UNAVAILABLE with a generic message;
    ``Refused`` carries any other deliberate status. Anything else is INTERNAL with a generic message
    and the traceback in the log."""

    def __init__(self, context: grpc.ServicerContext, rpc: str, *, service: str) -> None:
        self._context = context
        self._rpc = rpc
        self._service = service

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if not isinstance(exc, Exception):
            return  # no failure, or GeneratorExit and the like: not ours to answer
        status = status_of(exc)
        if status is None:
            logger.error("%s failed", self._rpc, exc_info=(type(exc), exc, exc.__traceback__))
            status = (grpc.StatusCode.INTERNAL, "internal error; the %s logged the details" % self._service, False)
        code, message, log = status
        if log:
            logger.warning("%s: %s", self._rpc, exc)
        self._context.abort(code, message)


# --- one way to wrap a method's handler -------------------------------------------------------------

def _nothing(request: Any, context: grpc.ServicerContext) -> object:
    return None


def _ignore(state: object, context: grpc.ServicerContext, error: BaseException | None) -> None:
    return None


@dataclass(frozen=True)
class CallHooks:
    """What an interceptor does around each call of one method: ``begin`` before the handler (it may
    abort; its result is handed to ``end``), ``end`` after it with the exception that ended it or
    None; and optionally a request deserializer in place of the method's own."""

    begin: Callable[[Any, grpc.ServicerContext], object] = _nothing
    end: Callable[[object, grpc.ServicerContext, BaseException | None], None] = _ignore
    request_deserializer: Callable[[bytes], Any] | None = None


def _unary(behaviour: Behaviour, hooks: CallHooks) -> Behaviour:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        state = hooks.begin(request, context)
        try:
            response = behaviour(request, context)
        except BaseException as exc:
            hooks.end(state, context, exc)
            raise
        hooks.end(state, context, None)
        return response
    return call


def _streaming(behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]], hooks: CallHooks
               ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
    def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        state = hooks.begin(request, context)
        try:
            yield from behaviour(request, context)
        except BaseException as exc:  # GeneratorExit too: the caller went away
            hooks.end(state, context, exc)
            raise
        hooks.end(state, context, None)
    return call


def wrap_handler(handler: grpc.RpcMethodHandler, hooks: CallHooks) -> grpc.RpcMethodHandler:
    """Return ``handler`` with ``hooks`` around each call. Client- and bidirectional streaming
    methods (none in credverify) are returned as they are."""
    deserializer = hooks.request_deserializer or handler.request_deserializer
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _unary(handler.unary_unary, hooks), request_deserializer=deserializer,
            response_serializer=handler.response_serializer)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            _streaming(handler.unary_stream, hooks), request_deserializer=deserializer,
            response_serializer=handler.response_serializer)
    return handler


class MethodInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Base of credverify's interceptors: wraps each method the server serves once, with the hooks
    ``hooks_for`` returns for it (None: the method stays as it is).

    Only methods the server serves are remembered; for any other ``:path`` the continuation finds
    no handler, gRPC answers UNIMPLEMENTED, and nothing is kept."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def hooks_for(self, method: str, handler: grpc.RpcMethodHandler) -> CallHooks | None:
        raise NotImplementedError

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        hooks = self.hooks_for(method, handler)
        return self._wrapped.setdefault(method, handler if hooks is None else wrap_handler(handler, hooks))

    @property
    def methods_wrapped(self) -> int:
        return len(self._wrapped)


# --- the interceptors --------------------------------------------------------------------------------

class _Undecodable:
    """Stands for request bytes that are not the method's message (gRPC itself would say INTERNAL)."""

    def __init__(self, message_name: str) -> None:
        self.message_name = message_name


class DecodeErrorsAreInvalidArgument(MethodInterceptor):
    """Answers a request whose bytes do not parse with INVALID_ARGUMENT: the sender's mistake.

    gRPC Python reports a request deserializer's exception as INTERNAL, which would tell the
    caller (and the alerts) that the server is at fault."""

    def hooks_for(self, method: str, handler: grpc.RpcMethodHandler) -> CallHooks | None:
        parse = handler.request_deserializer
        if parse is None or handler.request_streaming:
            return None
        descriptor = getattr(getattr(parse, "__self__", None), "DESCRIPTOR", None)
        undecodable = _Undecodable(descriptor.full_name if descriptor is not None else "request")

        def lenient(data: bytes) -> Any:
            try:
                return parse(data)
            except DecodeError:
                return undecodable

        def check(request: Any, context: grpc.ServicerContext) -> None:
            if request is undecodable:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              "request: expected a serialized %s" % undecodable.message_name)

        return CallHooks(begin=check, request_deserializer=lenient)


class ShutdownGate(MethodInterceptor):
    """Lets a server stop without cancelling anyone: once ``drain`` is called, new calls to ``service``
    are answered UNAVAILABLE (which clients retry, on another replica), and ``drain`` returns when
    the calls already running have finished.

    gRPC Python's own ``stop(grace)`` lets running calls finish too, but calls that reach it during
    the grace period are left unanswered and then CANCELLED, which clients do not retry. So the gate
    also waits until no call has come for QUIET_S: a client whose last answer was just sent has had
    the time to hear UNAVAILABLE on its next call before the server stops listening. Health and
    reflection are not gated: a prober must hear NOT_SERVING."""

    QUIET_S = 0.25

    def __init__(self, service: str, *, label: str) -> None:
        super().__init__()
        self._prefix = "/%s/" % service
        self._refusal = "the %s is shutting down; retry" % label
        self._idle = threading.Condition()
        self._running = 0
        self._draining = False
        self._last_refused = 0.0

    def drain(self, timeout: float) -> bool:
        """Refuse new calls; wait up to ``timeout`` seconds for running ones to finish and for callers
        to go quiet. Returns True when no call is left running."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._draining = True
            self._last_refused = time.monotonic()
            if not self._idle.wait_for(lambda: self._running == 0, timeout=timeout):
                return False
            while (now := time.monotonic()) < min(self._last_refused + self.QUIET_S, deadline):
                self._idle.wait(min(self._last_refused + self.QUIET_S, deadline) - now)
            return self._running == 0

    def _enter(self, request: Any, context: grpc.ServicerContext) -> None:
        with self._idle:
            admitted = not self._draining
            if admitted:
                self._running += 1
            else:
                self._last_refused = time.monotonic()
        if not admitted:
            context.abort(grpc.StatusCode.UNAVAILABLE, self._refusal)

    def _leave(self, state: object, context: grpc.ServicerContext, error: BaseException | None) -> None:
        with self._idle:
            self._running -= 1
            if self._running == 0:
                self._idle.notify_all()

    def hooks_for(self, method: str, handler: grpc.RpcMethodHandler) -> CallHooks | None:
        return CallHooks(begin=self._enter, end=self._leave) if method.startswith(self._prefix) else None


def _code_name(context: grpc.ServicerContext, error: BaseException | None) -> str:
    if isinstance(error, GeneratorExit):  # the caller went away: cancelled, or its deadline passed
        return "CANCELLED"
    code = context.code()  # set by abort() or set_code(); None when the handler just returned
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    return "OK" if error is None else "UNKNOWN"


class GrpcServerMetrics(MethodInterceptor):
    """Counts every RPC by method and status code and times unary ones.

    Metric names follow the conventions of grpc-ecosystem's go-grpc-prometheus, so dashboards
    written for those work here: ``grpc_server_handled_total{grpc_service, grpc_method, grpc_code}``
    and ``grpc_server_handling_seconds{grpc_service, grpc_method}``.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self._handled = Counter("grpc_server_handled_total", "RPCs completed on the server, by status code.",
                                ["grpc_service", "grpc_method", "grpc_code"], registry=registry)
        self._seconds = Histogram("grpc_server_handling_seconds",
                                  "Time from receiving a unary request to returning its answer.",
                                  ["grpc_service", "grpc_method"], registry=registry,
                                  buckets=RPC_SECONDS_BUCKETS)

    def hooks_for(self, method: str, handler: grpc.RpcMethodHandler) -> CallHooks | None:
        service, _, name = method.lstrip("/").rpartition("/")
        seconds = None if handler.response_streaming else self._seconds.labels(service, name)
        counters: dict[str, Any] = {}  # label look-up once per code: these wrap the hot path

        def end(started: object, context: grpc.ServicerContext, error: BaseException | None) -> None:
            if seconds is not None:
                seconds.observe(time.perf_counter() - started)  # type: ignore[operator]
            code = _code_name(context, error)
            counter = counters.get(code)
            if counter is None:
                counter = counters[code] = self._handled.labels(service, name, code)
            counter.inc()

        return CallHooks(begin=lambda request, context: time.perf_counter(), end=end)


# --- settings every server shares ---------------------------------------------------------------------

def setting(args: object, name: str, env: Mapping[str, str], env_name: str, default: str | None = None
            ) -> str | None:
    """Return the command-line value ``args.<name>`` when given, else ``$<env_name>``, else ``default``."""
    value = getattr(args, name, None)
    return str(value) if value else env.get(env_name) or default


@dataclass(frozen=True)
class ServerSettings:
    """Where a service listens and how: TLS (None: plaintext, asked for by name), the Prometheus
    endpoint (None: none), and whether logs are JSON lines."""

    listen: str
    tls: ServerTls | None
    metrics_listen: str | None = None
    json_logs: bool = True

    @classmethod
    def from_env(cls, args: object, env: Mapping[str, str], *, prefix: str, default_listen: str) -> ServerSettings:
        """Read --listen, --tls-cert, --tls-key, --tls-client-ca, --plaintext-for-local-use,
        --metrics-listen and --log-format, each falling back to ``$<prefix>LISTEN`` and so on (and
        $CREDVERIFY_LOG_FORMAT). Raises ConfigurationError when the transport is not chosen clearly."""
        def path(name: str, env_name: str) -> Path | None:
            value = setting(args, name, env, prefix + env_name)
            return Path(value) if value else None

        plaintext = bool(getattr(args, "plaintext_for_local_use", False)) or (
            env.get(prefix + "PLAINTEXT_FOR_LOCAL_USE", "") == "1")
        tls = ServerTls.chosen(cert=path("tls_cert", "TLS_CERT"), key=path("tls_key", "TLS_KEY"),
                               client_ca=path("tls_client_ca", "TLS_CLIENT_CA"), plaintext_for_local_use=plaintext)
        return cls(
            listen=setting(args, "listen", env, prefix + "LISTEN") or default_listen,
            tls=tls,
            metrics_listen=setting(args, "metrics_listen", env, prefix + "METRICS_LISTEN"),
            json_logs=(setting(args, "log_format", env, "CREDVERIFY_LOG_FORMAT") or "json") == "json",
        )


# --- the server --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceBinding:
    """A service to serve: its descriptor, how to add its servicer to a server, and what the service
    is called in messages to callers ("registry", "issuer")."""

    descriptor: ServiceDescriptor
    register: Callable[[grpc.Server], None]
    label: str


class GrpcServer:
    """A bound server with its health service and shutdown gate. Health is NOT_SERVING until
    ``set_serving(True)``, and for good once ``stop`` begins."""

    def __init__(self, server: grpc.Server, health_servicer: health.HealthServicer, gate: ShutdownGate,
                 port: int, service: str) -> None:
        self.server = server
        self.health = health_servicer
        self.gate = gate
        self.port = port
        self._names = ("", service)
        self._serving: bool | None = None

    def start(self) -> None:
        self.server.start()

    def set_serving(self, serving: bool, why: str = "") -> None:
        """Say SERVING or NOT_SERVING on the health service (for the server and the service); a change
        is logged with ``why`` (e.g. the check that failed)."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        if serving != self._serving:  # a check that failed after start-up is worth a warning
            logger.log(logging.WARNING if why and not serving else logging.INFO, "health: %s%s",
                       health_pb2.HealthCheckResponse.ServingStatus.Name(status), " (%s)" % why if why else "")
        self._serving = serving
        for name in self._names:
            self.health.set(name, status)

    def stop(self, grace: float, *, release: Callable[[], None] | None = None) -> bool:
        """NOT_SERVING for good; ``release`` (e.g. end long-lived streams); refuse new calls and let
        running ones finish for up to ``grace`` seconds; stop listening. Returns True when no call
        was cut off."""
        deadline = time.monotonic() + grace
        self.health.enter_graceful_shutdown()
        if release is not None:
            release()
        drained = self.gate.drain(grace)
        if not drained:
            logger.warning("calls still running after %.0f s are cancelled", grace)
        self.server.stop(max(deadline - time.monotonic(), 0.0)).wait()
        return drained


def _options(max_message_bytes: int, keepalive_ms: int | None, reuse_port: bool = False) -> list[tuple[str, int]]:
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Without this, a second server on the same port would share it silently; only the worker
        # processes of one registry ask to share theirs (the kernel spreads connections over them).
        ("grpc.so_reuseport", 1 if reuse_port else 0),
    ]
    if keepalive_ms is not None:  # pings on idle connections find a peer whose machine vanished
        options += [("grpc.keepalive_time_ms", keepalive_ms), ("grpc.keepalive_timeout_ms", keepalive_ms // 3)]
    return options


def _bind(server: grpc.Server, listen: str, tls: ServerTls | None) -> int:
    credentials = tls.credentials() if tls else None
    try:
        port = server.add_secure_port(listen, credentials) if credentials else server.add_insecure_port(listen)
    except RuntimeError as exc:  # what gRPC raises when the address is taken or does not resolve
        raise ConfigurationError("cannot listen on %s: %s" % (listen, exc)) from exc
    if port == 0:
        raise ConfigurationError("cannot listen on %s" % listen)
    return int(port)


def build_server(service: ServiceBinding, *, listen: str, tls: ServerTls | None,
                 metrics: GrpcServerMetrics | None = None, workers: int = 8, keepalive_ms: int | None = None,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, maximum_concurrent_rpcs: int | None = None,
                 reuse_port: bool = False) -> GrpcServer:
    """Return a bound, not yet started server for ``service`` with health and reflection: TLS when
    ``tls`` is given, else plaintext; ``workers`` threads (one per running call or open stream);
    with ``reuse_port``, bound with SO_REUSEPORT so that processes of one service share the port.
    Raises ConfigurationError when ``listen`` cannot be bound or the TLS files are unusable."""
    name = service.descriptor.full_name
    gate = ShutdownGate(name, label=service.label)
    interceptors: list[grpc.ServerInterceptor] = [gate, DecodeErrorsAreInvalidArgument()]
    if metrics is not None:
        interceptors.insert(0, metrics)  # outermost: refusals by the gate are counted too
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
                         interceptors=interceptors, options=_options(max_message_bytes, keepalive_ms, reuse_port),
                         maximum_concurrent_rpcs=maximum_concurrent_rpcs)
    service.register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((name, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    running = GrpcServer(server, health_servicer, gate, _bind(server, listen, tls), name)
    running.set_serving(False)
    return running


def stop_on_signals() -> threading.Event:
    """Return an event that SIGTERM or SIGINT sets: what a service's command line hands to ``run``.
    Call from the main thread."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def first_failure(checks: Mapping[str, Callable[[], object]]) -> str | None:
    """Run the health checks in order; return the name of the first that raises or returns False
    (logged at debug), or None when all pass."""
    for name, check in checks.items():
        try:
            if check() is False:
                return name
        except Exception:  # noqa: BLE001 - any failure of a check means "not serving"
            logger.debug("health check %s failed", name, exc_info=True)
            return name
    return None
