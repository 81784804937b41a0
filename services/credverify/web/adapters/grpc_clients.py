"""The pages' clients of the registry and issuer gRPC services: the only way the pages reach them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from credverify.core.adapters.grpc_replicas import open_replicated_channel
from credverify.core.adapters.grpc_security import ClientTls, open_channel
from credverify.v1 import (
    attestation_pb2,
    issuer_pb2,
    issuer_pb2_grpc,
    registry_pb2,
    registry_pb2_grpc,
)

# A person is waiting: a verdict comes in milliseconds, a publication once the hub confirmed it.
READ_DEADLINE_S = 10.0
PUBLISH_DEADLINE_S = 30.0


@dataclass
class _Channel:
    target: str
    channel: grpc.Channel

    def serving(self) -> bool:
        try:
            answer = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
        return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)

    def close(self) -> None:
        self.channel.close()


REGISTRY_SERVICE = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


class RegistryClient(_Channel):
    """The destination registry of one country: one target, or its replicas ``a:p|b:p`` (calls go
    round-robin to those whose health says SERVING, and a call cut off by a replica's loss is tried
    on another)."""

    def __init__(self, target: str, tls: ClientTls | None) -> None:
        channel = open_replicated_channel(target.replace("|", ","), tls, service=REGISTRY_SERVICE) \
            if "|" in target else open_channel(target, tls)
        super().__init__(target, channel)
        self._stub = registry_pb2_grpc.RegistryServiceStub(self.channel)

    def verify(self, request: registry_pb2.VerifyRequest) -> registry_pb2.VerifyResponse:
        return self._stub.Verify(request, timeout=READ_DEADLINE_S)  # type: ignore[no-any-return]

    def record_registration(self, request: registry_pb2.RecordRegistrationRequest
                            ) -> registry_pb2.RecordRegistrationResponse:
        return self._stub.RecordRegistration(request, timeout=PUBLISH_DEADLINE_S)  # type: ignore[no-any-return]

    def watch(self, credential_ids: list[str]) -> Iterator[registry_pb2.StatusUpdate]:
        """The registry's stream of status updates; cancel it with ``.cancel()``."""
        return self._stub.WatchStatus(  # type: ignore[no-any-return]
            registry_pb2.WatchStatusRequest(credential_ids=credential_ids))


class IssuerClient(_Channel):
    """The issuer service of one council."""

    def __init__(self, target: str, tls: ClientTls | None) -> None:
        super().__init__(target, open_channel(target, tls))
        self._stub = issuer_pb2_grpc.IssuerServiceStub(self.channel)

    def issue(self, attestation: attestation_pb2.Attestation) -> issuer_pb2.IssueResponse:
        return self._stub.Issue(issuer_pb2.IssueRequest(attestation=attestation),  # type: ignore[no-any-return]
                                timeout=PUBLISH_DEADLINE_S)

    def change_status(self, request: issuer_pb2.ChangeStatusRequest) -> issuer_pb2.IssueResponse:
        return self._stub.ChangeStatus(request, timeout=PUBLISH_DEADLINE_S)  # type: ignore[no-any-return]

    def get_credential(self, credential_id: str) -> issuer_pb2.IssueResponse:
        return self._stub.GetCredential(  # type: ignore[no-any-return]
            issuer_pb2.GetCredentialRequest(credential_id=credential_id), timeout=READ_DEADLINE_S)

    def get_issuer(self) -> issuer_pb2.GetIssuerResponse:
        return self._stub.GetIssuer(issuer_pb2.GetIssuerRequest(), timeout=READ_DEADLINE_S)  # type: ignore[no-any-return]
