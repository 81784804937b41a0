"""The pages reach a country's registry replicas (``--registry GB=a:p|b:p``) through one balancing
channel: calls go to every replica that says SERVING, and when one is lost mid-stream of calls the
case officer's next verdicts come from the other. Two real gRPC servers on loopback sockets, each
answering as a registry replica of GB would (the registry's own replicas are tested with real
`credverify registry serve` processes in test_registry_workers.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from credverify.core.errors import ConfigurationError
from credverify.v1 import registry_pb2, registry_pb2_grpc
from credverify.web.adapters.grpc_clients import REGISTRY_SERVICE, RegistryClient
from credverify.web.bootstrap import _targets


class Replica(registry_pb2_grpc.RegistryServiceServicer):  # type: ignore[misc]
    """Answers Verify as a replica would, saying which replica answered (in ``detail``)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def Verify(self, request: registry_pb2.VerifyRequest, context: grpc.ServicerContext) -> registry_pb2.VerifyResponse:
        return registry_pb2.VerifyResponse(verified=request.credential_id == "KE-NCK/1", detail=self.name)


def serve(name: str) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(Replica(name), server)
    checks = health.HealthServicer()
    checks.set(REGISTRY_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    checks.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def replicas() -> Iterator[tuple[list[grpc.Server], str]]:
    (first, first_port), (second, second_port) = serve("a"), serve("b")
    try:
        yield [first, second], "127.0.0.1:%d|127.0.0.1:%d" % (first_port, second_port)
    finally:
        for server in (first, second):
            server.stop(grace=None)


def test_verdicts_come_from_every_replica_and_from_the_one_left_when_the_other_is_lost(
        replicas: tuple[list[grpc.Server], str]) -> None:
    servers, target = replicas
    client = RegistryClient(_targets("GB=" + target, "registries")["GB"], None)
    try:
        assert client.serving()
        answered = Counter(client.verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/1")).detail
                           for _ in range(40))
        assert set(answered) == {"a", "b"}, answered  # balanced, not pinned to the first
        servers[0].stop(grace=None).wait()
        after: Counter[str] = Counter()
        failed = 0
        for _ in range(40):
            try:
                response = client.verify(registry_pb2.VerifyRequest(credential_id="KE-NCK/1"))
            except grpc.RpcError:
                failed += 1  # at most the call in flight when the replica went
                continue
            assert response.verified  # never a wrong verdict
            after[response.detail] += 1
        assert failed <= 1 and after["b"] >= 39 and after["a"] == 0, (failed, after)
        assert client.serving()
    finally:
        client.close()


def test_replicas_are_written_with_a_bar_and_each_must_be_host_and_port() -> None:
    assert _targets("gb=10.0.0.1:50051 | 10.0.0.2:50051,IE=r:1", "registries") == {
        "GB": "10.0.0.1:50051|10.0.0.2:50051", "IE": "r:1"}
    with pytest.raises(ConfigurationError, match="KEY=host:port"):
        _targets("GB=10.0.0.1:50051|10.0.0.2", "registries")
