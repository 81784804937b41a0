"""What each principal of the hub is granted: the ACL table, checked as data (no broker)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from credverify.core.errors import InvalidInput
from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.federation.access import (
    Access,
    Role,
    access_for,
    check_issuer_id,
    council_access,
    default_name,
    flows_app_id,
)
from credverify.flowstats.settings import FlowSettings, app_id

TOPICS = Topics(prefix="eu.")
WRITES = {"WRITE", "ALL"}


def _ops(access: Access) -> dict[tuple[str, str, str], set[str]]:
    return {(g.resource, g.name, g.pattern): set(g.operations) for g in access.grants}


def _written(access: Access) -> set[str]:
    return {g.name for g in access.grants if g.resource == "topic" and WRITES & set(g.operations)}


@pytest.mark.parametrize("issuer_id", ["KE-NCK", "RO-CMR", "GB-NMC", "SN-ONMS", "LK-SLMC", "UG-UNMC", "XX-FAKE"])
def test_the_councils_of_the_demo_and_tests_have_valid_ids(issuer_id: str) -> None:
    assert check_issuer_id(issuer_id) == issuer_id


def test_a_council_writes_only_its_own_submission_topic() -> None:
    access = council_access("KE-NCK", TOPICS)
    assert access.principal == "User:KE-NCK"
    assert _written(access) == {"eu.credverify.submissions.v1.KE-NCK"}
    assert _ops(access)[("topic", TOPICS.trust_list, "literal")] == {"READ", "DESCRIBE"}
    assert not [g for g in access.grants if g.pattern == "prefixed"], "a council's grants are all literal"


def test_no_role_but_admission_may_write_the_attestations_topic_and_none_may_write_the_trust_list() -> None:
    roles = [access_for(Role.REGISTRY, "registry-GB", TOPICS), access_for(Role.FLOWS, "credverify-flows", TOPICS),
             council_access("KE-NCK", TOPICS)]
    for access in roles:
        assert TOPICS.attestations not in _written(access), access.role
        assert TOPICS.trust_list not in _written(access), access.role
    admission = access_for(Role.ADMISSION, "credverify-admission", TOPICS)
    assert _written(admission) == {TOPICS.attestations, TOPICS.rejected}
    assert _ops(admission)[("topic", TOPICS.submissions_prefix, "prefixed")] == {"READ", "DESCRIBE"}


def test_a_registry_reads_the_trust_list_and_attestations_and_writes_only_moves_and_dead_letters() -> None:
    access = access_for(Role.REGISTRY, "registry-GB", TOPICS)
    assert _written(access) == {TOPICS.verified_moves, TOPICS.rejected}
    read = {g.name for g in access.grants if "READ" in g.operations}
    assert read == {TOPICS.trust_list, TOPICS.attestations}
    assert not [g for g in access.grants if g.resource == "group"], "registries assign partitions, no group"


def test_the_flows_worker_owns_its_app_topics_and_group_and_writes_only_statistics_and_dead_letters() -> None:
    access = access_for(Role.FLOWS, "credverify-flows", TOPICS)
    app = "eu-credverify-flowstats"
    assert _ops(access)[("topic", app, "prefixed")] == {"ALL"}
    assert _ops(access)[("group", app, "prefixed")] == {"READ", "DESCRIBE"}
    assert _written(access) == {TOPICS.flow_statistics, TOPICS.rejected, app}


@pytest.mark.parametrize("prefix", ["", "eu.", "t1a2b3c4d5.", "tenant/x."])
@pytest.mark.parametrize(("window", "professions"), [("month", "fine"), ("quarter", "fine"), ("year", "coarse")])
def test_the_flows_grants_follow_the_workers_own_app_id(prefix: str, window: str, professions: str) -> None:
    """The grants are prefixed by the monthly worker's app id, which every other worker's extends."""
    kafka = KafkaSettings("127.0.0.1:9092", Topics(prefix=prefix))
    policy = SimpleNamespace(window=window, professions=professions)
    settings = FlowSettings(kafka=kafka, data_dir=Path("."), policy=policy)  # type: ignore[arg-type]
    assert app_id(settings).startswith(flows_app_id(kafka.topics))
    assert (app_id(settings) == flows_app_id(kafka.topics)) == ((window, professions) == ("month", "fine"))


@pytest.mark.parametrize(("role", "name"), [
    (Role.REGISTRY, "GB"), (Role.REGISTRY, "registry-gb"), (Role.REGISTRY, "User:registry-GB"),
    (Role.COUNCIL, "ke-nck"), (Role.FLOWS, "flows"), (Role.ADMISSION, "credverify-adm;ission"),
])
def test_a_principal_name_outside_its_roles_naming_is_refused(role: Role, name: str) -> None:
    with pytest.raises(InvalidInput):
        access_for(role, name, TOPICS)


def test_every_writer_may_write_idempotently() -> None:
    for access in (access_for(Role.REGISTRY, "registry-GB", TOPICS),
                   access_for(Role.FLOWS, "credverify-flows", TOPICS),
                   access_for(Role.ADMISSION, "credverify-admission", TOPICS), council_access("KE-NCK", TOPICS)):
        assert ("cluster", "kafka-cluster", "literal") in _ops(access), access.role


def test_a_statistics_reader_reads_the_published_statistics_and_nothing_else() -> None:
    access = access_for(Role.STATISTICS, "credverify-portal", TOPICS)
    assert [(g.resource, g.name, g.operations) for g in access.grants] == [
        ("topic", TOPICS.flow_statistics, ("READ", "DESCRIBE"))]
    assert default_name(Role.STATISTICS) == "credverify-portal"
