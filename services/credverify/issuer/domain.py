"""What a source council decides: orders to change status turned into the next Attestation, whether a
change says anything new, and which key signs. The order to issue is in core/issuing.py.

Pure: the clock and the previous version are passed in, nothing here touches a
file, a key or the network.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from credverify.core.attestation import STATUS_REASON_CODES, validate_attestation
from credverify.core.errors import ConfigurationError, InvalidInput

# An order to issue and the Attestation it becomes are in core (the registrar pages build them too); they
# stay importable from here for the scripts and tests that build attestations as a council does.
from credverify.core.issuing import IssueAttestation as IssueAttestation
from credverify.core.issuing import build_attestation as build_attestation
from credverify.core.issuing import next_version
from credverify.core.timefmt import from_timestamp, to_timestamp
from credverify.v1 import attestation_pb2, common_pb2, issuer_pb2, trust_pb2

ACTIVE = common_pb2.CREDENTIAL_STATUS_ACTIVE
WITH_CONDITIONS = common_pb2.CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS
SUSPENDED = common_pb2.CREDENTIAL_STATUS_SUSPENDED
REVOKED = common_pb2.CREDENTIAL_STATUS_REVOKED
LAPSED = common_pb2.CREDENTIAL_STATUS_LAPSED


def content_digest(att: attestation_pb2.Attestation) -> str:
    """Return the SHA-256 of what ``att`` says, ignoring when it was signed (version, issued_at).

    Two issuings with the same digest attest the same thing: re-publishing would add nothing."""
    content = attestation_pb2.Attestation()
    content.CopyFrom(att)
    content.ClearField("version")
    content.ClearField("issued_at")
    return hashlib.sha256(content.SerializeToString(deterministic=True)).hexdigest()


# --- status lifecycle ---------------------------------------------------------------------------

STATUS_ACTIONS = ("suspend", "reinstate", "revoke", "lapse", "add-condition", "lift-condition")


@dataclass(frozen=True)
class ChangeStatus:
    """Order: change the status of an issued credential. ``condition`` is for add-/lift-condition."""

    credential_id: str
    action: str
    reason: str
    condition: str = ""


def _status_name(status: int) -> str:
    return common_pb2.CredentialStatus.Name(status).removeprefix("CREDENTIAL_STATUS_")


def change_status(current: attestation_pb2.Attestation, change: ChangeStatus, *, now: dt.datetime
                  ) -> attestation_pb2.Attestation:
    """Return the next version of ``current`` with the change applied, validated.

    Raises InvalidInput when the change does not apply to the current status (a revocation is
    final; only a suspended or lapsed credential can be reinstated; ...) or the reason is unknown.
    """
    _check_change(current, change)
    new_status, conditions = _status_after(change, current.status, list(current.conditions))

    nxt = attestation_pb2.Attestation()
    nxt.CopyFrom(current)
    nxt.version = next_version(now, current.version)
    nxt.issued_at.CopyFrom(to_timestamp(now))
    nxt.status = new_status
    nxt.status_reason = change.reason
    del nxt.conditions[:]
    nxt.conditions.extend(conditions)
    validate_attestation(nxt)
    return nxt


def _check_change(current: attestation_pb2.Attestation, change: ChangeStatus) -> None:
    """Raise InvalidInput for a change to another credential, an unknown action or reason, or any
    change to a revoked credential."""
    if change.credential_id != current.credential_id:
        raise InvalidInput("credential_id: expected %r, found %r" % (current.credential_id, change.credential_id))
    if change.action not in STATUS_ACTIONS:
        raise InvalidInput("action: expected one of %s, found %r" % (", ".join(STATUS_ACTIONS), change.action))
    if change.reason not in STATUS_REASON_CODES:
        raise InvalidInput("reason: expected a status reason code (%s), found %r" % (
            ", ".join(sorted(STATUS_REASON_CODES)), change.reason))
    if current.status == REVOKED:
        raise InvalidInput("status: %s is revoked; a revocation is final (issue a new credential instead)"
                           % current.credential_id)


def _status_after(change: ChangeStatus, status: int, conditions: list[str]
                  ) -> tuple[common_pb2.CredentialStatus, list[str]]:
    """Return the status and conditions after ``change`` (whose action is one of STATUS_ACTIONS).
    Raises InvalidInput when the action does not apply to ``status`` or ``conditions``."""
    active = (ACTIVE, WITH_CONDITIONS)
    if change.action == "suspend":
        _require(change, status, active)
        return SUSPENDED, conditions
    if change.action == "lapse":
        _require(change, status, (*active, SUSPENDED))
        return LAPSED, conditions
    if change.action == "revoke":
        return REVOKED, conditions
    if change.action == "reinstate":
        _require(change, status, (SUSPENDED, LAPSED))
        return (WITH_CONDITIONS if conditions else ACTIVE), conditions
    _require(change, status, active)
    if change.action == "add-condition":
        return WITH_CONDITIONS, _with_condition(conditions, change.condition.strip())
    remaining = _without_condition(conditions, change.condition.strip())  # lift-condition
    return (WITH_CONDITIONS if remaining else ACTIVE), remaining


def _with_condition(conditions: list[str], text: str) -> list[str]:
    if not text:
        raise InvalidInput("condition: expected the text of the condition, found nothing")
    if text in conditions:
        raise InvalidInput("condition: that condition applies already")  # its text may be health data
    return [*conditions, text]


def _without_condition(conditions: list[str], text: str) -> list[str]:
    if text not in conditions:
        raise InvalidInput("condition: expected one of the conditions in force (%d), found another text" % (
            len(conditions)))
    remaining = list(conditions)
    remaining.remove(text)
    return remaining


def _require(change: ChangeStatus, status: int, allowed: tuple[int, ...]) -> None:
    if status not in allowed:
        raise InvalidInput("status: cannot %s a credential that is %s (allowed from %s)" % (
            change.action, _status_name(status), ", ".join(_status_name(s) for s in allowed)))


# --- which key signs -------------------------------------------------------------------------------


def key_state(keyid: str, *, record: trust_pb2.IssuerRecord | None, locally_compromised: bool,
              now: dt.datetime) -> int:
    """Return the issuer_pb2.KeyState of one keyring key against the federation's record (SIGNING is
    decided by choose_signing_key, not here)."""
    if locally_compromised:
        return issuer_pb2.KEY_STATE_COMPROMISED
    listed = _listed_key(keyid, record)
    if listed is None:
        return issuer_pb2.KEY_STATE_PENDING
    if listed.HasField("compromised_at"):
        return issuer_pb2.KEY_STATE_COMPROMISED
    if listed.HasField("not_before") and now < from_timestamp(listed.not_before):
        return issuer_pb2.KEY_STATE_PENDING
    if listed.HasField("not_after") and now >= from_timestamp(listed.not_after):
        return issuer_pb2.KEY_STATE_RETIRED
    return issuer_pb2.KEY_STATE_VALID


def _listed_key(keyid: str, record: trust_pb2.IssuerRecord | None) -> trust_pb2.IssuerKey | None:
    if record is None:
        return None
    return next((k for k in record.keys if k.keyid == keyid), None)


def choose_signing_key(keyids: set[str], *, record: trust_pb2.IssuerRecord | None,
                       locally_compromised: set[str], now: dt.datetime) -> str:
    """Return the keyid to sign with now: of the keys held, those the trust list lists as valid now
    and nobody reported compromised, the one that became valid last (the newest rotation).

    Raises ConfigurationError when there is none: signing with a key registries do not trust would
    only fill their dead-letter topic.
    """
    if record is None:
        raise ConfigurationError("the trust list holds no record for this issuer yet; ask the federation "
                                 "operator to register it with one of the keyring's public keys")
    usable = [k for k in record.keys if k.keyid in keyids and key_state(
        k.keyid, record=record, locally_compromised=k.keyid in locally_compromised, now=now
    ) == issuer_pb2.KEY_STATE_VALID]
    if not usable:
        raise ConfigurationError("none of the %d key(s) held is valid on the trust list now (issuer %s lists %s)" % (
            len(keyids), record.issuer_id, ", ".join(k.keyid[:16] for k in record.keys) or "no keys"))
    newest = max(usable, key=lambda k: (from_timestamp(k.not_before) if k.HasField("not_before")
                                        else dt.datetime.min.replace(tzinfo=dt.UTC), k.keyid))
    return newest.keyid
