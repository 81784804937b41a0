"""Every error credverify raises on purpose.

Malformed input (bytes that do not parse, fields out of range) and untrusted
input (parses fine, but fails a trust rule) are different exceptions: the first
is the sender's bug, the second may be an attack. Both carry a reason code from
credverify.v1.Reason so the boundary that catches them can say why.
"""

from __future__ import annotations

from typing import cast

from credverify.v1 import common_pb2


class CredverifyError(Exception):
    """Base of all credverify errors."""


class ConfigurationError(CredverifyError):
    """A setting is missing or invalid; the message names it."""


class InvalidInput(CredverifyError):
    """A command or request is malformed; the message names the field and the value."""


class NotFound(InvalidInput):
    """A request names something that does not exist (a credential never issued, an unknown key)."""


class RecordRejected(CredverifyError):
    """A record or envelope was refused; ``reason`` is a credverify.v1.Reason value."""

    reason: common_pb2.Reason = common_pb2.REASON_UNSPECIFIED

    def __init__(self, reason: common_pb2.Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail

    @property
    def code(self) -> str:
        return reason_code(self.reason)


class Malformed(RecordRejected):
    """Bytes that do not parse as what they claim to be."""

    def __init__(self, detail: str, reason: common_pb2.Reason = common_pb2.REASON_MALFORMED) -> None:
        super().__init__(reason, detail)


class Untrusted(RecordRejected):
    """Well-formed, but a trust rule fails (bad signature, unknown issuer, out of scope...)."""


def reason_code(reason: common_pb2.Reason) -> str:
    """Return the text code of a Reason value: REASON_SIGNATURE_INVALID -> "SIGNATURE_INVALID"."""
    return common_pb2.Reason.Name(reason).removeprefix("REASON_")


def reason_from_code(code: str) -> common_pb2.Reason:
    """Inverse of reason_code. Raises ValueError for an unknown code."""
    return cast(common_pb2.Reason, common_pb2.Reason.Value("REASON_" + code))


class DeliveryFailed(CredverifyError):
    """The broker did not confirm a record in time; nothing may be reported as done."""


class HubUnavailable(CredverifyError):
    """Kafka (the hub) could not be reached or did not answer in time; the message says what was tried.
    A client is told only that the hub is unavailable; the detail goes to the log."""


class AccessDenied(CredverifyError):
    """A caller is not admitted, or asks for what its role does not allow (PERMISSION_DENIED)."""


class Refused(CredverifyError):
    """A deliberate refusal of a request that is well-formed but may not proceed now; ``status`` names
    the gRPC status code by name (e.g. ``"RESOURCE_EXHAUSTED"``), so core stays free of gRPC."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


class RegistrationRefused(Refused):
    """A registration that may not be recorded because the credential does not verify; ``reasons``
    and ``detail`` are the verdict. NOT_FOUND when the registry holds no attestation with the id,
    else FAILED_PRECONDITION."""

    def __init__(self, credential_id: str, reasons: tuple[common_pb2.Reason, ...], detail: str) -> None:
        if reasons == (common_pb2.REASON_NOT_FOUND,):
            super().__init__("NOT_FOUND", "no accepted attestation with id %r" % credential_id)
        else:
            super().__init__("FAILED_PRECONDITION", "credential does not verify (%s): %s" % (
                ", ".join(reason_code(r) for r in reasons), detail))
        self.credential_id = credential_id
        self.reasons = reasons
        self.detail = detail


class TooManyWatchers(Refused):
    """A caller asked for a live status stream while the registry serves as many as it allows
    (RESOURCE_EXHAUSTED)."""

    def __init__(self, limit: int, caller: str | None = None) -> None:
        if caller is None:
            message = "%d watch streams are open already, the limit; try again later" % limit
        else:
            message = ("caller %s holds %d watch streams already, the most one caller may hold; close one "
                       "or try again later" % (caller[:100], limit))
        super().__init__("RESOURCE_EXHAUSTED", message)
        self.limit = limit


class ShuttingDown(Refused):
    """The service is stopping; the caller should retry, on another replica or later (UNAVAILABLE)."""

    def __init__(self, message: str) -> None:
        super().__init__("UNAVAILABLE", message)
