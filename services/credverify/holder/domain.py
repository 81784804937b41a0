"""What a practitioner does with her credential, without I/O: choose what to disclose, bind it to her
wallet key, list what it holds. Time and keys are passed in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core import sdjwt
from credverify.core.errors import InvalidInput


@dataclass(frozen=True)
class PresentCredential:
    """Make a presentation of ``credential`` disclosing only ``disclose``; bound to the verifier's
    ``audience`` and ``nonce`` when the holder has a wallet key."""

    credential: str
    disclose: tuple[str, ...]
    audience: str | None = None
    nonce: str | None = None


def present_credential(cmd: PresentCredential, *, holder_key: Ed25519PrivateKey | None, now: dt.datetime) -> str:
    """Return the presentation text. Raises InvalidInput (an unknown claim, a missing or wrong key,
    a file that is not a credential)."""
    try:
        return sdjwt.present(cmd.credential, disclose=cmd.disclose, now=now, holder_key=holder_key,
                             audience=cmd.audience, nonce=cmd.nonce)
    except sdjwt.PresentationRejected as exc:
        raise InvalidInput("credential: not an SD-JWT credential (%s)" % exc.detail) from exc


def describe(credential: str, *, values: bool) -> list[str]:
    """Return one line per claim: ``name`` (disclosable ones marked), with its value when ``values``.
    Raises InvalidInput for a file that is not a credential."""
    try:
        claims = sdjwt.holder_claims(credential)
        disclosable = set(sdjwt.disclosable_names(credential))
    except sdjwt.PresentationRejected as exc:
        raise InvalidInput("credential: not an SD-JWT credential (%s)" % exc.detail) from exc
    lines = []
    for name, value in claims.items():
        kind = "disclosable" if name in disclosable else "in clear"
        lines.append("%s (%s)%s" % (name, kind, ": %s" % (value,) if values else ""))
    return lines
