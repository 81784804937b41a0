"""Pure parts of the registry's workers and of the client over replicas: what a slow worker is told
(coalesced, bounded), and how a list of replicas becomes one gRPC target."""

from __future__ import annotations

import json

import pytest

from credverify.core.adapters.grpc_replicas import replicated_target, service_config, split_targets
from credverify.core.errors import ConfigurationError
from credverify.registry import workers
from credverify.registry.worker import Changed, Health, Stop


def test_a_worker_is_told_every_change_at_once_then_the_latest_health_then_stop() -> None:
    outbox = workers._Outbox()
    outbox.changed({"KE-NCK/1"}, trust=False)
    outbox.health(Health(False, "catching up"))
    outbox.changed({"KE-NCK/2"}, trust=True)
    outbox.health(Health(True))
    outbox.stop(3.0)
    assert outbox.take() == [Changed(frozenset({"KE-NCK/1", "KE-NCK/2"}), True), Health(True), Stop(3.0)]


def test_too_many_pending_credentials_become_anything_may_have_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "MAX_PENDING_IDS", 2)
    outbox = workers._Outbox()
    outbox.changed({"a/1", "a/2", "a/3"}, trust=False)
    outbox.changed({"a/4"}, trust=False)
    assert outbox.take() == [Changed(None, False)]


def test_replicas_become_one_target_for_round_robin() -> None:
    assert replicated_target("127.0.0.1:50051") == "127.0.0.1:50051"
    assert replicated_target("127.0.0.1:50051, 127.0.0.2:50052") == "ipv4:127.0.0.1:50051,127.0.0.2:50052"
    assert replicated_target("[::1]:1,[::1]:2") == "ipv6:[::1]:1,[::1]:2"
    assert split_targets("registry.gb:50051") == [("registry.gb", 50051)]
    for bad in ("", "host", "host:port", "a:1,", "127.0.0.1:70000"):
        with pytest.raises(ConfigurationError):
            split_targets(bad)
    with pytest.raises(ConfigurationError, match="mixes IPv4 and IPv6"):
        replicated_target("127.0.0.1:1,[::1]:2")


def test_the_channel_balances_checks_health_and_retries_unavailable_only() -> None:
    config = json.loads(service_config("credverify.v1.RegistryService"))
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["healthCheckConfig"] == {"serviceName": "credverify.v1.RegistryService"}
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
