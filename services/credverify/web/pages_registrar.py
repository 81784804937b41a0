"""The registrar's pages: a register export checked and published, a credential looked up and its
status changed (with a confirmation step), the council's keys."""

from __future__ import annotations

import io
import logging
import threading
import zipfile

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from credverify.core.attestation import STATUS_REASON_CODES
from credverify.core.qr import qr_png
from credverify.v1 import common_pb2, issuer_pb2
from credverify.web.accounts import Role
from credverify.web.adapters.grpc_clients import IssuerClient
from credverify.web.app import SECURITY_HEADERS, Page, PageError, redirect, signed_in
from credverify.web.batches import Batch, Batches, NotUtf8, State, check, decode_upload, publish
from credverify.web.grpc_calls import call
from credverify.web.verdict import file_name_of

logger = logging.getLogger(__name__)

MAX_CSV_BYTES = 6 * 1024 * 1024
ACTIONS = {
    "suspend": issuer_pb2.STATUS_ACTION_SUSPEND,
    "reinstate": issuer_pb2.STATUS_ACTION_REINSTATE,
    "revoke": issuer_pb2.STATUS_ACTION_REVOKE,
    "lapse": issuer_pb2.STATUS_ACTION_LAPSE,
    "add-condition": issuer_pb2.STATUS_ACTION_ADD_CONDITION,
    "lift-condition": issuer_pb2.STATUS_ACTION_LIFT_CONDITION,
}
NEEDS_CONDITION = ("add-condition", "lift-condition")
MAX_CONDITION_CHARS = 500


def _issuer(page: Page) -> IssuerClient:
    issuer = page.deps.issuers.get(page.account.scope)
    if issuer is None:
        raise PageError(503, "error.no_issuer", "no issuer service configured for %s" % page.account.scope,
                        issuer=page.account.scope)
    return issuer


def _batches(page: Page) -> Batches:
    return page.deps.extras.setdefault("batches", Batches(page.deps.now))  # type: ignore[no-any-return]


def _own_credential(page: Page, credential_id: str) -> str:
    """``credential_id`` when it is one of the registrar's council. Raises PageError (403)."""
    if not credential_id.startswith(page.account.scope + "/"):
        page.deps.metrics.refusals.labels("other-issuer").inc()
        raise PageError(403, "error.other_issuer", "%s asked for %s of another issuer" % (
            page.account.username, credential_id[:80]), issuer=page.account.scope)
    return credential_id


async def upload_form(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    return page.render("register_upload.html", errors={})


async def upload(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    form = await page.form()
    upload = form.get("register")
    errors: dict[str, str] = {}
    text, refused_with = "", 400
    if not isinstance(upload, UploadFile) or not upload.filename:
        errors["register"] = page.t("upload.error.missing")
    else:
        data = await upload.read(MAX_CSV_BYTES + 1)
        try:
            if len(data) > MAX_CSV_BYTES:
                errors["register"], refused_with = page.t("upload.error.too_large"), 413
            text = decode_upload(data)
        except NotUtf8 as exc:
            logger.warning("register upload refused: %s", exc)
            errors["register"] = page.t("upload.error.encoding")
    if errors:
        page.deps.metrics.refusals.labels("register-upload").inc()
        return page.render("register_upload.html", status=refused_with, errors=errors)
    described = await call("issuer", _issuer(page).get_issuer)
    rows, row_errors = check(text, issuer_id=page.account.scope, jurisdiction=described.jurisdiction)
    filename = upload.filename[:100] if isinstance(upload, UploadFile) and upload.filename else ""
    batch = _batches(page).add(owner=page.account.username, issuer_id=page.account.scope, filename=filename,
                               rows=rows, errors=row_errors)
    logger.info("register checked for %s by %s: %d valid rows, %d errors", page.account.scope,
                page.account.username, len(rows), len(row_errors))
    return redirect("/register/batches/%s" % batch.batch_id)


def _batch(page: Page, batch_id: str) -> Batch:
    batch = _batches(page).get(batch_id, page.account.username)
    if batch is None:
        raise PageError(404, "error.batch_gone", "no batch %s for %s" % (batch_id[:6], page.account.username))
    return batch


async def batch_page(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    batch = _batch(page, request.path_params["batch_id"])
    return page.render("register_batch.html", batch=batch, publishing=batch.state is State.PUBLISHING,
                       finished=batch.state is State.DONE)


async def publish_batch(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    await page.form()
    batch = _batch(page, request.path_params["batch_id"])
    issuer = _issuer(page)
    if _batches(page).start_publishing(batch):
        logger.info("publishing batch %s of %s: %d rows", batch.batch_id[:6], batch.issuer_id, len(batch.rows))
        threading.Thread(target=publish, args=(batch, issuer.issue, page.deps.now), daemon=True,
                         name="publish-%s" % batch.batch_id[:6]).start()
    else:
        logger.info("batch %s is %s already: not published again", batch.batch_id[:6], batch.state.value)
    return redirect("/register/batches/%s" % batch.batch_id)


async def batch_progress(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    batch = _batch(page, request.path_params["batch_id"])
    return JSONResponse({"state": batch.state.value, "done": batch.done, "total": len(batch.rows),
                         "failed": batch.failed}, headers=SECURITY_HEADERS)


async def batch_credentials(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    batch = _batch(page, request.path_params["batch_id"])
    credentials = batch.credentials()
    if not credentials:
        raise PageError(404, "error.no_credentials", "batch %s has no credentials" % batch.batch_id[:6])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for credential_id, text in credentials:
            archive.writestr(file_name_of(credential_id) + ".sd-jwt", text + "\n")
            qr = qr_png(text)  # the council's own drawing; None when the credential is too long for one
            if qr is not None:
                archive.writestr(file_name_of(credential_id) + ".qr.png", qr)
    logger.info("credentials of batch %s downloaded by %s: %d files", batch.batch_id[:6], page.account.username,
                len(credentials))
    return Response(out.getvalue(), media_type="application/zip", headers={
        **SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="credentials-%s.zip"' % batch.issuer_id})


def _status_name(status: int) -> str:
    return common_pb2.CredentialStatus.Name(status).removeprefix("CREDENTIAL_STATUS_")


async def credential_file(request: Request) -> Response:
    """One practitioner's credential file, to hand her again (a lost file, a new phone)."""
    page = signed_in(request, Role.REGISTRAR)
    credential_id = _own_credential(page, request.query_params.get("credential_id", "").strip()[:200])
    found = await call("issuer", _issuer(page).get_credential, credential_id)
    if not found.credential:
        raise PageError(404, "error.no_credentials", "no credential file for %s" % credential_id)
    logger.info("credential file of %s downloaded by %s", credential_id, page.account.username)
    return Response((found.credential + "\n").encode(), media_type="application/dc+sd-jwt", headers={
        **SECURITY_HEADERS, "Content-Disposition": 'attachment; filename="%s.sd-jwt"' % file_name_of(credential_id)})


async def lookup(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    credential_id = request.query_params.get("credential_id", "").strip()[:200]
    found = None
    if credential_id:
        own = _own_credential(page, credential_id)
        found = await call("issuer", _issuer(page).get_credential, own)
    return page.render("credential.html", credential_id=credential_id, found=found,
                       standing=_status_name(found.attestation.status) if found else "", actions=list(ACTIONS),
                       reasons=sorted(STATUS_REASON_CODES), errors={}, values={})


def _change_request(page: Page, form: object) -> tuple[issuer_pb2.ChangeStatusRequest, dict[str, str]]:
    get = form.get  # type: ignore[attr-defined]
    action, reason = str(get("action", "")), str(get("reason", ""))
    condition = " ".join(str(get("condition", "")).split())
    errors: dict[str, str] = {}
    if action not in ACTIONS:
        errors["action"] = page.t("change.error.action")
    if reason not in STATUS_REASON_CODES:
        errors["reason"] = page.t("change.error.reason")
    if action in NEEDS_CONDITION and not condition:
        errors["condition"] = page.t("change.error.condition")
    if len(condition) > MAX_CONDITION_CHARS:
        errors["condition"] = page.t("change.error.condition_long", limit=MAX_CONDITION_CHARS)
    credential_id = _own_credential(page, str(get("credential_id", "")).strip()[:200])
    chosen = ACTIONS.get(action, issuer_pb2.STATUS_ACTION_UNSPECIFIED)
    return issuer_pb2.ChangeStatusRequest(credential_id=credential_id, action=chosen, reason=reason,
                                          condition=condition), errors


async def change(request: Request) -> Response:
    """The confirmation step: what will change, and a button to confirm it."""
    page = signed_in(request, Role.REGISTRAR)
    form = await page.form()
    wanted, errors = _change_request(page, form)
    values = {name: str(form.get(name, "")) for name in ("action", "reason", "condition")}
    found = await call("issuer", _issuer(page).get_credential, wanted.credential_id)
    if errors:
        return page.render("credential.html", status=400, credential_id=wanted.credential_id, found=found,
                           standing=_status_name(found.attestation.status), actions=list(ACTIONS),
                           reasons=sorted(STATUS_REASON_CODES), errors=errors, values=values)
    return page.render("change_confirm.html", credential_id=wanted.credential_id, values=values,
                       standing=_status_name(found.attestation.status))


async def change_confirmed(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    form = await page.form()
    wanted, errors = _change_request(page, form)
    if errors:
        raise PageError(400, "change.error.incomplete", "confirmed change with errors in %s" % ",".join(errors))
    answer = await call("issuer", _issuer(page).change_status, wanted)
    logger.info("status of %s changed by %s: %s %s, version %d", wanted.credential_id, page.account.username,
                issuer_pb2.StatusAction.Name(wanted.action), wanted.reason, answer.version)
    return page.render("change_done.html", credential_id=wanted.credential_id, answer=answer,
                       standing=_status_name(answer.attestation.status))


async def keys(request: Request) -> Response:
    page = signed_in(request, Role.REGISTRAR)
    described = await call("issuer", _issuer(page).get_issuer)
    states = [(key, issuer_pb2.KeyState.Name(key.state).removeprefix("KEY_STATE_")) for key in described.keys]
    return page.render("keys.html", described=described, keys=states)


ROUTES = [
    Route("/register", upload_form, methods=["GET"]),
    Route("/register", upload, methods=["POST"]),
    Route("/register/batches/{batch_id}", batch_page, methods=["GET"]),
    Route("/register/batches/{batch_id}/publish", publish_batch, methods=["POST"]),
    Route("/register/batches/{batch_id}/progress", batch_progress, methods=["GET"]),
    Route("/register/batches/{batch_id}/credentials.zip", batch_credentials, methods=["GET"]),
    Route("/credentials", lookup, methods=["GET"]),
    Route("/credentials/file", credential_file, methods=["GET"]),
    Route("/credentials/change", change, methods=["POST"]),
    Route("/credentials/change/confirm", change_confirmed, methods=["POST"]),
    Route("/keys", keys, methods=["GET"]),
]
