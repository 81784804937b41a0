"""What a case officer reads of the registry's answer: the comparison table and the credential id
read from a presentation, before the registry checks it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from credverify.core.issuing import build_attestation
from credverify.core.sdjwt import content_of_attestation, issue_credential, present
from credverify.v1 import common_pb2, registry_pb2
from credverify.web.verdict import NotACredential, Typed, compare, credential_id_of, file_name_of, verdict_of
from tests.factories import KE_KEY, T0, nurse


def test_typed_details_are_compared_as_the_registry_compares_them() -> None:
    rows = compare(Typed("njeri wanjiku", "MARY", dt.date(1992, 3, 14)),
                   {"family_name": '"Njeri-Wanjikú"', "given_names": '"Mary"'})
    assert [(r.field, r.agrees) for r in rows] == [
        ("family_name", True), ("given_names", True), ("date_of_birth", None)], \
        "a birth date she did not disclose was shown as compared"
    assert rows[2].disclosed is None and rows[0].disclosed == "Njeri-Wanjikú"
    assert compare(Typed("Otieno", "", None), {"family_name": '"Wanjiru"'})[0].agrees is False


def test_the_credential_id_is_read_from_her_presentation() -> None:
    counter = itertools.count()
    credential = issue_credential(content_of_attestation(build_attestation(nurse("40001"), now=T0)), signer=KE_KEY,
                                  now=T0, random_bytes=lambda n: next(counter).to_bytes(n, "big"))
    shown = present(credential.text, disclose=("family_name",), now=T0)
    assert credential_id_of(shown) == "KE-NCK/40001"
    for garbage in ("", "Dear Sir or Madam", "eyJ~~", "a.b.c~", "x" * 70_000):
        with pytest.raises(NotACredential):
            credential_id_of(garbage)


def test_reasons_and_trust_come_from_the_answer() -> None:
    answer = registry_pb2.VerifyResponse(verified=False, reasons=[common_pb2.REASON_KEY_REVOKED],
                                         current_version=3)
    answer.attestation.issuer_id = "KE-NCK"
    answer.attestation.status = common_pb2.CREDENTIAL_STATUS_ACTIVE
    verdict = verdict_of("KE-NCK/1", Typed("", "", None), answer)
    assert verdict.reasons == ("KEY_REVOKED",) and not verdict.issuer_trusted and verdict.status == "ACTIVE"
    assert verdict_of("KE-NCK/2", Typed("", "", None), registry_pb2.VerifyResponse()).reasons == ("NOT_FOUND",)


def test_a_download_name_carries_nothing_a_header_could_misread() -> None:
    assert file_name_of('KE-NCK/1";evil=x') == "KE-NCK-1--evil-x"
    with pytest.raises(NotACredential):
        credential_id_of(present_with_id("KE-NCK/1\r\nSet-Cookie: a=b"))
    assert credential_id_of(present_with_id("LK-SLMC/10006")) == "LK-SLMC/10006"


def present_with_id(credential_id: str) -> str:
    att = build_attestation(nurse("40002"), now=T0)
    content = content_of_attestation(att)
    content = dataclasses.replace(content, clear={**content.clear, "credential_id": credential_id})
    counter = itertools.count()
    credential = issue_credential(content, signer=KE_KEY, now=T0,
                                  random_bytes=lambda n: next(counter).to_bytes(n, "big"))
    return present(credential.text, disclose=(), now=T0)
