"""A registry on every core, and a registry in replicas, as real processes on a real broker.

`credverify registry serve --workers 2`: two worker processes answer gRPC on one port while the main
process ingests; both answer (each is told apart by the ``worker`` label of its metrics), each
follows what ingest commits (a new credential, a suspension), a registration recorded through one is
seen by the other, and SIGTERM leaves no process behind.

Two replicas of one country's registry (two processes, two stores, one set of topics) answer every
request identically; a client balancing over both keeps getting the right answers when one is killed
with SIGKILL in the middle of its calls.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import signal
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credverify.core.adapters.grpc_replicas import open_replicated_channel
from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.keys import public_pem
from credverify.core.settings import KafkaSettings
from credverify.localrun import Service, cli_env, free_port, serving, wait_for
from credverify.registry.cli import REGISTRY_SERVICE
from credverify.v1 import common_pb2, registry_pb2, registry_pb2_grpc
from tests.factories import ROOT, T0, attestation_bytes, kenya_issuer_record, nurse, record_bytes

pytestmark = pytest.mark.kafka

SUSPENDED = common_pb2.CREDENTIAL_STATUS_SUSPENDED
CONNECTIONS = 24  # all on one worker by chance: 2 ** -23


def publish(kafka: KafkaSettings, records: list[tuple[str, bytes]]) -> None:
    """Publish (key, envelope) attestations; the key "KE-NCK" is Kenya's issuer record on the trust list."""
    producer = ConfirmingProducer(kafka, client_id="test")
    try:
        deliveries = producer.publish([
            OutgoingRecord(kafka.topics.trust_list if key == "KE-NCK" else kafka.topics.attestations,
                           key.encode(), value) for key, value in records])
    finally:
        producer.close()
    assert all(d.confirmed for d in deliveries), [d.error for d in deliveries if not d.confirmed]


def federation(kafka: KafkaSettings) -> None:
    """Kenya's council and five of its nurses, the fifth suspended."""
    ensure_topics(kafka)
    publish(kafka, [("KE-NCK", record_bytes(kenya_issuer_record()))] + [
        ("KE-NCK/%d" % n, attestation_bytes(nurse(str(n)))) for n in range(1, 5)] + [
        ("KE-NCK/5", attestation_bytes(nurse("5", status=SUSPENDED, status_reason="INTERIM_ORDER")))])


def workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "root.pub.pem").write_text(public_pem(ROOT.private_key.public_key()))
    (path / "pseudonym.key").write_bytes(base64.b64encode(os.urandom(48)))
    return path


def serve(name: str, cwd: Path, env: dict[str, str], *extra: str) -> Service:
    return Service(name, [
        "registry", "serve", "--db", "registry.db", "--root-key", "root.pub.pem", "--country", "GB",
        "--pseudonym-key-file", "pseudonym.key", "--plaintext-for-local-use", "--log-format", "text", *extra],
        env=env, cwd=cwd)


def in_log(service: Service, pattern: str) -> str | None:
    found = re.search(pattern, service.log())
    return found.group(1) if found else None


def scrape(url: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of a /metrics page: name -> sorted labels -> value."""
    with urllib.request.urlopen(url, timeout=5) as page:
        text = page.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def verify_calls_by_worker(url: str) -> dict[str, float]:
    handled = scrape(url).get("grpc_server_handled_total", {})
    counts: dict[str, float] = {}
    for labels, value in handled.items():
        named = dict(labels)
        if named.get("grpc_method") == "Verify":
            counts[named["worker"]] = counts.get(named["worker"], 0) + value
    return counts


def children_of(pid: int) -> set[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def request(credential_id: str) -> registry_pb2.VerifyRequest:
    return registry_pb2.VerifyRequest(credential_id=credential_id, claimed=registry_pb2.ClaimedSubject(
        family_name="Wanjiru", given_names="Grace Akinyi"))


@pytest.fixture
def channels() -> Iterator[list[grpc.Channel]]:
    opened: list[grpc.Channel] = []
    yield opened
    for channel in opened:
        channel.close()


def test_two_workers_share_one_port_and_follow_what_ingest_commits(
        kafka_settings: KafkaSettings, tmp_path: Path, channels: list[grpc.Channel]) -> None:
    federation(kafka_settings)
    env = cli_env(kafka_settings.bootstrap_servers, kafka_settings.topics.prefix)
    registry = serve("registry", workdir(tmp_path), env, "--workers", "2", "--listen", "127.0.0.1:0",
                     "--metrics-listen", "127.0.0.1:0")
    try:
        port = wait_for("the registry to listen", lambda: in_log(registry, r"registry serving on port (\d+)"),
                        services=(registry,))
        metrics = "http://127.0.0.1:%s/metrics" % wait_for(
            "the metrics endpoint", lambda: in_log(registry, r"metrics on http://127\.0\.0\.1:(\d+)/metrics"),
            services=(registry,))
        target = "127.0.0.1:%s" % port
        wait_for("the registry to report SERVING", lambda: serving(target), services=(registry,))
        workers = {int(pid) for pid in re.findall(r"registry worker \d \(pid (\d+)\) serving", registry.log())}
        assert len(workers) == 2 and workers <= children_of(registry.process.pid), registry.log()[-3000:]

        # Many connections (the kernel gives each to one worker): every one answers, both workers serve.
        stubs = []
        for _ in range(CONNECTIONS):
            channels.append(grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]))
            stubs.append(registry_pb2_grpc.RegistryServiceStub(channels[-1]))
        assert all(stub.Verify(request("KE-NCK/1"), timeout=10).verified for stub in stubs)
        by_worker = wait_for("both workers' answers on /metrics", lambda: (
            counts if len(counts := verify_calls_by_worker(metrics)) == 2 and sum(counts.values()) >= CONNECTIONS
            else None), services=(registry,))
        assert set(by_worker) == {"1", "2"} and all(by_worker.values()), by_worker

        # Published after start: every connection, so both workers, answers it; then its suspension.
        publish(kafka_settings, [("KE-NCK/6", attestation_bytes(nurse("6")))])
        wait_for("KE-NCK/6 to verify on every connection", lambda: True if all(
            s.Verify(request("KE-NCK/6"), timeout=10).verified for s in stubs) else None, services=(registry,))
        publish(kafka_settings, [("KE-NCK/1", attestation_bytes(
            nurse("1", status=SUSPENDED, status_reason="INTERIM_ORDER"), now=T0 + dt.timedelta(days=1)))])
        wait_for("the suspension of KE-NCK/1 on every connection", lambda: True if not any(
            s.Verify(request("KE-NCK/1"), timeout=10).verified for s in stubs) else None, services=(registry,))
        assert all(not s.Verify(request("KE-NCK/1"), timeout=10).verified for s in stubs), "no worker goes back"

        # A registration recorded through one worker is the one every other connection finds.
        registration = registry_pb2.RecordRegistrationRequest(credential_id="KE-NCK/2", claimed=request(
            "KE-NCK/2").claimed)
        answers = [s.RecordRegistration(registration, timeout=30) for s in stubs]
        assert [a.already_recorded for a in answers] == [False] + [True] * (CONNECTIONS - 1)
        assert len({a.move.move_id for a in answers}) == 1

        # A worker that dies is replaced; the registry goes on answering on its port.
        os.kill(min(workers), signal.SIGKILL)
        wait_for("a worker in place of the one killed", lambda: True if len({int(pid) for pid in re.findall(
            r"registry worker \d \(pid (\d+)\) serving", registry.log())} - workers) == 1 else None,
            services=(registry,))
        with grpc.insecure_channel(target) as fresh:
            assert not registry_pb2_grpc.RegistryServiceStub(fresh).Verify(request("KE-NCK/1"), timeout=10).verified
    finally:
        main_pid = registry.process.pid
        children = children_of(main_pid)  # the workers, and multiprocessing's resource tracker
        assert registry.stop() == 0, registry.log()[-3000:]
    assert not alive(main_pid) and not [pid for pid in children if alive(pid)], "SIGTERM leaves nothing behind"
    assert "registry stopped" in registry.log()


def answers_without_time(stub: registry_pb2_grpc.RegistryServiceStub, requests: list[registry_pb2.VerifyRequest]
                         ) -> list[registry_pb2.VerifyResponse]:
    answers = []
    for one in requests:
        answer = stub.Verify(one, timeout=10)
        answer.ClearField("checked_at")
        answers.append(answer)
    return answers


def test_two_replicas_answer_alike_and_a_balancing_client_survives_losing_one(
        kafka_settings: KafkaSettings, tmp_path: Path, channels: list[grpc.Channel]) -> None:
    federation(kafka_settings)
    env = cli_env(kafka_settings.bootstrap_servers, kafka_settings.topics.prefix)
    targets = ["127.0.0.1:%d" % free_port() for _ in range(2)]
    metrics = ["127.0.0.1:%d" % free_port() for _ in range(2)]
    replicas = [serve("replica-%s" % name, workdir(tmp_path / name), env, "--listen", target,
                      "--metrics-listen", scraped)
                for name, target, scraped in zip("ab", targets, metrics, strict=True)]
    try:
        for target in targets:
            wait_for("replica %s to report SERVING" % target, lambda t=target: serving(t),  # type: ignore[misc]
                     services=tuple(replicas))
        requests = [request("KE-NCK/%d" % n) for n in range(1, 6)] + [
            request("KE-NCK/999"), registry_pb2.VerifyRequest(credential_id="KE-NCK/2", claimed=registry_pb2.
                                                              ClaimedSubject(family_name="Otieno"))]
        for target in targets:
            channels.append(grpc.insecure_channel(target))
        expected = answers_without_time(registry_pb2_grpc.RegistryServiceStub(channels[0]), requests)
        assert answers_without_time(registry_pb2_grpc.RegistryServiceStub(channels[1]), requests) == expected
        verdicts = [(a.verified, [common_pb2.Reason.Name(r) for r in a.reasons]) for a in expected]
        assert verdicts[4] == (False, ["REASON_SUSPENDED"]) and verdicts[5] == (False, ["REASON_NOT_FOUND"])
        assert verdicts[0][0] and not verdicts[6][0]

        channels.append(open_replicated_channel(",".join(targets), None, service=REGISTRY_SERVICE))
        balanced = registry_pb2_grpc.RegistryServiceStub(channels[-1])
        calls, wrong, failed = [0], [], []
        halt = threading.Event()

        def call_on() -> None:
            while not halt.is_set():
                index = calls[0] % len(requests)
                try:
                    answer = balanced.Verify(requests[index], timeout=10)
                except grpc.RpcError as exc:
                    failed.append("%s: %s" % (exc.code(), exc.details()))  # type: ignore[attr-defined]
                else:
                    answer.ClearField("checked_at")
                    if answer != expected[index]:
                        wrong.append(index)
                calls[0] += 1

        caller = threading.Thread(target=call_on, name="caller", daemon=True)
        caller.start()
        try:
            wait_for("calls to reach both replicas", lambda: True if all(
                scrape("http://%s/metrics" % m).get("grpc_server_handled_total") for m in metrics) else None,
                services=tuple(replicas))
            before = calls[0]
            replicas[0].process.kill()  # SIGKILL mid-stream: its connections break under calls in flight
            replicas[0].process.wait()
            wait_for("200 more calls after the kill", lambda: True if calls[0] >= before + 200 else None,
                     services=(replicas[1],))
        finally:
            halt.set()
            caller.join(timeout=30)
        assert not wrong, "wrong answers to requests %s" % wrong
        assert len(failed) <= 2, "calls failed rather than moved to the other replica: %s" % failed
    finally:
        for replica in replicas:
            replica.stop()
