"""The practitioner's own credential: an SD-JWT VC (RFC 9901, SD-JWT VC draft), and its presentations.

A council signs the credential with the same Ed25519 key as its hub attestations (``kid`` = our keyid).
Facts a destination needs without the person travel in clear; every personal claim is a salted
Disclosure whose digest sits in ``_sd``; the hub's v2 attestation carries the same digests
(``hub_digests``), so one set of Disclosures opens both. The profile is in docs/sd-jwt.md.

``verify_presentation`` is the gate for what a holder presents, modelled on
``attestation.verify_attestation``: every failure is a PresentationRejected with a reason code from
this module (the codes credverify.v1.Reason will gain), never another exception.
Pure: no I/O, no clock; time, randomness and keys are passed in.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from credverify.core.envelope import Signer, raw_public_key
from credverify.core.errors import CredverifyError, InvalidInput
from credverify.core.timefmt import from_date
from credverify.v1 import attestation_pb2, common_pb2

# --- the profile (docs/sd-jwt.md) -------------------------------------------------------------------
JWS_ALG = "EdDSA"  # RFC 8037: Ed25519 in JOSE, the curve of every credverify key
SD_JWT_TYP = "dc+sd-jwt"  # SD-JWT VC draft, section 3.2.1
KB_JWT_TYP = "kb+jwt"  # RFC 9901 section 4.3
SD_ALG = "sha-256"  # RFC 9901 section 4.1.1, the IANA name; the only one we issue or accept
SALT_BYTES = 16  # 128 bits, as RFC 9901 section 9.3 recommends
DIGEST_CHARS = 43  # base64url of a 32-byte SHA-256 digest, unpadded
# One vct per credential kind; the trailing number is the profile's version.
VCT_BY_KIND: dict[int, str] = {
    common_pb2.CREDENTIAL_KIND_LICENCE: "urn:credverify:vct:licence:1",
    common_pb2.CREDENTIAL_KIND_DIPLOMA: "urn:credverify:vct:diploma:1",
    common_pb2.CREDENTIAL_KIND_GOOD_STANDING: "urn:credverify:vct:good-standing:1",
}
# Everything that identifies or describes the practitioner; none of it is ever in clear.
DISCLOSABLE_CLAIMS = ("family_name", "given_names", "birth_date", "practitioner_number",
                      "country_of_training", "conditions", "diploma")
RESERVED_CLAIM_NAMES = frozenset({"_sd", "..."})  # RFC 9901 section 4.2.1
# Claims of the JWT itself, never facts about the credential.
_REGISTERED_CLAIMS = frozenset({"_sd", "_sd_alg", "cnf"})

# --- limits: far above a real credential (about 1.5 KB), low enough to keep hostile input cheap ----
MAX_PRESENTATION_CHARS = 64 * 1024  # as MAX_ENVELOPE_BYTES: a presentation is evidence like an envelope
MAX_JWT_CHARS = 8 * 1024  # header, payload with up to MAX_DIGESTS digests, signature
MAX_KB_JWT_CHARS = 2 * 1024  # aud, nonce, iat, sd_hash: a few hundred bytes
# 20 conditions of 500 characters (attestation.MAX_CONDITIONS, MAX_CONDITION_CHARS) need about 14 KiB.
MAX_DISCLOSURE_CHARS = 24 * 1024
MAX_DISCLOSURES = 16  # seven claims in the profile, room for more without thousands
MAX_DIGESTS = 64  # the claims plus decoys
MAX_AUDIENCE_CHARS = MAX_NONCE_CHARS = 512
# Verdicts on issuer-signed JWT signatures kept in memory: at most MAX_JWT_CHARS of signed bytes each,
# so at most 8 MiB, whatever a caller sends.
SIGNATURES_REMEMBERED = 1024
# How far a signer's clock may run ahead of the verifier's: NTP keeps them within seconds, minutes
# cover a badly kept phone (as attestation.MAX_CLOCK_SKEW).
CLOCK_SKEW = dt.timedelta(minutes=5)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")

# --- reason codes: what a registry reports; credverify.v1.Reason gains them with v2 ----------------
PRESENTATION_MALFORMED = "PRESENTATION_MALFORMED"
PRESENTATION_OVERSIZED = "PRESENTATION_OVERSIZED"
SD_JWT_ALG_UNSUPPORTED = "SD_JWT_ALG_UNSUPPORTED"
SD_JWT_SIGNATURE_INVALID = "SD_JWT_SIGNATURE_INVALID"
SD_JWT_NOT_YET_VALID = "SD_JWT_NOT_YET_VALID"
SD_JWT_EXPIRED = "SD_JWT_EXPIRED"
DISCLOSURE_UNKNOWN = "DISCLOSURE_UNKNOWN"
DISCLOSURE_DUPLICATE = "DISCLOSURE_DUPLICATE"
DIGEST_DUPLICATE = "DIGEST_DUPLICATE"
DISCLOSURE_RESERVED_NAME = "DISCLOSURE_RESERVED_NAME"
DISCLOSURE_CLAIM_CLASH = "DISCLOSURE_CLAIM_CLASH"
DIGESTS_NOT_CURRENT = "DIGESTS_NOT_CURRENT"
KEY_BINDING_MISSING = "KEY_BINDING_MISSING"
KEY_BINDING_INVALID = "KEY_BINDING_INVALID"
KEY_BINDING_AUDIENCE = "KEY_BINDING_AUDIENCE"
KEY_BINDING_NONCE = "KEY_BINDING_NONCE"
KEY_BINDING_HASH = "KEY_BINDING_HASH"
KEY_BINDING_TIME = "KEY_BINDING_TIME"
REASON_CODES = (PRESENTATION_MALFORMED, PRESENTATION_OVERSIZED, SD_JWT_ALG_UNSUPPORTED,
                SD_JWT_SIGNATURE_INVALID, SD_JWT_NOT_YET_VALID, SD_JWT_EXPIRED, DISCLOSURE_UNKNOWN,
                DISCLOSURE_DUPLICATE, DIGEST_DUPLICATE, DISCLOSURE_RESERVED_NAME, DISCLOSURE_CLAIM_CLASH,
                DIGESTS_NOT_CURRENT, KEY_BINDING_MISSING, KEY_BINDING_INVALID, KEY_BINDING_AUDIENCE,
                KEY_BINDING_NONCE, KEY_BINDING_HASH, KEY_BINDING_TIME)


class PresentationRejected(CredverifyError):
    """A presentation was refused; ``reason`` is one of REASON_CODES. The detail never holds a
    disclosed value (it may be personal data, and errors reach logs)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__("%s: %s" % (reason, detail))
        self.reason = reason
        self.detail = detail


class PresentationMalformed(PresentationRejected):
    """Text that is not an SD-JWT of our profile: the sender's bug."""

    def __init__(self, detail: str, reason: str = PRESENTATION_MALFORMED) -> None:
        super().__init__(reason, detail)


class PresentationUntrusted(PresentationRejected):
    """Well-formed, but a signature, digest or key-binding rule fails: possibly an attack."""


# --- encoding ----------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    """Return unpadded base64url (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def b64url_decode(text: str, what: str) -> bytes:
    """Decode unpadded base64url, refusing padding, other alphabets and non-canonical trailing bits.
    Raises PresentationMalformed naming ``what``."""
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise PresentationMalformed("%s: expected unpadded base64url" % what)
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PresentationMalformed("%s: expected unpadded base64url" % what) from exc
    if b64url(data) != text:  # stray bits in the last character: two texts for the same bytes
        raise PresentationMalformed("%s: not canonical base64url" % what)
    return data


def _refuse_constant(name: str) -> None:
    raise ValueError("%s is not JSON" % name)


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):  # RFC 7515 section 5.2: duplicate names must be refused or last-wins
        raise ValueError("duplicate member name")
    return obj


def parse_json(data: bytes, what: str) -> Any:
    """Parse strict JSON (UTF-8, no duplicate names, no NaN). Raises PresentationMalformed."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique_object,
                          parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PresentationMalformed("%s: not JSON (%s)" % (what, type(exc).__name__)) from exc


def _json_bytes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def make_disclosure(salt: str, claim_name: str, value: object) -> str:
    """Return the Disclosure of one object property: base64url of the UTF-8 JSON [salt, name, value]
    (RFC 9901 section 4.2.1)."""
    return b64url(_json_bytes([salt, claim_name, value]))


def disclosure_digest(disclosure: str) -> str:
    """Return base64url SHA-256 of the Disclosure's ASCII text (RFC 9901 section 4.2.3)."""
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def decode_disclosure(disclosure: str) -> tuple[str, str, object]:
    """Return (salt, claim name, value) of an object-property Disclosure. Raises PresentationMalformed
    (array-element Disclosures are not part of our profile)."""
    if len(disclosure) > MAX_DISCLOSURE_CHARS:
        raise PresentationMalformed("disclosure: expected at most %d characters, found %d" % (
            MAX_DISCLOSURE_CHARS, len(disclosure)), PRESENTATION_OVERSIZED)
    content = parse_json(b64url_decode(disclosure, "disclosure"), "disclosure")
    if not isinstance(content, list) or len(content) != 3:
        raise PresentationMalformed("disclosure: expected a JSON array [salt, claim name, value]")
    salt, name, value = content
    if not isinstance(salt, str) or not isinstance(name, str):
        raise PresentationMalformed("disclosure: salt and claim name must be strings")
    return salt, name, value


# --- the credential ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CredentialContent:
    """What a credential says: facts in clear, personal claims to be made disclosable."""

    issuer_id: str
    vct: str
    clear: Mapping[str, object]  # credential_id, credential_kind, profession_isco, ... (never personal)
    personal: Mapping[str, object]  # claim name -> value, each becomes one Disclosure
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


def content_of_attestation(att: attestation_pb2.Attestation) -> CredentialContent:
    """Return the credential content of a (validated) attestation. Raises InvalidInput for a kind
    without a vct."""
    vct = VCT_BY_KIND.get(att.kind)
    if vct is None:
        raise InvalidInput("kind: no credential type for kind %d" % att.kind)
    subject = att.subject
    birth = from_date(subject.date_of_birth)
    personal: dict[str, object] = {
        "family_name": subject.family_name,
        "given_names": subject.given_names,
        "birth_date": birth.isoformat() if birth else "",
        "practitioner_number": subject.practitioner_number,
        "country_of_training": subject.country_of_training,
        "conditions": list(att.conditions),
    }
    if att.HasField("diploma"):
        award = from_date(att.diploma.award_date)
        personal["diploma"] = {"institution": att.diploma.institution, "programme": att.diploma.programme,
                               "award_date": award.isoformat() if award else ""}
    clear = {
        "credential_id": att.credential_id,
        "credential_kind": common_pb2.CredentialKind.Name(att.kind).removeprefix("CREDENTIAL_KIND_"),
        "profession_isco": att.profession_isco,
        "jurisdiction": att.jurisdiction,
        "has_conditions": bool(att.conditions),
    }
    return CredentialContent(
        issuer_id=att.issuer_id, vct=vct, clear=clear,
        personal={name: value for name, value in personal.items() if value not in ("", [])},
        valid_from=from_date(att.valid_from), valid_until=from_date(att.valid_until))


@dataclass(frozen=True)
class IssuedCredential:
    """The holder's credential in combined format, and the digests the hub attestation carries."""

    text: str  # <JWT>~<D1>~...~<Dn>~
    digests: tuple[str, ...]  # the `_sd` array, decoys included, sorted


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """Return the RFC 8037 JWK of an Ed25519 public key (no kid: the holder's key has none of ours)."""
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_public_key(key))}


def _epoch(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def _sign_jws(header: Mapping[str, object], payload: Mapping[str, object], key: Ed25519PrivateKey) -> str:
    signing_input = b64url(_json_bytes(header)) + "." + b64url(_json_bytes(payload))
    return signing_input + "." + b64url(key.sign(signing_input.encode("ascii")))


# Every credential we issue carries this many digests, decoys filling what claims leave: the count
# says nothing about which claims exist (a diploma, conditions) or how many there are.
SEALED_DIGESTS = 10


@dataclass(frozen=True)
class Sealing:
    """The Disclosures of one credential's personal claims and its decoy digests: what the council keeps
    so that a status change or a re-export carries the same digests (and never a new salt for a claim
    whose value did not change). Secret: the salts leave the council only inside the credential."""

    disclosures: tuple[str, ...]  # one per personal claim, in CredentialContent.personal's order
    decoys: tuple[str, ...] = ()  # digests of nothing (RFC 9901 section 4.2.5)

    @property
    def digests(self) -> tuple[str, ...]:
        """The ``_sd`` array, sorted: the digests the hub's attestation carries."""
        return tuple(sorted([disclosure_digest(d) for d in self.disclosures] + list(self.decoys)))

    def to_json(self) -> str:
        return json.dumps({"disclosures": list(self.disclosures), "decoys": list(self.decoys)})

    @classmethod
    def from_json(cls, text: str) -> Sealing:
        data = json.loads(text)
        return cls(disclosures=tuple(data["disclosures"]), decoys=tuple(data["decoys"]))


def seal(content: CredentialContent, *, random_bytes: Callable[[int], bytes], previous: Sealing | None = None,
         digests: int = SEALED_DIGESTS) -> Sealing:
    """Return the Disclosures of ``content``'s personal claims, padded with decoys to ``digests`` digests
    (more when there are more claims). A claim whose value is the same as in ``previous`` keeps its
    Disclosure, salt and all, and so its digest; a new or changed claim gets a fresh 128-bit salt.
    ``random_bytes(n)`` gives salts and decoys (pass secrets.token_bytes). Raises InvalidInput when a
    claim would exceed the profile's limits."""
    kept = {}
    for disclosure in previous.disclosures if previous else ():
        _, name, value = decode_disclosure(disclosure)
        kept[name] = (value, disclosure)
    disclosures = []
    for name, value in content.personal.items():
        held = kept.get(name)
        disclosure = held[1] if held and held[0] == value else make_disclosure(
            b64url(random_bytes(SALT_BYTES)), name, value)
        if len(disclosure) > MAX_DISCLOSURE_CHARS:
            raise InvalidInput("%s: its disclosure would have %d characters, above the limit of %d" % (
                name, len(disclosure), MAX_DISCLOSURE_CHARS))
        disclosures.append(disclosure)
    wanted = max(0, digests - len(disclosures))
    decoys = list(previous.decoys[:wanted]) if previous else []
    # A decoy is the digest of nothing: RFC 9901 section 4.2.5 suggests hashing random bytes.
    decoys += [b64url(hashlib.sha256(random_bytes(SALT_BYTES)).digest()) for _ in range(wanted - len(decoys))]
    if len(disclosures) + len(decoys) > MAX_DIGESTS:
        raise InvalidInput("decoys: %d digests in all, above the limit of %d" % (
            len(disclosures) + len(decoys), MAX_DIGESTS))
    return Sealing(disclosures=tuple(disclosures), decoys=tuple(decoys))


def sign_credential(content: CredentialContent, sealing: Sealing, *, signer: Signer, now: dt.datetime,
                    holder_key: Ed25519PublicKey | None = None) -> IssuedCredential:
    """Return the SD-JWT VC of ``content``, whose personal claims ``sealing`` holds, signed by ``signer``
    at ``now``; ``holder_key`` adds ``cnf``. Signing the same sealing again (a re-export, a new key)
    gives a credential with the same digests."""
    digests = sealing.digests
    payload: dict[str, object] = {"iss": content.issuer_id, "iat": int(now.timestamp()), "vct": content.vct}
    if content.valid_from is not None:
        payload["nbf"] = _epoch(content.valid_from)
    if content.valid_until is not None:  # valid through that whole day (UTC)
        payload["exp"] = _epoch(content.valid_until + dt.timedelta(days=1))
    payload.update(content.clear)
    payload["_sd"] = list(digests)
    payload["_sd_alg"] = SD_ALG
    if holder_key is not None:
        payload["cnf"] = {"jwk": public_jwk(holder_key)}
    jwt = _sign_jws({"alg": JWS_ALG, "typ": SD_JWT_TYP, "kid": signer.keyid}, payload, signer.private_key)
    return IssuedCredential(text="~".join([jwt, *sealing.disclosures, ""]), digests=digests)


def issue_credential(content: CredentialContent, *, signer: Signer, now: dt.datetime,
                     random_bytes: Callable[[int], bytes], holder_key: Ed25519PublicKey | None = None,
                     decoys: int = 0) -> IssuedCredential:
    """Return a new SD-JWT VC of ``content`` signed by ``signer``, every salt fresh, with ``decoys``
    decoy digests. Raises InvalidInput when a claim would exceed the profile's limits."""
    sealing = seal(content, random_bytes=random_bytes, digests=len(content.personal) + decoys)
    return sign_credential(content, sealing, signer=signer, now=now, holder_key=holder_key)


# --- reading the combined format ---------------------------------------------------------------------

@dataclass(frozen=True)
class Jws:
    """A compact JWS split and decoded, its signature not yet checked."""

    header: Mapping[str, Any]
    payload_part: str
    signing_input: bytes
    signature: bytes

    def payload(self, what: str) -> dict[str, Any]:
        payload = parse_json(b64url_decode(self.payload_part, what + " payload"), what + " payload")
        if not isinstance(payload, dict):
            raise PresentationMalformed("%s payload: expected a JSON object" % what)
        return payload


def parse_jws(text: str, what: str) -> Jws:
    """Split a compact JWS and decode its header. Raises PresentationMalformed."""
    parts = text.split(".")
    if len(parts) != 3:
        raise PresentationMalformed("%s: expected a compact JWS of 3 parts, found %d" % (what, len(parts)))
    header = parse_json(b64url_decode(parts[0], what + " header"), what + " header")
    if not isinstance(header, dict):
        raise PresentationMalformed("%s header: expected a JSON object" % what)
    b64url_decode(parts[1], what + " payload")
    return Jws(header=header, payload_part=parts[1], signing_input=(parts[0] + "." + parts[1]).encode("ascii"),
               signature=b64url_decode(parts[2], what + " signature"))


@dataclass(frozen=True)
class Combined:
    """An SD-JWT in combined format, split: the issuer-signed JWT, the Disclosures, the KB-JWT."""

    jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str  # "" when there is none

    @property
    def sd_jwt_text(self) -> str:
        """The SD-JWT without the KB-JWT: what sd_hash covers (RFC 9901 section 4.3.1)."""
        return "~".join([self.jwt, *self.disclosures, ""])


def split_combined(text: str) -> Combined:
    """Split ``<JWT>~<D1>~...~<Dn>~[<KB-JWT>]``, checking sizes. Raises PresentationMalformed."""
    if len(text) > MAX_PRESENTATION_CHARS:
        raise PresentationMalformed("presentation: expected at most %d characters, found %d" % (
            MAX_PRESENTATION_CHARS, len(text)), PRESENTATION_OVERSIZED)
    if not text.isascii():
        raise PresentationMalformed("presentation: expected ASCII (base64url, '.' and '~')")
    parts = text.split("~")
    if len(parts) < 2:
        raise PresentationMalformed("presentation: expected <JWT>~...~, found no '~'")
    jwt, disclosures, kb_jwt = parts[0], tuple(parts[1:-1]), parts[-1]
    if len(disclosures) > MAX_DISCLOSURES:
        raise PresentationMalformed("presentation: expected at most %d disclosures, found %d" % (
            MAX_DISCLOSURES, len(disclosures)), PRESENTATION_OVERSIZED)
    for what, part, limit in (("issuer-signed JWT", jwt, MAX_JWT_CHARS), ("KB-JWT", kb_jwt, MAX_KB_JWT_CHARS)):
        if len(part) > limit:
            raise PresentationMalformed("%s: expected at most %d characters, found %d" % (
                what, limit, len(part)), PRESENTATION_OVERSIZED)
    if not jwt or any(not d for d in disclosures):
        raise PresentationMalformed("presentation: an empty JWT or disclosure")
    return Combined(jwt=jwt, disclosures=disclosures, kb_jwt=kb_jwt)


# --- presenting -------------------------------------------------------------------------------------

def holder_claims(credential: str) -> dict[str, object]:
    """Return every claim of the holder's own credential (clear and disclosable), by name, without
    checking the issuer's signature: the holder reads her own file. Raises PresentationRejected."""
    combined = split_combined(credential)
    payload = parse_jws(combined.jwt, "issuer-signed JWT").payload("issuer-signed JWT")
    claims = {name: value for name, value in payload.items() if name not in _REGISTERED_CLAIMS}
    for disclosure in combined.disclosures:
        _, name, value = decode_disclosure(disclosure)
        claims[name] = value
    return claims


def disclosable_names(credential: str) -> tuple[str, ...]:
    """Return the claim names the holder can disclose, in the credential's order."""
    return tuple(decode_disclosure(d)[1] for d in split_combined(credential).disclosures)


def present(credential: str, *, disclose: Sequence[str], now: dt.datetime,
            holder_key: Ed25519PrivateKey | None = None, audience: str | None = None,
            nonce: str | None = None) -> str:
    """Return a presentation of ``credential`` with only the Disclosures of the claims named in
    ``disclose``, and with ``holder_key`` a KB-JWT for ``audience`` and ``nonce``.
    Raises InvalidInput (an unknown claim name, a key that is not the credential's holder key, a
    bound credential without a key) or PresentationRejected (a file that is not an SD-JWT)."""
    combined = split_combined(credential)
    text = "~".join([combined.jwt, *_chosen_disclosures(combined, disclose), ""])
    cnf_key = _cnf_key(parse_jws(combined.jwt, "issuer-signed JWT").payload("issuer-signed JWT"))
    if holder_key is None:
        if cnf_key is not None:
            raise InvalidInput("holder-key: the credential is bound to a holder key; give it to present")
        return text
    if cnf_key is not None and raw_public_key(cnf_key) != raw_public_key(holder_key.public_key()):
        raise InvalidInput("holder-key: not the key the credential is bound to")
    if not audience or not nonce:
        raise InvalidInput("audience and nonce: a key-binding JWT needs both (the verifier gives them)")
    kb_payload = {"iat": int(now.timestamp()), "aud": audience, "nonce": nonce, "sd_hash": _sd_hash(text)}
    return text + _sign_jws({"alg": JWS_ALG, "typ": KB_JWT_TYP}, kb_payload, holder_key)


def _chosen_disclosures(combined: Combined, disclose: Sequence[str]) -> list[str]:
    """Return the Disclosures of the claims named in ``disclose``, in the credential's order."""
    by_name = {decode_disclosure(d)[1]: d for d in combined.disclosures}
    unknown = sorted(set(disclose) - set(by_name))
    if unknown:
        raise InvalidInput("disclose: the credential has no claim %s; it has %s" % (
            ", ".join(unknown), ", ".join(by_name)))
    return [d for name, d in by_name.items() if name in set(disclose)]


def _sd_hash(sd_jwt_text: str) -> str:
    return b64url(hashlib.sha256(sd_jwt_text.encode("ascii")).digest())


def hub_digests(credential: str) -> tuple[str, ...]:
    """Return the digests the hub's attestation carries for this credential: its ``_sd`` array,
    sorted. Raises PresentationRejected."""
    payload = parse_jws(split_combined(credential).jwt, "issuer-signed JWT").payload("issuer-signed JWT")
    return tuple(sorted(_digests_of(payload)))


# --- verifying a presentation ------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedPresentation:
    """A presentation whose signature, disclosures and key binding checked out; only the gate makes one."""

    keyid: str
    issuer_id: str
    vct: str
    claims: Mapping[str, object]  # in clear: credential_id, credential_kind, profession_isco, ...
    disclosed: Mapping[str, object]  # the personal claims the holder chose to disclose
    digests: tuple[str, ...]  # the `_sd` array, sorted: what the hub's attestation must carry
    key_bound: bool
    issued_at: int = field(default=0)


def verify_presentation(text: str, *, keys_by_kid: Mapping[str, Ed25519PublicKey], audience: str,
                        nonce: str, now: dt.datetime, max_age: dt.timedelta,
                        expected_digests: Sequence[str] | None = None,
                        require_key_binding: bool = False) -> VerifiedPresentation:
    """Verify a holder's presentation (RFC 9901 section 7).

    ``keys_by_kid``: the keys the trust list holds for the issuer, by keyid (empty: nothing verifies).
    ``expected_digests``: the digests of the hub's current version of the credential, when known.
    ``audience``/``nonce``/``max_age``: what a KB-JWT must name and how old it may be; a KB-JWT is
    checked whenever the credential has ``cnf``, and required then or with ``require_key_binding``.

    Returns a VerifiedPresentation. Raises PresentationMalformed or PresentationUntrusted.
    """
    # (1) size and shape: parts of base64url, at most MAX_DISCLOSURES, each bounded
    combined = split_combined(text)
    jws = parse_jws(combined.jwt, "issuer-signed JWT")
    kb = parse_jws(combined.kb_jwt, "KB-JWT") if combined.kb_jwt else None

    # (2) header: our algorithm, our type, a kid
    keyid = _check_sd_jwt_header(jws.header)

    # (3) the signature, with the issuer's key named by kid; only then the payload is read
    _check_signature(jws, keys_by_kid.get(keyid), SD_JWT_SIGNATURE_INVALID,
                     "issuer-signed JWT: no trusted key %s verifies it" % keyid[:16], remember=True)

    # (4) the payload: registered claims of the profile, validity at ``now``
    payload = jws.payload("issuer-signed JWT")
    digests = _check_payload(payload, now)

    # (5) every disclosure is listed in `_sd`, once, for a name neither reserved nor in clear
    disclosed = open_disclosures(combined.disclosures, digests, payload)

    # (6) the digests are those of the hub's current version of the credential
    if expected_digests is not None and sorted(digests) != sorted(expected_digests):
        raise PresentationUntrusted(DIGESTS_NOT_CURRENT, "the credential's digests are not those of the "
                                    "current version on the hub (reissued or changed since)")

    # (7) key binding: the holder's key signed this presentation, for this audience and nonce, lately
    key_bound = _check_key_binding(combined, kb, payload, audience=audience, nonce=nonce, now=now,
                                   max_age=max_age, required=require_key_binding)

    return VerifiedPresentation(
        keyid=keyid, issuer_id=payload["iss"], vct=payload["vct"],
        claims={name: value for name, value in payload.items() if name not in _REGISTERED_CLAIMS},
        disclosed=disclosed, digests=tuple(sorted(digests)), key_bound=key_bound, issued_at=payload["iat"])


def _check_sd_jwt_header(header: Mapping[str, Any]) -> str:
    if header.get("alg") != JWS_ALG:
        raise PresentationUntrusted(SD_JWT_ALG_UNSUPPORTED, "issuer-signed JWT: expected alg %s, found %r" % (
            JWS_ALG, str(header.get("alg"))[:40]))
    if header.get("typ") != SD_JWT_TYP:
        raise PresentationMalformed("issuer-signed JWT: expected typ %s, found %r" % (
            SD_JWT_TYP, str(header.get("typ"))[:40]))
    if "crit" in header:  # RFC 7515 section 4.1.11: extensions we do not understand must fail
        raise PresentationMalformed("issuer-signed JWT: crit header parameters are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise PresentationMalformed("issuer-signed JWT: expected a kid (the issuer's keyid)")
    return kid


def _check_signature(jws: Jws, key: Ed25519PublicKey | None, reason: str, detail: str, *,
                     remember: bool = False) -> None:
    """Raise PresentationUntrusted unless ``key`` verifies ``jws``. With ``remember``, a verdict on the
    very same key, signature and signed bytes is taken from memory (the issuer-signed JWT of a
    credential presented again: the same bytes each time)."""
    if key is None:
        raise PresentationUntrusted(reason, detail)
    if remember:
        if not _verifies(raw_public_key(key), jws.signature, jws.signing_input):
            raise PresentationUntrusted(reason, detail)
        return
    try:
        key.verify(jws.signature, jws.signing_input)
    except InvalidSignature as exc:
        raise PresentationUntrusted(reason, detail) from exc


@functools.lru_cache(maxsize=SIGNATURES_REMEMBERED)
def _verifies(raw_key: bytes, signature: bytes, signing_input: bytes) -> bool:
    """Whether the Ed25519 ``signature`` over ``signing_input`` verifies with ``raw_key``: a fact about
    these bytes alone, so remembering it is sound; whether the key is trusted is decided per call."""
    try:
        Ed25519PublicKey.from_public_bytes(raw_key).verify(signature, signing_input)
    except InvalidSignature:
        return False
    return True


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_payload(payload: Mapping[str, Any], now: dt.datetime) -> list[str]:
    """Return the `_sd` digests after checking the profile's claims and the validity period."""
    for name in ("iss", "vct"):
        if not isinstance(payload.get(name), str) or not payload[name]:
            raise PresentationMalformed("issuer-signed JWT: expected %s as a string" % name)
    for name in ("iat", "nbf", "exp"):
        if (name == "iat" or name in payload) and not _is_int(payload.get(name)):
            raise PresentationMalformed("issuer-signed JWT: expected %s as whole seconds" % name)
    if payload.get("_sd_alg") != SD_ALG:
        raise PresentationMalformed("issuer-signed JWT: expected _sd_alg %s" % SD_ALG)
    _check_validity(payload, int(now.timestamp()))
    _cnf_key(payload)  # a cnf that is there must be usable
    return _digests_of(payload)


def _check_validity(payload: Mapping[str, Any], instant: int) -> None:
    if "nbf" in payload and instant + CLOCK_SKEW.total_seconds() < payload["nbf"]:
        raise PresentationUntrusted(SD_JWT_NOT_YET_VALID, "credential valid from %d, now %d" % (
            payload["nbf"], instant))
    if "exp" in payload and instant >= payload["exp"]:
        raise PresentationUntrusted(SD_JWT_EXPIRED, "credential valid until %d, now %d" % (
            payload["exp"], instant))


def _digests_of(payload: Mapping[str, Any]) -> list[str]:
    digests = payload.get("_sd")
    if not isinstance(digests, list) or not digests or len(digests) > MAX_DIGESTS:
        raise PresentationMalformed("issuer-signed JWT: expected _sd, a list of 1 to %d digests" % MAX_DIGESTS)
    if not all(isinstance(d, str) and len(d) == DIGEST_CHARS and _BASE64URL.fullmatch(d) for d in digests):
        raise PresentationMalformed("issuer-signed JWT: _sd holds something other than SHA-256 digests")
    if len(set(digests)) != len(digests):
        raise PresentationUntrusted(DIGEST_DUPLICATE, "issuer-signed JWT: a digest appears twice in _sd")
    return digests


def _cnf_key(payload: Mapping[str, Any]) -> Ed25519PublicKey | None:
    """Return the holder's key of ``cnf``, None without one. Raises PresentationMalformed."""
    if "cnf" not in payload:
        return None
    cnf = payload["cnf"]
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise PresentationMalformed("cnf: expected {\"jwk\": an OKP Ed25519 key}")
    x = jwk.get("x")
    raw = b64url_decode(x if isinstance(x, str) else "!", "cnf.jwk.x")
    if len(raw) != 32:
        raise PresentationMalformed("cnf.jwk.x: expected 32 bytes, found %d" % len(raw))
    return Ed25519PublicKey.from_public_bytes(raw)


def open_disclosures(disclosures: Sequence[str], digests: Collection[str],
                     payload: Mapping[str, Any] | None = None, *, where: str = "in _sd") -> dict[str, object]:
    """Return the claims ``disclosures`` disclose, by name, each checked against ``digests`` (an SD-JWT's
    ``_sd``, or a v2 hub attestation's digests) and against the claims in clear of ``payload``. Raises
    PresentationRejected (RFC 9901 section 7.1 step 3): DISCLOSURE_DUPLICATE, DISCLOSURE_UNKNOWN,
    DISCLOSURE_RESERVED_NAME, DISCLOSURE_CLAIM_CLASH; PresentationMalformed for one that does not decode."""
    listed = frozenset(digests)
    clear = payload or {}
    opened: dict[str, object] = {}
    seen: set[str] = set()
    for index, disclosure in enumerate(disclosures):
        if disclosure in seen:
            raise PresentationUntrusted(DISCLOSURE_DUPLICATE, "disclosure %d appears twice" % index)
        seen.add(disclosure)
        _, name, value = decode_disclosure(disclosure)
        if disclosure_digest(disclosure) not in listed:
            raise PresentationUntrusted(DISCLOSURE_UNKNOWN, "disclosure %d: its digest is not %s" % (index, where))
        if name in RESERVED_CLAIM_NAMES:
            raise PresentationUntrusted(DISCLOSURE_RESERVED_NAME, "disclosure %d: claim name %r is reserved" % (
                index, name))
        if name in clear or name in opened:
            raise PresentationUntrusted(DISCLOSURE_CLAIM_CLASH, "disclosure %d: claim %r is there already" % (
                index, name[:40]))
        opened[name] = value
    return opened


def _check_key_binding(combined: Combined, kb: Jws | None, payload: Mapping[str, Any], *, audience: str, nonce: str,
                       now: dt.datetime, max_age: dt.timedelta, required: bool) -> bool:
    """Return whether a KB-JWT bound the presentation. Raises PresentationRejected."""
    holder = _cnf_key(payload)
    if kb is None:
        if holder is not None or required:
            raise PresentationUntrusted(KEY_BINDING_MISSING, "the credential is bound to a holder key, "
                                        "and the presentation has no key-binding JWT")
        return False
    if holder is None:
        raise PresentationUntrusted(KEY_BINDING_INVALID, "a key-binding JWT, but the credential names no "
                                    "holder key (cnf) to check it with")
    if kb.header.get("alg") != JWS_ALG or kb.header.get("typ") != KB_JWT_TYP or "crit" in kb.header:
        raise PresentationUntrusted(KEY_BINDING_INVALID, "KB-JWT: expected alg %s and typ %s" % (
            JWS_ALG, KB_JWT_TYP))
    _check_signature(kb, holder, KEY_BINDING_INVALID, "KB-JWT: the holder's key does not verify it")
    _check_kb_payload(kb.payload("KB-JWT"), combined, audience=audience, nonce=nonce, now=now, max_age=max_age)
    return True


def _check_kb_payload(kb: Mapping[str, Any], combined: Combined, *, audience: str, nonce: str,
                      now: dt.datetime, max_age: dt.timedelta) -> None:
    if kb.get("aud") != audience:
        raise PresentationUntrusted(KEY_BINDING_AUDIENCE, "KB-JWT: made for another audience")
    if kb.get("nonce") != nonce:
        raise PresentationUntrusted(KEY_BINDING_NONCE, "KB-JWT: expected the nonce this verifier gave")
    iat = kb.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise PresentationUntrusted(KEY_BINDING_TIME, "KB-JWT: expected iat as whole seconds")
    instant = now.timestamp()
    if not instant - max_age.total_seconds() <= iat <= instant + CLOCK_SKEW.total_seconds():
        raise PresentationUntrusted(KEY_BINDING_TIME, "KB-JWT: iat %d is outside the last %d seconds" % (
            iat, max_age.total_seconds()))
    if kb.get("sd_hash") != _sd_hash(combined.sd_jwt_text):
        raise PresentationUntrusted(KEY_BINDING_HASH, "KB-JWT: sd_hash is not the hash of this presentation")
