"""Who may do what on the hub: each role's principal and the Kafka ACLs it is granted, as plain data.

Pure: no Kafka import, no I/O (federation/adapters/kafka_admin.py turns these into ACLs). Every
grant is an ALLOW; the broker allows nothing without one (``allow.everyone.if.no.acl.found=false``)
and the federation operator is its only super user. Resource names carry the deployment's topic
prefix, so tenants sharing a cluster never share a grant. Why each role gets what it gets:

- council ``User:<ISSUER_ID>``: writes only its own submission topic (the admission service alone
  writes the compacted attestations topic, so no record of one council reaches another's key);
  reads the trust list (its issuer service checks its own record). No group: it consumes by assignment.
- admission ``User:credverify-admission``: reads every submission topic (prefixed), the trust list;
  writes attestations and dead letters. No group.
- registry ``User:registry-<CC>``: reads the trust list and attestations by assignment (no group),
  writes dead letters and verified moves.
- flows ``User:credverify-flows``: a Faust worker: reads verified moves in a consumer group named by
  its app id, owns every topic under that app id (changelogs, window parts: it creates them), writes
  flow statistics and dead letters.

Producers are idempotent (``enable_idempotence``): IDEMPOTENT_WRITE on the cluster for each writer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from credverify.core.errors import InvalidInput
from credverify.core.topics import Topics

TOPIC = "topic"
GROUP = "group"
CLUSTER = "cluster"
CLUSTER_NAME = "kafka-cluster"  # the one name Kafka gives the cluster resource
LITERAL = "literal"
PREFIXED = "prefixed"

# An issuer id becomes a topic name and a principal: country, a hyphen, the council's short name in
# capitals (KE-NCK, RO-CMR, GB-NMC, SN-ONMS, LK-SLMC). Nothing that Kafka or a shell treats specially.
ISSUER_ID = re.compile(r"^[A-Z]{2}-[A-Z0-9]{2,16}$")
# registry-GB, registry-GB-NMC: one principal per destination registry (a country may run several).
REGISTRY_NAME = re.compile(r"^registry-[A-Z]{2}(-[A-Z0-9]{2,16})?$")
SERVICE_NAME = re.compile(r"^credverify-[a-z0-9-]{2,40}$")
ADMISSION_PRINCIPAL = "credverify-admission"
FLOWS_PRINCIPAL = "credverify-flows"
STATISTICS_PRINCIPAL = "credverify-portal"
# The flows worker's Faust app id without the deployment prefix (see flowstats.settings.app_id).
FLOWS_APP = "credverify-flowstats"


class Role(Enum):
    COUNCIL = "council"
    REGISTRY = "registry"
    ADMISSION = "admission"
    FLOWS = "flows"
    STATISTICS = "statistics"  # a reader of the published flow statistics (the portal, exports)


@dataclass(frozen=True)
class Grant:
    """ALLOW ``operations`` on one resource pattern (``resource`` TOPIC/GROUP/CLUSTER)."""

    resource: str
    name: str
    pattern: str
    operations: tuple[str, ...]


@dataclass(frozen=True)
class Access:
    """A principal (the SCRAM user name, ``User:<name>`` to Kafka) and everything it is granted."""

    role: Role
    name: str
    grants: tuple[Grant, ...]

    @property
    def principal(self) -> str:
        return "User:" + self.name


def check_issuer_id(issuer_id: str) -> str:
    """Return ``issuer_id`` if it is safe as a topic name and a principal. Raises InvalidInput."""
    if not ISSUER_ID.fullmatch(issuer_id):
        raise InvalidInput("issuer-id: expected a country code, a hyphen and 2-16 capitals or digits "
                           "(e.g. KE-NCK), found %r" % issuer_id)
    return issuer_id


def check_principal_name(role: Role, name: str) -> str:
    """Return ``name`` if it fits ``role``'s naming. Raises InvalidInput saying what was expected."""
    expected = {
        Role.COUNCIL: (ISSUER_ID, "an issuer id such as KE-NCK"),
        Role.REGISTRY: (REGISTRY_NAME, "registry-<CC> or registry-<CC>-<NAME>, e.g. registry-GB"),
        Role.ADMISSION: (SERVICE_NAME, "credverify-<name>, e.g. %s" % ADMISSION_PRINCIPAL),
        Role.FLOWS: (SERVICE_NAME, "credverify-<name>, e.g. %s" % FLOWS_PRINCIPAL),
        Role.STATISTICS: (SERVICE_NAME, "credverify-<name>, e.g. %s" % STATISTICS_PRINCIPAL),
    }[role]
    if not expected[0].fullmatch(name):
        raise InvalidInput("name: a %s principal is %s, found %r" % (role.value, expected[1], name))
    return name


def flows_app_id(topics: Topics) -> str:
    """The flows worker's Faust app id under this deployment's prefix: its consumer group, and the
    prefix of every internal topic it creates (the same rule as flowstats.settings.app_id)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", topics.prefix) + FLOWS_APP


def _topic(name: str, *operations: str) -> Grant:
    return Grant(TOPIC, name, LITERAL, operations)


IDEMPOTENT = Grant(CLUSTER, CLUSTER_NAME, LITERAL, ("IDEMPOTENT_WRITE",))


def council_access(issuer_id: str, topics: Topics) -> Access:
    issuer_id = check_issuer_id(issuer_id)
    return Access(Role.COUNCIL, issuer_id, (
        _topic(topics.submissions(issuer_id), "WRITE", "DESCRIBE"),
        _topic(topics.trust_list, "READ", "DESCRIBE"),
        IDEMPOTENT,
    ))


def admission_access(name: str, topics: Topics) -> Access:
    return Access(Role.ADMISSION, check_principal_name(Role.ADMISSION, name), (
        Grant(TOPIC, topics.submissions_prefix, PREFIXED, ("READ", "DESCRIBE")),
        _topic(topics.trust_list, "READ", "DESCRIBE"),
        _topic(topics.attestations, "WRITE", "DESCRIBE"),
        _topic(topics.rejected, "WRITE", "DESCRIBE"),
        IDEMPOTENT,
    ))


def registry_access(name: str, topics: Topics) -> Access:
    return Access(Role.REGISTRY, check_principal_name(Role.REGISTRY, name), (
        _topic(topics.trust_list, "READ", "DESCRIBE"),
        _topic(topics.attestations, "READ", "DESCRIBE"),
        _topic(topics.rejected, "WRITE", "DESCRIBE"),
        _topic(topics.verified_moves, "WRITE", "DESCRIBE"),
        IDEMPOTENT,
    ))


def flows_access(name: str, topics: Topics) -> Access:
    app = flows_app_id(topics)
    return Access(Role.FLOWS, check_principal_name(Role.FLOWS, name), (
        _topic(topics.verified_moves, "READ", "DESCRIBE"),
        _topic(topics.flow_statistics, "WRITE", "DESCRIBE"),
        _topic(topics.rejected, "WRITE", "DESCRIBE"),
        # Its changelogs and window parts: it creates them, reads and writes them, checks their configs.
        Grant(TOPIC, app, PREFIXED, ("ALL",)),
        Grant(GROUP, app, PREFIXED, ("READ", "DESCRIBE")),
        IDEMPOTENT,
    ))


def statistics_access(name: str, topics: Topics) -> Access:
    """The published statistics and nothing else: no moves, no attestations, no person's data."""
    return Access(Role.STATISTICS, check_principal_name(Role.STATISTICS, name), (
        _topic(topics.flow_statistics, "READ", "DESCRIBE"),
    ))


def access_for(role: Role, name: str, topics: Topics) -> Access:
    """Return what ``name`` in ``role`` is granted on the hub. Raises InvalidInput for a bad name."""
    build = {Role.COUNCIL: council_access, Role.REGISTRY: registry_access, Role.ADMISSION: admission_access,
             Role.FLOWS: flows_access, Role.STATISTICS: statistics_access}[role]
    return build(name, topics)


def default_name(role: Role) -> str | None:
    """The usual principal of a role that runs once per hub (None where each has its own name)."""
    return {Role.ADMISSION: ADMISSION_PRINCIPAL, Role.FLOWS: FLOWS_PRINCIPAL,
            Role.STATISTICS: STATISTICS_PRINCIPAL}.get(role)
