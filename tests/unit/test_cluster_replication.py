"""Replication settings of a cluster: what the local cluster configures on every node, and what the
topics credverify creates ask for. No broker: the configurations are read as written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from credverify.core.errors import ConfigurationError
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Replication

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
import localkafka  # noqa: E402

# What the single broker and every node of a cluster close the hub with (docs/hub-security.md).
HUB_SECURITY = {
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "allow.everyone.if.no.acl.found": "false",
    "super.users": "User:credverify-operator",
    "sasl.mechanism.controller.protocol": "PLAIN",
}
CLUSTER_REPLICATION = {
    "default.replication.factor": "3",
    "min.insync.replicas": "2",
    "unclean.leader.election.enable": "false",
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
}


def written_config(node: localkafka.LocalKafka) -> dict[str, str]:
    node.state_dir.mkdir(parents=True, exist_ok=True)  # what launch() does first
    path = node._write_config(node.controller_port)
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line)


def test_every_node_of_a_cluster_keeps_three_copies_confirms_on_two_and_never_elects_a_stale_leader(
    tmp_path: Path,
) -> None:
    cluster = localkafka.LocalKafkaCluster(state_dir=tmp_path, brokers=3)
    # The controllers too: in KRaft they pick the factor of a topic created with the default and
    # write the cluster-wide min.insync.replicas from their own configuration.
    for node in cluster.nodes + cluster.controller_nodes:
        config = written_config(node)
        assert {k: config.get(k) for k in CLUSTER_REPLICATION} == CLUSTER_REPLICATION, node.state_dir.name


def test_a_cluster_is_closed_as_the_single_broker_is(tmp_path: Path) -> None:
    single = written_config(localkafka.LocalKafka(state_dir=tmp_path / "single", port=1, controller_port=2))
    cluster = localkafka.LocalKafkaCluster(state_dir=tmp_path / "cluster", brokers=3)
    for node in cluster.nodes + cluster.controller_nodes:
        config = written_config(node)
        assert {k: config.get(k) for k in HUB_SECURITY} == HUB_SECURITY, node.state_dir.name
        assert config["listener.name.controller.plain.sasl.jaas.config"].count(cluster.nodes[0].operator_password) == 2
    for node in cluster.nodes:
        config = written_config(node)
        assert config["listeners"] == "SASL_PLAINTEXT://127.0.0.1:%d" % node.port
        for name in ("sasl.enabled.mechanisms", "sasl.mechanism.inter.broker.protocol"):
            assert config[name] == single[name] == "SCRAM-SHA-512"
    assert single["process.roles"] == "broker,controller"


def test_the_brokers_of_a_cluster_share_one_quorum_one_cluster_id_and_one_operator_password(tmp_path: Path) -> None:
    cluster = localkafka.LocalKafkaCluster(state_dir=tmp_path, brokers=3, controllers=3)
    configs = [written_config(node) for node in cluster.nodes + cluster.controller_nodes]
    assert len({c["controller.quorum.voters"] for c in configs}) == 1
    assert configs[0]["controller.quorum.voters"].count("@127.0.0.1:") == 3
    assert sorted(c["node.id"] for c in configs) == ["1", "101", "102", "103", "2", "3"]
    assert {c["process.roles"] for c in configs[:3]} == {"broker"}
    assert {c["process.roles"] for c in configs[3:]} == {"controller"}
    assert len({node.cluster_id for node in cluster.nodes + cluster.controller_nodes}) == 1
    assert len({node.operator_password for node in cluster.nodes + cluster.controller_nodes}) == 1
    again = localkafka.LocalKafkaCluster(state_dir=tmp_path, brokers=3)
    assert again.nodes[0].cluster_id == cluster.nodes[0].cluster_id, "a restarted cluster must keep its id"


def test_a_cluster_refuses_a_replication_factor_above_its_brokers() -> None:
    with pytest.raises(ValueError, match="replication factor 4 needs 4 brokers, the cluster has 3"):
        localkafka.Replication.for_cluster(3, factor=4)
    with pytest.raises(ValueError, match="min.insync.replicas 3 must be between 1 and the replication factor 2"):
        localkafka.Replication.for_cluster(3, factor=2, min_insync=3)
    assert localkafka.Replication.for_cluster(1) == localkafka.Replication(1, 1)
    assert localkafka.Replication.for_cluster(5) == localkafka.Replication(3, 2)


def test_the_cluster_command_says_why_it_refuses_a_replication_factor(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code = localkafka.main(["cluster", "--brokers", "2", "--replication-factor", "3", "--dir", str(tmp_path)])
    assert code == 2
    assert "replication factor 3 needs 3 brokers, the cluster has 2" in capsys.readouterr().err
    assert not (tmp_path / "cluster.json").exists()


def test_topics_ask_for_the_cluster_default_unless_told_otherwise() -> None:
    assert Replication().topic_factor == -1 and Replication().topic_config() == {}
    assert Replication(3, 2).topic_factor == 3
    assert Replication(3, 2).topic_config() == {"min.insync.replicas": "2"}


def test_a_replication_factor_above_the_brokers_is_a_clear_error() -> None:
    Replication(3, 2).check_brokers(3, "b:9092")
    with pytest.raises(ConfigurationError, match="replication factor 4 needs 4 brokers, the cluster at b:9092 has 3"):
        Replication(4, 2).check_brokers(3, "b:9092")


@pytest.mark.parametrize(("factor", "min_insync", "message"), [
    (0, None, "replication factor: expected at least 1, found 0"),
    (None, 0, "min.insync.replicas: expected at least 1, found 0"),
    (2, 3, "min.insync.replicas 3 is above the replication factor 2"),
])
def test_replication_no_cluster_could_meet_is_refused(factor: int | None, min_insync: int | None,
                                                      message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Replication(factor, min_insync)


def test_replication_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDVERIFY_REPLICATION_FACTOR", raising=False)
    monkeypatch.delenv("CREDVERIFY_MIN_INSYNC_REPLICAS", raising=False)
    assert KafkaSettings.from_env("b:9092").replication == Replication()
    monkeypatch.setenv("CREDVERIFY_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("CREDVERIFY_MIN_INSYNC_REPLICAS", "2")
    assert KafkaSettings.from_env("b:9092").replication == Replication(3, 2)
    monkeypatch.setenv("CREDVERIFY_REPLICATION_FACTOR", "three")
    with pytest.raises(ConfigurationError, match="REPLICATION_FACTOR: expected a whole number, found 'three'"):
        KafkaSettings.from_env("b:9092")
