"""A real `credverify issuer serve` against a real broker, as an operator runs it: health says SERVING
while the broker answers, /metrics counts the RPCs and the attestations signed, and SIGTERM turns
health NOT_SERVING and ends the process cleanly. Its logs are JSON lines."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from credverify.core.adapters.kafka import ensure_submission_topic
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.localrun import Service, cli_env, free_port, health_status, run_cli, wait_for
from credverify.v1 import issuer_pb2, issuer_pb2_grpc
from tests.integration.test_issuer_grpc import draft

pytestmark = pytest.mark.kafka

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as response:
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_issuer_serves_while_the_broker_answers_counts_its_calls_and_stops_on_sigterm(
    tmp_path: Path, kafka_bootstrap: str, topics: Topics
) -> None:
    env = cli_env(kafka_bootstrap, topics.prefix)
    ensure_submission_topic(KafkaSettings(kafka_bootstrap, topics), "KE-NCK")  # as admitting the council does
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    target, metrics_port = "127.0.0.1:%d" % free_port(), free_port()
    issuer = Service("issuer", ["issuer", "serve", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                                "--listen", target, "--plaintext-for-local-use",
                                "--metrics-listen", "127.0.0.1:%d" % metrics_port], env=env, cwd=tmp_path)
    channel = grpc.insecure_channel(target)
    try:
        wait_for("the issuer to report SERVING with the broker up",
                 lambda: health_status(target) == SERVING or None, services=(issuer,))
        issued = issuer_pb2_grpc.IssuerServiceStub(channel).Issue(
            issuer_pb2.IssueRequest(attestation=draft("60001")), timeout=30)
        assert issued.delivery.confirmed

        metrics = scrape(metrics_port)
        issue_ok = ("grpc_server_handled_total", (("grpc_code", "OK"), ("grpc_method", "Issue"),
                                                  ("grpc_service", "credverify.v1.IssuerService")))
        assert metrics.get(issue_ok) == 1, "the Issue call was not counted: %s" % sorted(metrics)
        assert metrics.get(("credverify_issuer_attestations_signed_total", ())) == 1
        assert metrics.get(("credverify_issuer_attestations_confirmed_total", ())) == 1

        # A prober watching health hears NOT_SERVING as soon as the issuer is told to stop.
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=60)
        assert next(watch).status == SERVING
        issuer.process.send_signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
        assert issuer.process.wait(timeout=60) == 0, issuer.log()[-3000:]
    finally:
        channel.close()
        issuer.stop()

    log = issuer.log()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line["message"] == "issuer service stopped" for line in lines), log[-3000:]
    assert all(line.startswith("{") or line.startswith("issuer serving on port") or not line.strip()
               for line in log.splitlines()), "a log line that is not JSON:\n" + log[-3000:]
