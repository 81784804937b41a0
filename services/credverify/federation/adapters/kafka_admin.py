"""Kafka's admin API as the federation operator uses it: SCRAM credentials, ACLs and topics.

The only module of credverify that creates or removes principals and grants. Kafka's exceptions stop
here: a broker that does not answer is HubUnavailable, a broker that refuses (the caller is not the
operator) is AccessDenied.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import TOPIC_READY_TIMEOUT_MS, new_admin
from credverify.core.errors import AccessDenied, HubUnavailable, InvalidInput
from credverify.core.settings import KafkaSecurity, KafkaSettings
from credverify.federation.access import CLUSTER, GROUP, LITERAL, PREFIXED, TOPIC, Access, Grant

logger = logging.getLogger(__name__)

MECHANISM = ScramMechanism.SCRAM_SHA_512
# PBKDF2 rounds of the stored SCRAM credential: Kafka accepts 4096..16384; the top costs an attacker
# who steals the metadata log most, and a client pays it once per connection.
SCRAM_ITERATIONS = 16384

_RESOURCES = {TOPIC: ResourceType.TOPIC, GROUP: ResourceType.GROUP, CLUSTER: ResourceType.CLUSTER}
_PATTERNS = {LITERAL: ACLResourcePatternType.LITERAL, PREFIXED: ACLResourcePatternType.PREFIXED}
_NAMES = {v: k for k, v in _RESOURCES.items()}
_PATTERN_NAMES = {v: k for k, v in _PATTERNS.items()}


def _acls(access: Access) -> list[ACL]:
    return [
        ACL(principal=access.principal, host="*", operation=ACLOperation[operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(_RESOURCES[grant.resource], grant.name, _PATTERNS[grant.pattern]))
        for grant in access.grants for operation in grant.operations
    ]


def _everything_of(principal: str) -> ACLFilter:
    return ACLFilter(principal=principal, host=None, operation=ACLOperation.ANY,
                     permission_type=ACLPermissionType.ANY,
                     resource_pattern=ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))


class KafkaHubAdmin:
    """The hub's principals, grants and topics, through one admin client (as the operator)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._admin: KafkaAdminClient | None = None

    def _client(self) -> KafkaAdminClient:
        if self._admin is None:
            self._admin = new_admin(self._kafka, "credverify-trust-admin")
        return self._admin

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except KafkaError as exc:
            raise _translate(self._kafka, what, exc) from exc

    def has_credential(self, name: str) -> bool:
        """Return True when ``name`` has a SCRAM credential on the hub."""
        found = self._call("describing credentials", self._client().describe_user_scram_credentials, [name])
        entry = found.get(name) or {}
        return bool(entry.get("credential_infos"))

    def set_credential(self, name: str, password: str) -> None:
        """Create or replace ``name``'s SCRAM-SHA-512 credential (the broker stores only salted proofs)."""
        upsert = UserScramCredentialUpsertion(name, MECHANISM, password, iterations=SCRAM_ITERATIONS)
        errors = self._call("setting a credential", self._client().alter_user_scram_credentials, [upsert])
        _raise_first(errors, "setting the credential of %s" % name)

    def delete_credential(self, name: str) -> bool:
        """Remove ``name``'s SCRAM credential; return False when it had none."""
        if not self.has_credential(name):
            return False
        errors = self._call("removing a credential", self._client().alter_user_scram_credentials,
                            [UserScramCredentialDeletion(name, MECHANISM)])
        _raise_first(errors, "removing the credential of %s" % name)
        return True

    def grant(self, access: Access) -> None:
        """Create every ACL of ``access`` (an ACL that exists already is left as it is)."""
        result = self._call("creating ACLs", self._client().create_acls, _acls(access))
        if result["failed"]:
            raise AccessDenied("the hub refused ACLs for %s: %s" % (access.principal, result["failed"][0]))

    def revoke(self, principal: str) -> int:
        """Delete every ACL naming ``principal``; return how many there were."""
        [(_, matched, error)] = self._call("deleting ACLs", self._client().delete_acls, [_everything_of(principal)])
        if error.errno:
            raise AccessDenied("the hub refused to delete the ACLs of %s: %s" % (principal, error.__name__))
        return len(matched)

    def grants_of(self, principal: str) -> set[tuple[str, str, str, str]]:
        """Every ALLOW of ``principal`` as (resource, name, pattern, operation), for reports and tests."""
        acls, error = self._call("describing ACLs", self._client().describe_acls, _everything_of(principal))
        if error.errno:
            raise AccessDenied("the hub refused to describe ACLs: %s" % error.__name__)
        return {(_NAMES.get(a.resource_pattern.resource_type, "other"), a.resource_pattern.resource_name,
                 _PATTERN_NAMES.get(a.resource_pattern.pattern_type, "other"), a.operation.name) for a in acls}

    def ensure_topic(self, name: str, spec: dict[str, object]) -> bool:
        """Create topic ``name`` with ``spec``'s partitions and config unless it exists; return True when
        it was created. Waits until it has a leader."""
        admin = self._client()
        if name in self._call("listing topics", admin.list_topics):
            return False
        self._call("creating %s" % name, admin.create_topics, {name: {
            "num_partitions": spec["partitions"], "replication_factor": -1, "configs": spec["config"]}},
            raise_errors=False)
        self._call("waiting for %s" % name, admin.wait_for_topics, [name], timeout_ms=TOPIC_READY_TIMEOUT_MS)
        return True

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def _raise_first(errors: dict[str, str | None], what: str) -> None:
    for user, message in errors.items():
        if message:
            raise AccessDenied("%s: the hub refused (%s: %s)" % (what, user, message))


def _translate(kafka: KafkaSettings, what: str, exc: KafkaError) -> Exception:
    name = type(exc).__name__
    if "Authorization" in name or "SecurityDisabled" in name:
        return AccessDenied("%s: the hub at %s refused (%s); only the federation operator may change access"
                            % (what, kafka.bootstrap_servers, name))
    return HubUnavailable("%s: Kafka at %s did not answer (%s: %s)" % (what, kafka.bootstrap_servers, name, exc))


def write_credentials_file(path: Path, bootstrap: str, security: KafkaSecurity) -> None:
    """Write a principal's client settings (Kafka's environment names, 0600) for the operator to hand
    over. Refuses to replace an existing file: a credential is given out once. Raises InvalidInput."""
    lines = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, **security.as_env()}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise InvalidInput("hub-credentials-out: %s exists; choose a new file" % path) from exc
    except OSError as exc:
        raise InvalidInput("hub-credentials-out: cannot create %s: %s" % (path, exc.strerror)) from exc
    with os.fdopen(fd, "w") as out:
        out.write("".join("%s=%s\n" % item for item in lines.items()))


def check_credentials_path(path: Path) -> None:
    """Raise InvalidInput now, before anything changes on the hub, when ``path`` cannot be written later."""
    if path.exists():
        raise InvalidInput("hub-credentials-out: %s exists; choose a new file" % path)
    if not path.parent.is_dir():
        raise InvalidInput("hub-credentials-out: %s is not a directory" % path.parent)


__all__ = ["KafkaHubAdmin", "Grant", "check_credentials_path", "write_credentials_file"]
