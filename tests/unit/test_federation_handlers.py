"""The federation operator's handlers with a publisher of our own: no broker, fixed keys and clocks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import pytest

from credverify.core.errors import DeliveryFailed, InvalidInput, Untrusted
from credverify.core.publishing import Delivery, OutgoingRecord
from credverify.core.topics import Topics
from credverify.core.trust import TrustList, verify_issuer_record
from credverify.federation import handlers
from credverify.federation.access import Access, council_access
from credverify.federation.domain import report_compromise
from tests.factories import KE_KEY, ROOT, ROOTS, T0, fixed_signer, kenya_record, trust_list

TOPICS = Topics(prefix="t.")


class RecordingPublisher:
    """Confirms every record at the next offset of partition 0, or confirms none when ``refuse``."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.sent: list[OutgoingRecord] = []
        self._refuse = refuse

    def publish(self, records: Iterable[OutgoingRecord]) -> list[Delivery]:
        deliveries = []
        for record in records:
            if self._refuse:
                deliveries.append(Delivery(record, None, None, "NotEnoughReplicasError: 1 of 2 in sync"))
                continue
            self.sent.append(record)
            deliveries.append(Delivery(record, 0, len(self.sent) - 1, None))
        return deliveries


def test_a_registered_issuer_is_published_keyed_by_its_id_and_signed_by_the_root() -> None:
    publisher = RecordingPublisher()
    event = handlers.register_issuer(kenya_record(), trust=TrustList(), root=ROOT, publisher=publisher,
                                     topics=TOPICS, now=T0)
    [record] = publisher.sent
    assert (record.topic, record.key, event.offset) == ("t.credverify.trust-list.v1", b"KE-NCK", 0)
    verified = verify_issuer_record(record.value, roots=ROOTS)
    assert verified.record == event.record and verified.record.keys[0].keyid == KE_KEY.keyid


def test_a_record_the_hub_did_not_confirm_is_an_error_not_a_success() -> None:
    with pytest.raises(DeliveryFailed, match="KE-NCK .* not confirmed: NotEnoughReplicasError"):
        handlers.register_issuer(kenya_record(), trust=TrustList(), root=ROOT,
                                 publisher=RecordingPublisher(refuse=True), topics=TOPICS, now=T0)


def test_a_change_builds_on_the_record_the_trust_list_holds_and_raises_its_version() -> None:
    trust, publisher = trust_list(), RecordingPublisher()
    held = trust.issuer("KE-NCK")
    assert held is not None
    at = T0 + dt.timedelta(days=3)
    event = handlers.change_issuer(
        "KE-NCK", lambda current: report_compromise(current, KE_KEY.keyid, compromised_at=at, now=at),
        trust=trust, root=ROOT, publisher=publisher, topics=TOPICS)
    assert event.record.version > held.version
    assert event.record.keys[0].compromised_at.seconds == int(at.timestamp())
    assert trust.applied(verify_issuer_record(publisher.sent[0].value, roots=ROOTS)).epoch > trust.epoch


def test_a_change_of_an_issuer_the_trust_list_does_not_hold_is_refused_before_anything_is_sent() -> None:
    publisher = RecordingPublisher()
    with pytest.raises(InvalidInput, match="no record for 'SN-ONMS'; register it first"):
        handlers.change_issuer("SN-ONMS", lambda current: current, trust=TrustList(), root=ROOT,
                               publisher=publisher, topics=TOPICS)
    assert publisher.sent == []


def test_a_record_signed_by_another_key_than_the_root_is_not_trusted_by_registries() -> None:
    publisher = RecordingPublisher()
    handlers.register_issuer(kenya_record(), trust=TrustList(), root=fixed_signer("self-appointed root"),
                             publisher=publisher, topics=TOPICS, now=T0)
    with pytest.raises(Untrusted) as refused:
        verify_issuer_record(publisher.sent[0].value, roots=ROOTS)
    assert refused.value.code == "TRUST_LIST_INVALID"


class RecordingHub:
    """The hub's access as a list of what was asked of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def set_credential(self, name: str, password: str) -> None:
        self.calls.append(("credential", name))

    def delete_credential(self, name: str) -> bool:
        self.calls.append(("delete-credential", name))
        return True

    def grant(self, access: Access) -> None:
        self.calls.append(("grant", access.principal))

    def revoke(self, principal: str) -> int:
        self.calls.append(("revoke", principal))
        return 3

    def ensure_topic(self, name: str, spec: dict[str, object]) -> bool:
        self.calls.append(("topic", name))
        return True


def test_registering_an_issuer_already_on_the_trust_list_is_refused_and_changes_nothing() -> None:
    # Re-registering would reset not_before (re-judging every earlier attestation) and forget a compromise.
    publisher, hub = RecordingPublisher(), RecordingHub()
    with pytest.raises(InvalidInput, match="KE-NCK is on the trust list already.*rotate-key"):
        handlers.register_issuer(kenya_record(), trust=trust_list(), root=ROOT, publisher=publisher, topics=TOPICS,
                                 now=T0, hub=hub, council=council_access("KE-NCK", TOPICS), password="pw")
    assert publisher.sent == [] and hub.calls == []


def test_an_admitted_issuer_gets_its_submission_topic_acls_and_credential_before_its_record() -> None:
    publisher, hub = RecordingPublisher(), RecordingHub()
    handlers.register_issuer(kenya_record(), trust=TrustList(), root=ROOT, publisher=publisher, topics=TOPICS,
                             now=T0, hub=hub, council=council_access("KE-NCK", TOPICS), password="pw")
    assert hub.calls == [("topic", "t.credverify.submissions.v1.KE-NCK"), ("grant", "User:KE-NCK"),
                         ("credential", "KE-NCK")]
    assert [r.key for r in publisher.sent] == [b"KE-NCK"]


@pytest.mark.parametrize("issuer_id", ["ke-nck", "KE", "KE-NCK/1", "KE-NCK.x", "KE_NCK", "KE-" + "N" * 17, ""])
def test_an_issuer_id_unfit_for_a_topic_or_principal_name_is_refused(issuer_id: str) -> None:
    with pytest.raises(InvalidInput, match="issuer.id"):
        handlers.register_issuer(dataclasses.replace(kenya_record(), issuer_id=issuer_id), trust=TrustList(),
                                 root=ROOT, publisher=RecordingPublisher(), topics=TOPICS, now=T0)


def test_revoking_access_removes_the_principals_acls_and_credential() -> None:
    hub = RecordingHub()
    revoked = handlers.revoke_access("registry-GB", hub=hub)
    assert hub.calls == [("revoke", "User:registry-GB"), ("delete-credential", "registry-GB")]
    assert (revoked.acls_removed, revoked.credential_removed) == (3, True)
