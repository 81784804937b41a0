"""The gRPC server kit every service is built with: what a caller is told when something fails, what
the interceptors do around a call, and that a peer cannot make the server remember arbitrary paths."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import CollectorRegistry

from credverify.core.adapters.grpc_server_kit import (
    DecodeErrorsAreInvalidArgument,
    GrpcServerMetrics,
    MethodInterceptor,
    RpcBoundary,
    ShutdownGate,
)
from credverify.core.errors import (
    AccessDenied,
    ConfigurationError,
    DeliveryFailed,
    HubUnavailable,
    InvalidInput,
    NotFound,
    RegistrationRefused,
    ShuttingDown,
    TooManyWatchers,
)
from credverify.v1 import common_pb2, registry_pb2

SERVICE = "credverify.v1.RegistryService"
VERIFY = "/%s/Verify" % SERVICE


class Aborted(Exception):
    """What ServicerContext.abort raises."""


class FakeContext:
    """Stands in for a gRPC ServicerContext: abort records the status and raises, as gRPC's does."""

    def __init__(self) -> None:
        self.status: grpc.StatusCode | None = None
        self.details = ""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self.status, self.details = code, details
        raise Aborted(details)

    def code(self) -> grpc.StatusCode | None:
        return self.status


class Details:
    def __init__(self, method: str) -> None:
        self.method = method


def verify_handler(behaviour: Callable[[Any, Any], Any] = lambda request, context: "answer"
                   ) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        behaviour, request_deserializer=registry_pb2.VerifyRequest.FromString,
        response_serializer=lambda response: b"")


def served(handler: grpc.RpcMethodHandler) -> Callable[[Any], grpc.RpcMethodHandler | None]:
    """A continuation that knows one method, Verify, as a server with one service would."""
    return lambda details: handler if details.method == VERIFY else None


def failing_with(exc: Exception) -> FakeContext:
    context = FakeContext()
    with pytest.raises(Aborted):
        with RpcBoundary(context, "Verify", service="registry"):  # type: ignore[arg-type]
            raise exc
    return context


@pytest.mark.parametrize(
    ("error", "status", "told"),
    [
        (NotFound("credential_id: no KE-NCK/9"), grpc.StatusCode.NOT_FOUND, "no KE-NCK/9"),
        (InvalidInput("credential_id: expected '<issuer_id>/<number>'"), grpc.StatusCode.INVALID_ARGUMENT,
         "expected"),
        (AccessDenied("caller 'XX' is not on this service's allow-list"), grpc.StatusCode.PERMISSION_DENIED,
         "allow-list"),
        (ConfigurationError("no key may sign"), grpc.StatusCode.FAILED_PRECONDITION, "no key may sign"),
        (DeliveryFailed("KE-NCK/1: timed out"), grpc.StatusCode.UNAVAILABLE, "did not confirm"),
        (TooManyWatchers(32), grpc.StatusCode.RESOURCE_EXHAUSTED, "32 watch streams"),
        (ShuttingDown("the registry is shutting down; watch again"), grpc.StatusCode.UNAVAILABLE, "shutting down"),
        (RegistrationRefused("KE-NCK/9", (common_pb2.REASON_NOT_FOUND,), "no attestation with this id"),
         grpc.StatusCode.NOT_FOUND, "no accepted attestation with id 'KE-NCK/9'"),
        (RegistrationRefused("KE-NCK/1", (common_pb2.REASON_SUSPENDED,), "suspended at home"),
         grpc.StatusCode.FAILED_PRECONDITION, "SUSPENDED): suspended at home"),
    ],
)
def test_each_of_our_errors_reaches_the_caller_as_its_status(error: Exception, status: grpc.StatusCode,
                                                              told: str) -> None:
    context = failing_with(error)
    assert context.status == status and told in context.details


def test_a_hub_that_does_not_answer_is_unavailable_without_its_address() -> None:
    context = failing_with(HubUnavailable("opening a producer: Kafka at 10.0.0.7:9092 did not answer"))
    assert context.status == grpc.StatusCode.UNAVAILABLE
    assert "10.0.0.7" not in context.details and "retry" in context.details


def test_an_unexpected_failure_is_internal_with_a_generic_message(caplog: pytest.LogCaptureFixture) -> None:
    context = failing_with(KeyError("secret detail"))
    assert context.status == grpc.StatusCode.INTERNAL and "secret" not in context.details
    assert "secret detail" in caplog.text, "the traceback goes to the log"


def test_a_registration_refusal_keeps_the_verdict() -> None:
    refused = RegistrationRefused("KE-NCK/1", (common_pb2.REASON_SUSPENDED, common_pb2.REASON_EXPIRED), "both")
    assert refused.reasons == (common_pb2.REASON_SUSPENDED, common_pb2.REASON_EXPIRED) and refused.detail == "both"


def interceptors() -> list[MethodInterceptor]:
    return [DecodeErrorsAreInvalidArgument(), ShutdownGate(SERVICE, label="registry"),
            GrpcServerMetrics(CollectorRegistry())]


@pytest.mark.parametrize("interceptor", interceptors(), ids=lambda i: type(i).__name__)
def test_paths_the_server_does_not_serve_leave_nothing_behind(interceptor: MethodInterceptor) -> None:
    continuation = served(verify_handler())
    for _ in range(2000):  # a peer sending made-up :paths, as fast as it likes
        assert interceptor.intercept_service(continuation, Details("/x.%s/M" % uuid.uuid4().hex)) is None
    assert interceptor.methods_wrapped == 0
    first = interceptor.intercept_service(continuation, Details(VERIFY))
    assert first is not None and interceptor.intercept_service(continuation, Details(VERIFY)) is first
    assert interceptor.methods_wrapped == 1


def test_request_bytes_that_do_not_parse_are_invalid_argument() -> None:
    handler = DecodeErrorsAreInvalidArgument().intercept_service(served(verify_handler()), Details(VERIFY))
    request = handler.request_deserializer(b"\xff\xff\xff")
    context = FakeContext()
    with pytest.raises(Aborted):
        handler.unary_unary(request, context)
    assert context.status == grpc.StatusCode.INVALID_ARGUMENT
    assert "credverify.v1.VerifyRequest" in context.details
    good = handler.request_deserializer(registry_pb2.VerifyRequest(credential_id="KE-NCK/1").SerializeToString())
    assert handler.unary_unary(good, FakeContext()) == "answer"


def test_a_draining_gate_refuses_new_calls_and_waits_for_running_ones() -> None:
    gate = ShutdownGate(SERVICE, label="registry")
    running, release = threading.Event(), threading.Event()

    def slow(request: Any, context: Any) -> str:
        running.set()
        release.wait(10)
        return "finished"

    handler = gate.intercept_service(served(verify_handler(slow)), Details(VERIFY))
    answers: list[str] = []
    call = threading.Thread(target=lambda: answers.append(handler.unary_unary(None, FakeContext())))
    call.start()
    assert running.wait(10)
    drained: list[bool] = []
    drain = threading.Thread(target=lambda: drained.append(gate.drain(10)))
    drain.start()
    refused = FakeContext()
    while not gate._draining:  # noqa: SLF001 - wait until the drain has begun
        threading.Event().wait(0.01)
    with pytest.raises(Aborted):
        handler.unary_unary(None, refused)
    assert refused.status == grpc.StatusCode.UNAVAILABLE and "registry is shutting down" in refused.details
    assert drain.is_alive(), "drain returned while a call was still running"
    release.set()
    call.join(10)
    drain.join(10)
    assert answers == ["finished"] and drained == [True]


def test_metrics_count_every_call_by_its_status() -> None:
    registry = CollectorRegistry()
    metrics = GrpcServerMetrics(registry)

    def answer_or_refuse(request: Any, context: Any) -> str:
        if request == "bad":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad")
        return "ok"

    handler = metrics.intercept_service(served(verify_handler(answer_or_refuse)), Details(VERIFY))
    handler.unary_unary("good", FakeContext())
    with pytest.raises(Aborted):
        handler.unary_unary("bad", FakeContext())

    def count(code: str) -> float | None:
        return registry.get_sample_value("grpc_server_handled_total", {
            "grpc_service": SERVICE, "grpc_method": "Verify", "grpc_code": code})

    assert count("OK") == 1 and count("INVALID_ARGUMENT") == 1
    assert registry.get_sample_value("grpc_server_handling_seconds_count",
                                     {"grpc_service": SERVICE, "grpc_method": "Verify"}) == 2


def test_a_stream_the_caller_abandons_is_counted_cancelled_and_leaves_the_gate() -> None:
    registry = CollectorRegistry()
    metrics, gate = GrpcServerMetrics(registry), ShutdownGate(SERVICE, label="registry")
    watch = "/%s/WatchStatus" % SERVICE

    def updates(request: Any, context: Any) -> Iterator[int]:
        yield from range(100)

    inner = grpc.unary_stream_rpc_method_handler(updates)

    def gated(details: Any) -> grpc.RpcMethodHandler | None:
        return gate.intercept_service(lambda d: inner if d.method == watch else None, details)

    stream = metrics.intercept_service(gated, Details(watch)).unary_stream(None, FakeContext())
    assert next(stream) == 0
    stream.close()  # what gRPC does when the caller cancels
    assert registry.get_sample_value("grpc_server_handled_total", {
        "grpc_service": SERVICE, "grpc_method": "WatchStatus", "grpc_code": "CANCELLED"}) == 1
    assert gate.drain(1), "the abandoned stream still counts as running"
