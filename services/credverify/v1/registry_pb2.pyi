import datetime

from credverify.v1 import attestation_pb2 as _attestation_pb2
from credverify.v1 import common_pb2 as _common_pb2
from credverify.v1 import envelope_pb2 as _envelope_pb2
from credverify.v1 import moves_pb2 as _moves_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClaimedSubject(_message.Message):
    __slots__ = ("family_name", "given_names", "date_of_birth")
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    DATE_OF_BIRTH_FIELD_NUMBER: _ClassVar[int]
    family_name: str
    given_names: str
    date_of_birth: _common_pb2.Date
    def __init__(self, family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., date_of_birth: _Optional[_Union[_common_pb2.Date, _Mapping]] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("credential_id", "claimed", "presentation", "audience", "nonce")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    PRESENTATION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    claimed: ClaimedSubject
    presentation: str
    audience: str
    nonce: str
    def __init__(self, credential_id: _Optional[str] = ..., claimed: _Optional[_Union[ClaimedSubject, _Mapping]] = ..., presentation: _Optional[str] = ..., audience: _Optional[str] = ..., nonce: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("verified", "reasons", "attestation", "evidence", "checked_at", "detail", "current_version", "disclosed")
    class DisclosedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    CHECKED_AT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    DISCLOSED_FIELD_NUMBER: _ClassVar[int]
    verified: bool
    reasons: _containers.RepeatedScalarFieldContainer[_common_pb2.Reason]
    attestation: _attestation_pb2.Attestation
    evidence: _envelope_pb2.Envelope
    checked_at: _timestamp_pb2.Timestamp
    detail: str
    current_version: int
    disclosed: _containers.ScalarMap[str, str]
    def __init__(self, verified: _Optional[bool] = ..., reasons: _Optional[_Iterable[_Union[_common_pb2.Reason, str]]] = ..., attestation: _Optional[_Union[_attestation_pb2.Attestation, _Mapping]] = ..., evidence: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., checked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., detail: _Optional[str] = ..., current_version: _Optional[int] = ..., disclosed: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VerifyPresentedRequest(_message.Message):
    __slots__ = ("envelope", "claimed", "presentation", "audience", "nonce")
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    PRESENTATION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    envelope: _envelope_pb2.Envelope
    claimed: ClaimedSubject
    presentation: str
    audience: str
    nonce: str
    def __init__(self, envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., claimed: _Optional[_Union[ClaimedSubject, _Mapping]] = ..., presentation: _Optional[str] = ..., audience: _Optional[str] = ..., nonce: _Optional[str] = ...) -> None: ...

class GetAttestationRequest(_message.Message):
    __slots__ = ("credential_id",)
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    def __init__(self, credential_id: _Optional[str] = ...) -> None: ...

class GetAttestationResponse(_message.Message):
    __slots__ = ("attestation", "evidence")
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    attestation: _attestation_pb2.Attestation
    evidence: _envelope_pb2.Envelope
    def __init__(self, attestation: _Optional[_Union[_attestation_pb2.Attestation, _Mapping]] = ..., evidence: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ...) -> None: ...

class WatchStatusRequest(_message.Message):
    __slots__ = ("credential_ids",)
    CREDENTIAL_IDS_FIELD_NUMBER: _ClassVar[int]
    credential_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, credential_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class StatusUpdate(_message.Message):
    __slots__ = ("credential_id", "version", "status", "verified", "reasons", "detail", "observed_at", "evidence", "initial")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    version: int
    status: _common_pb2.CredentialStatus
    verified: bool
    reasons: _containers.RepeatedScalarFieldContainer[_common_pb2.Reason]
    detail: str
    observed_at: _timestamp_pb2.Timestamp
    evidence: _envelope_pb2.Envelope
    initial: bool
    def __init__(self, credential_id: _Optional[str] = ..., version: _Optional[int] = ..., status: _Optional[_Union[_common_pb2.CredentialStatus, str]] = ..., verified: _Optional[bool] = ..., reasons: _Optional[_Iterable[_Union[_common_pb2.Reason, str]]] = ..., detail: _Optional[str] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., initial: _Optional[bool] = ...) -> None: ...

class RecordRegistrationRequest(_message.Message):
    __slots__ = ("credential_id", "claimed", "registered_on", "presentation", "audience", "nonce")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_ON_FIELD_NUMBER: _ClassVar[int]
    PRESENTATION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    claimed: ClaimedSubject
    registered_on: _common_pb2.Date
    presentation: str
    audience: str
    nonce: str
    def __init__(self, credential_id: _Optional[str] = ..., claimed: _Optional[_Union[ClaimedSubject, _Mapping]] = ..., registered_on: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., presentation: _Optional[str] = ..., audience: _Optional[str] = ..., nonce: _Optional[str] = ...) -> None: ...

class RecordRegistrationResponse(_message.Message):
    __slots__ = ("move", "already_recorded")
    MOVE_FIELD_NUMBER: _ClassVar[int]
    ALREADY_RECORDED_FIELD_NUMBER: _ClassVar[int]
    move: _moves_pb2.VerifiedMove
    already_recorded: bool
    def __init__(self, move: _Optional[_Union[_moves_pb2.VerifiedMove, _Mapping]] = ..., already_recorded: _Optional[bool] = ...) -> None: ...

class RejectedRecord(_message.Message):
    __slots__ = ("source_topic", "partition", "offset", "key", "value", "reason", "detail", "rejected_at", "truncated", "value_size", "value_sha256", "key_size", "key_sha256")
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REJECTED_AT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    VALUE_SIZE_FIELD_NUMBER: _ClassVar[int]
    VALUE_SHA256_FIELD_NUMBER: _ClassVar[int]
    KEY_SIZE_FIELD_NUMBER: _ClassVar[int]
    KEY_SHA256_FIELD_NUMBER: _ClassVar[int]
    source_topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    reason: _common_pb2.Reason
    detail: str
    rejected_at: _timestamp_pb2.Timestamp
    truncated: bool
    value_size: int
    value_sha256: bytes
    key_size: int
    key_sha256: bytes
    def __init__(self, source_topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., reason: _Optional[_Union[_common_pb2.Reason, str]] = ..., detail: _Optional[str] = ..., rejected_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., truncated: _Optional[bool] = ..., value_size: _Optional[int] = ..., value_sha256: _Optional[bytes] = ..., key_size: _Optional[int] = ..., key_sha256: _Optional[bytes] = ...) -> None: ...
