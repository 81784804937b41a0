from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_LICENCE: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_DIPLOMA: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_GOOD_STANDING: _ClassVar[CredentialKind]

class CredentialStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_STATUS_UNSPECIFIED: _ClassVar[CredentialStatus]
    CREDENTIAL_STATUS_ACTIVE: _ClassVar[CredentialStatus]
    CREDENTIAL_STATUS_SUSPENDED: _ClassVar[CredentialStatus]
    CREDENTIAL_STATUS_REVOKED: _ClassVar[CredentialStatus]
    CREDENTIAL_STATUS_LAPSED: _ClassVar[CredentialStatus]
    CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS: _ClassVar[CredentialStatus]

class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REASON_UNSPECIFIED: _ClassVar[Reason]
    REASON_VERIFIED: _ClassVar[Reason]
    REASON_NOT_FOUND: _ClassVar[Reason]
    REASON_SIGNATURE_INVALID: _ClassVar[Reason]
    REASON_ISSUER_UNKNOWN: _ClassVar[Reason]
    REASON_ISSUER_NOT_AUTHORISED: _ClassVar[Reason]
    REASON_KEY_REVOKED: _ClassVar[Reason]
    REASON_KEY_NOT_VALID: _ClassVar[Reason]
    REASON_EXPIRED: _ClassVar[Reason]
    REASON_SUSPENDED: _ClassVar[Reason]
    REASON_REVOKED: _ClassVar[Reason]
    REASON_LAPSED: _ClassVar[Reason]
    REASON_SUBJECT_MISMATCH: _ClassVar[Reason]
    REASON_MALFORMED: _ClassVar[Reason]
    REASON_PAYLOAD_TYPE_UNSUPPORTED: _ClassVar[Reason]
    REASON_REPLAYED: _ClassVar[Reason]
    REASON_RECORD_KEY_MISMATCH: _ClassVar[Reason]
    REASON_NOT_YET_VALID: _ClassVar[Reason]
    REASON_CONDITIONS_APPLY: _ClassVar[Reason]
    REASON_OVERSIZED: _ClassVar[Reason]
    REASON_TRUST_LIST_INVALID: _ClassVar[Reason]
    REASON_STALE: _ClassVar[Reason]
    REASON_ISSUED_AFTER_WITNESSED: _ClassVar[Reason]
    REASON_PRESENTATION_MALFORMED: _ClassVar[Reason]
    REASON_PRESENTATION_OVERSIZED: _ClassVar[Reason]
    REASON_SD_JWT_ALG_UNSUPPORTED: _ClassVar[Reason]
    REASON_SD_JWT_SIGNATURE_INVALID: _ClassVar[Reason]
    REASON_SD_JWT_NOT_YET_VALID: _ClassVar[Reason]
    REASON_SD_JWT_EXPIRED: _ClassVar[Reason]
    REASON_DISCLOSURE_UNKNOWN: _ClassVar[Reason]
    REASON_DISCLOSURE_DUPLICATE: _ClassVar[Reason]
    REASON_DIGEST_DUPLICATE: _ClassVar[Reason]
    REASON_DISCLOSURE_RESERVED_NAME: _ClassVar[Reason]
    REASON_DISCLOSURE_CLAIM_CLASH: _ClassVar[Reason]
    REASON_DIGESTS_NOT_CURRENT: _ClassVar[Reason]
    REASON_KEY_BINDING_MISSING: _ClassVar[Reason]
    REASON_KEY_BINDING_INVALID: _ClassVar[Reason]
    REASON_KEY_BINDING_AUDIENCE: _ClassVar[Reason]
    REASON_KEY_BINDING_NONCE: _ClassVar[Reason]
    REASON_KEY_BINDING_HASH: _ClassVar[Reason]
    REASON_KEY_BINDING_TIME: _ClassVar[Reason]
    REASON_SUBJECT_NOT_CHECKED: _ClassVar[Reason]
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_LICENCE: CredentialKind
CREDENTIAL_KIND_DIPLOMA: CredentialKind
CREDENTIAL_KIND_GOOD_STANDING: CredentialKind
CREDENTIAL_STATUS_UNSPECIFIED: CredentialStatus
CREDENTIAL_STATUS_ACTIVE: CredentialStatus
CREDENTIAL_STATUS_SUSPENDED: CredentialStatus
CREDENTIAL_STATUS_REVOKED: CredentialStatus
CREDENTIAL_STATUS_LAPSED: CredentialStatus
CREDENTIAL_STATUS_ACTIVE_WITH_CONDITIONS: CredentialStatus
REASON_UNSPECIFIED: Reason
REASON_VERIFIED: Reason
REASON_NOT_FOUND: Reason
REASON_SIGNATURE_INVALID: Reason
REASON_ISSUER_UNKNOWN: Reason
REASON_ISSUER_NOT_AUTHORISED: Reason
REASON_KEY_REVOKED: Reason
REASON_KEY_NOT_VALID: Reason
REASON_EXPIRED: Reason
REASON_SUSPENDED: Reason
REASON_REVOKED: Reason
REASON_LAPSED: Reason
REASON_SUBJECT_MISMATCH: Reason
REASON_MALFORMED: Reason
REASON_PAYLOAD_TYPE_UNSUPPORTED: Reason
REASON_REPLAYED: Reason
REASON_RECORD_KEY_MISMATCH: Reason
REASON_NOT_YET_VALID: Reason
REASON_CONDITIONS_APPLY: Reason
REASON_OVERSIZED: Reason
REASON_TRUST_LIST_INVALID: Reason
REASON_STALE: Reason
REASON_ISSUED_AFTER_WITNESSED: Reason
REASON_PRESENTATION_MALFORMED: Reason
REASON_PRESENTATION_OVERSIZED: Reason
REASON_SD_JWT_ALG_UNSUPPORTED: Reason
REASON_SD_JWT_SIGNATURE_INVALID: Reason
REASON_SD_JWT_NOT_YET_VALID: Reason
REASON_SD_JWT_EXPIRED: Reason
REASON_DISCLOSURE_UNKNOWN: Reason
REASON_DISCLOSURE_DUPLICATE: Reason
REASON_DIGEST_DUPLICATE: Reason
REASON_DISCLOSURE_RESERVED_NAME: Reason
REASON_DISCLOSURE_CLAIM_CLASH: Reason
REASON_DIGESTS_NOT_CURRENT: Reason
REASON_KEY_BINDING_MISSING: Reason
REASON_KEY_BINDING_INVALID: Reason
REASON_KEY_BINDING_AUDIENCE: Reason
REASON_KEY_BINDING_NONCE: Reason
REASON_KEY_BINDING_HASH: Reason
REASON_KEY_BINDING_TIME: Reason
REASON_SUBJECT_NOT_CHECKED: Reason

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...
