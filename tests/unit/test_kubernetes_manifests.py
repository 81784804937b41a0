"""The Kubernetes manifests (deploy/kubernetes) and the compose cluster cannot run here; they are read
and held to the code instead: the topics and their layout, the cluster's replication and closure, each
principal's ACLs, and the services' command lines and probes. A change to the code that the manifests
do not follow fails here, not in someone's cluster."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from credverify.admission import cli as admission_cli
from credverify.core.topics import Topics
from credverify.federation.access import (
    ADMISSION_PRINCIPAL,
    FLOWS_PRINCIPAL,
    Access,
    admission_access,
    council_access,
    flows_access,
    registry_access,
)
from credverify.flowstats import cli as flowstats_cli
from credverify.registry import cli as registry_cli

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes"
sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
import localkafka  # noqa: E402

TOPICS = Topics()
# The example council and registry the manifests carry; every other one is a copy of these.
COUNCIL = "KE-NCK"
REGISTRY = "registry-GB"


def resources(kind: str) -> list[dict[str, Any]]:
    found = [doc for path in sorted(MANIFESTS.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())
             if doc and doc.get("kind") == kind]
    assert found, "no %s in %s" % (kind, MANIFESTS)
    return found


def one(kind: str, name: str) -> dict[str, Any]:
    [found] = [doc for doc in resources(kind) if doc["metadata"]["name"] == name]
    return found


def as_text(value: object) -> str:
    """Kafka settings as Kafka reads them (YAML turns `false` and `3` into other types)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_the_topics_are_the_codes_with_their_partitions_and_settings() -> None:
    expected = {**TOPICS.layout(), TOPICS.submissions(COUNCIL): TOPICS.submissions_spec()}
    declared = {topic["spec"]["topicName"]: topic["spec"] for topic in resources("KafkaTopic")}
    assert set(declared) == set(expected)
    for name, spec in expected.items():
        found = declared[name]
        assert found["partitions"] == spec["partitions"], name
        assert {k: as_text(v) for k, v in found["config"].items()} == spec["config"], name
        assert found["replicas"] == localkafka.CLUSTER_REPLICATION_FACTOR, name


def test_the_cluster_is_replicated_and_closed_as_the_local_cluster_is() -> None:
    kafka = one("Kafka", "credverify-hub")["spec"]["kafka"]
    config = {k: as_text(v) for k, v in kafka["config"].items()}
    expected = localkafka.Replication.for_cluster(localkafka.CLUSTER_BROKERS).broker_config()
    assert {k: config.get(k) for k in expected} == expected
    assert kafka["authorization"] == {"type": "simple", "superUsers": [localkafka.OPERATOR]}
    for listener in kafka["listeners"]:
        assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}, listener["name"]
    pools = {pool["metadata"]["name"]: pool["spec"] for pool in resources("KafkaNodePool")}
    assert pools["broker"]["roles"] == ["broker"] and pools["broker"]["replicas"] == localkafka.CLUSTER_BROKERS
    assert pools["controller"]["roles"] == ["controller"] and pools["controller"]["replicas"] == 3


def strimzi_acls(user: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    """A KafkaUser's ACLs as (resource type, name, pattern, OPERATION), in the code's words."""
    acls = set()
    for rule in user["spec"].get("authorization", {}).get("acls", []):
        resource = rule["resource"]
        name = resource.get("name", "kafka-cluster")
        pattern = {"literal": "literal", "prefix": "prefixed"}[resource.get("patternType", "literal")]
        for operation in rule["operations"]:
            acls.add((resource["type"], name, pattern, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).upper()))
    return acls


def code_acls(access: Access) -> set[tuple[str, str, str, str]]:
    return {(grant.resource, grant.name, grant.pattern, operation)
            for grant in access.grants for operation in grant.operations}


@pytest.mark.parametrize("access", [
    admission_access(ADMISSION_PRINCIPAL, TOPICS),
    registry_access(REGISTRY, TOPICS),
    flows_access(FLOWS_PRINCIPAL, TOPICS),
    council_access(COUNCIL, TOPICS),
], ids=lambda access: access.name)
def test_each_principal_is_granted_exactly_what_the_code_grants(access: Access) -> None:
    # Kubernetes names are lower case: registry-GB is the KafkaUser registry-gb.
    user = one("KafkaUser", access.name.lower())
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    assert strimzi_acls(user) == code_acls(access)


def test_the_operator_is_the_one_super_user_and_every_other_user_has_acls() -> None:
    users = {user["metadata"]["name"]: user for user in resources("KafkaUser")}
    assert "authorization" not in users.pop(localkafka.OPERATOR)["spec"]
    assert all(strimzi_acls(user) for user in users.values())


def workloads() -> list[dict[str, Any]]:
    return resources("Deployment") + resources("StatefulSet")


class ExactParser(argparse.ArgumentParser):
    """argparse without abbreviations: a flag the code renamed must not pass as a prefix of its new name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "allow_abbrev": False})


def credverify_parser() -> argparse.ArgumentParser:
    """The command lines of the services deployed, with their real options (sub-parsers inherit the class)."""
    parser = ExactParser(prog="credverify")
    services = parser.add_subparsers(dest="service", required=True)
    registry_cli.add_commands(services.add_parser("registry"))
    admission_cli.add_commands(services.add_parser("hub"))
    flowstats_cli.add_commands(services.add_parser("flows"))
    return parser


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("workload", workloads(), ids=lambda w: w["metadata"]["name"])
def test_each_service_runs_a_command_credverify_accepts_as_its_own_principal(
    workload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]
    try:
        credverify_parser().parse_args(container["args"])
    except SystemExit:
        pytest.fail("credverify refuses %s: %s" % (" ".join(container["args"]), capsys.readouterr().err))
    env = env_of(container)
    users = {user["metadata"]["name"] for user in resources("KafkaUser")}
    assert env["KAFKA_SASL_USERNAME"] in users
    listener = one("Kafka", "credverify-hub")["spec"]["kafka"]["listeners"][0]
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "credverify-hub-kafka-bootstrap:%d" % listener["port"]
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    # The password file is the Secret Strimzi's user operator writes for that very user.
    assert volumes["hub-password"]["secret"]["secretName"] == env["KAFKA_SASL_USERNAME"]
    assert volumes["hub-ca"]["secret"]["secretName"] == "credverify-hub-cluster-ca-cert"
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert env["KAFKA_SASL_PASSWORD_FILE"] == mounts["hub-password"] + "/password"
    assert env["KAFKA_SSL_CAFILE"] == mounts["hub-ca"] + "/ca.crt"


def probe_scripts(container: dict[str, Any]) -> dict[str, str]:
    return {kind: container[kind]["exec"]["command"][2] for kind in ("startupProbe", "livenessProbe", "readinessProbe")
            if kind in container}


def test_the_registry_is_probed_by_grpc_health_over_mutual_tls() -> None:
    [container] = one("StatefulSet", "registry-gb")["spec"]["template"]["spec"]["containers"]
    scripts = probe_scripts(container)
    assert set(scripts) == {"startupProbe", "livenessProbe", "readinessProbe"}
    for kind, script in scripts.items():
        compile(script, kind, "exec")  # a probe that cannot run would keep every replica out of service
        assert "HealthStub" in script and "ssl_channel_credentials" in script, kind
    assert "SERVING" in scripts["readinessProbe"]
    assert env_of(container)["KAFKA_SASL_USERNAME"] == REGISTRY.lower()
    args = credverify_parser().parse_args(container["args"])
    assert args.country == REGISTRY.split("-")[1] and args.tls_client_ca and args.allow_list


def test_the_admission_is_probed_by_the_health_file_it_writes() -> None:
    [container] = one("Deployment", "credverify-admission")["spec"]["template"]["spec"]["containers"]
    args = credverify_parser().parse_args(container["args"])
    for kind, script in probe_scripts(container).items():
        compile(script, kind, "exec")
        assert str(args.health_file) in script, kind


def test_the_flows_workers_are_a_group_whose_state_is_replicated_as_the_hub() -> None:
    workload = one("Deployment", "credverify-flows")
    assert workload["spec"]["replicas"] >= 2
    [container] = workload["spec"]["template"]["spec"]["containers"]
    replication = env_of(container)["CREDVERIFY_FLOW_REPLICATION_FACTOR"]
    assert int(replication) == localkafka.CLUSTER_REPLICATION_FACTOR


def test_the_compose_cluster_profile_has_three_brokers_replicated_as_the_local_cluster() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    nodes = [name for name, service in compose.items() if service.get("entrypoint", [None])[-1:] ==
             ["/opt/credverify/compose-broker.sh"]]
    assert sorted(nodes) == ["kafka", "kafka-2", "kafka-3"]
    assert all(compose[name]["profiles"] == ["cluster"] for name in ("kafka-2", "kafka-3"))
    script = (ROOT / "deploy" / "kafka" / "compose-broker.sh").read_text()
    cluster = localkafka.Replication.for_cluster(3)
    assert "REPLICATION=%d; MIN_ISR=%d" % (cluster.factor, cluster.min_insync) in script
    for setting in cluster.broker_config():
        assert re.search(r"^%s=" % re.escape(setting), script, re.MULTILINE), setting
