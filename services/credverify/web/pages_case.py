"""The case officer's pages: verify an applicant's credential, record her registration, the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging

from google.protobuf import json_format
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from credverify.core.sdjwt import MAX_PRESENTATION_CHARS
from credverify.core.timefmt import to_date
from credverify.v1 import registry_pb2
from credverify.web.accounts import Role
from credverify.web.adapters.grpc_clients import RegistryClient
from credverify.web.adapters.qr_image import NoCodeFound, text_of_qr
from credverify.web.adapters.sqlite_store import AuditEntry
from credverify.web.app import SECURITY_HEADERS, Page, PageError, signed_in
from credverify.web.evidence import EvidenceShelf, Kept
from credverify.web.grpc_calls import call
from credverify.web.verdict import NotACredential, Typed, credential_id_of, file_name_of, verdict_of

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 200  # as the registry's cap on a claimed name
MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # a credential file is a few KiB; a photo of its QR code a few MiB


def _shelf(page: Page) -> EvidenceShelf:
    return page.deps.extras.setdefault("evidence", EvidenceShelf())  # type: ignore[no-any-return]


def registry_of(page: Page) -> RegistryClient:
    registry = page.deps.registries.get(page.account.scope)
    if registry is None:
        raise PageError(503, "error.no_registry", "no registry configured for %s" % page.account.scope,
                        country=page.account.scope)
    return registry


async def verify_form(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    return page.render("verify.html", errors={}, values={})


async def _upload_text(upload: object, errors: dict[str, str], page: Page) -> str:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return ""
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        errors["credential_file"] = page.t("verify.error.file_too_large")
        return ""
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        errors["credential_file"] = page.t("verify.error.not_a_credential")
        return ""


async def _qr_text(upload: object, errors: dict[str, str], page: Page) -> str:
    if not isinstance(upload, UploadFile) or not upload.filename:
        return ""
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    try:
        if len(data) > MAX_UPLOAD_BYTES:
            raise NoCodeFound("image above %d bytes" % MAX_UPLOAD_BYTES)
        return text_of_qr(data).strip()
    except NoCodeFound as exc:
        logger.warning("QR image refused: %s", exc)
        errors["qr_image"] = page.t("verify.error.no_qr")
        return ""


async def _presentation(form: FormData, errors: dict[str, str], page: Page) -> str:
    text = str(form.get("presentation", "")).strip() or await _upload_text(form.get("credential_file"), errors, page)
    text = text or await _qr_text(form.get("qr_image"), errors, page)
    if not text and not errors:
        errors["presentation"] = page.t("verify.error.no_credential")
    elif len(text) > MAX_PRESENTATION_CHARS:
        errors["presentation"] = page.t("verify.error.too_long")
        return ""
    return text


def _typed(form: FormData, errors: dict[str, str], page: Page) -> Typed:
    names = {name: " ".join(str(form.get(name, "")).split()) for name in ("family_name", "given_names")}
    for name, value in names.items():
        if len(value) > MAX_NAME_CHARS:
            errors[name] = page.t("verify.error.name_too_long", limit=MAX_NAME_CHARS)
    born = None
    raw = str(form.get("date_of_birth", "")).strip()
    if raw:
        try:
            born = dt.date.fromisoformat(raw)
        except ValueError:
            errors["date_of_birth"] = page.t("verify.error.date")
    if not names["family_name"] and born is None:
        errors["family_name"] = page.t("verify.error.nothing_typed")
    return Typed(names["family_name"], names["given_names"], born)


def _claimed(typed: Typed) -> registry_pb2.ClaimedSubject:
    claimed = registry_pb2.ClaimedSubject(family_name=typed.family_name, given_names=typed.given_names)
    if typed.date_of_birth is not None:
        claimed.date_of_birth.CopyFrom(to_date(typed.date_of_birth))
    return claimed


async def verify(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    form = await page.form()
    errors: dict[str, str] = {}
    presentation = await _presentation(form, errors, page)
    typed = _typed(form, errors, page)
    credential_id = ""
    if presentation and "presentation" not in errors:
        try:
            credential_id = credential_id_of(presentation)
        except NotACredential as exc:
            logger.warning("verification refused: not a credential (%s)", exc)
            errors["presentation"] = page.t("verify.error.not_a_credential")
    values = {"family_name": typed.family_name, "given_names": typed.given_names,
              "date_of_birth": typed.value("date_of_birth")}
    if errors:
        page.deps.metrics.refusals.labels("verify-input").inc()
        logger.warning("verification refused: fields %s", ",".join(sorted(errors)))
        return page.render("verify.html", status=400, errors=errors, values=values)
    answer = await call("registry", registry_of(page).verify, registry_pb2.VerifyRequest(
        credential_id=credential_id, claimed=_claimed(typed), presentation=presentation))
    verdict = verdict_of(credential_id, typed, answer)
    page.deps.metrics.verifications.labels(str(verdict.verified).lower()).inc()
    now = page.deps.now()
    page.deps.store.record_audit(AuditEntry(now, page.account.username, page.account.scope, "verify", credential_id,
                                            ",".join(verdict.reasons), verdict.disclosed_claims))
    logger.info("verified %s for %s: %s", credential_id, page.account.username, ",".join(verdict.reasons))
    evidence = {"credential_id": credential_id, "checked_by": page.account.username,
                "checked_at": verdict.checked_at, "verified": verdict.verified, "reasons": list(verdict.reasons),
                "presentation": presentation,
                "registry_answer": json_format.MessageToDict(answer, preserving_proto_field_name=True)}
    reference = _shelf(page).keep(Kept(page.account.username, page.account.scope, credential_id, presentation,
                                       json.dumps(evidence, indent=2, ensure_ascii=False).encode(),
                                       verdict.verified, typed.family_name, typed.given_names, now))
    return page.render("verdict.html", verdict=verdict, reference=reference)


def _kept(page: Page, reference: str) -> Kept:
    kept = _shelf(page).get(reference, owner=page.account.username, now=page.deps.now())
    if kept is None:
        raise PageError(404, "error.evidence_gone", "no kept verification %s for %s" % (
            reference[:8], page.account.username))
    return kept


async def evidence(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    kept = _kept(page, request.path_params["reference"])
    name = "evidence-%s.json" % file_name_of(kept.credential_id)
    return Response(kept.evidence_json, media_type="application/json", headers={
        **SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="%s"' % name})


async def register(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    await page.form()
    kept = _kept(page, request.path_params["reference"])
    if not kept.verified:
        raise PageError(409, "register.error.not_verified", "registration of an unverified credential")
    answer = await call("registry", registry_of(page).record_registration, registry_pb2.RecordRegistrationRequest(
        credential_id=kept.credential_id, presentation=kept.presentation,
        claimed=registry_pb2.ClaimedSubject(family_name=kept.family_name, given_names=kept.given_names)))
    page.deps.store.record_audit(AuditEntry(page.deps.now(), page.account.username, page.account.scope, "register",
                                            kept.credential_id, "ALREADY_RECORDED" if answer.already_recorded
                                            else "RECORDED", ()))
    logger.info("registration of %s recorded by %s", kept.credential_id, page.account.username)
    return page.render("registered.html", credential_id=kept.credential_id, already=answer.already_recorded)


def _audit_filter(request: Request) -> str | None:
    wanted = request.query_params.get("credential_id", "").strip()
    return wanted[:200] or None


async def audit(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    wanted = _audit_filter(request)
    entries = list(page.deps.store.audit(country=page.account.scope, credential_id=wanted, limit=500))
    return page.render("audit.html", entries=entries, wanted=wanted or "")


async def audit_csv(request: Request) -> Response:
    page = signed_in(request, Role.CASE_OFFICER)
    wanted = _audit_filter(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["at", "case_officer", "country", "action", "credential_id", "outcome", "disclosed_claims"])
    for entry in page.deps.store.audit(country=page.account.scope, credential_id=wanted):
        writer.writerow([entry.at.isoformat(), entry.username, entry.country, entry.action, entry.credential_id,
                         entry.outcome, " ".join(entry.disclosed_claims)])
    logger.info("audit log of %s exported by %s", page.account.scope, page.account.username)
    return Response(out.getvalue().encode(), media_type="text/csv; charset=utf-8", headers={
        **SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="audit-%s.csv"' % page.account.scope})


ROUTES = [
    Route("/verify", verify_form, methods=["GET"]),
    Route("/verify", verify, methods=["POST"]),
    Route("/verifications/{reference}/evidence", evidence, methods=["GET"]),
    Route("/verifications/{reference}/register", register, methods=["POST"]),
    Route("/audit", audit, methods=["GET"]),
    Route("/audit.csv", audit_csv, methods=["GET"]),
]

