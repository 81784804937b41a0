import datetime

from credverify.v1 import attestation_pb2 as _attestation_pb2
from credverify.v1 import envelope_pb2 as _envelope_pb2
from credverify.v1 import trust_pb2 as _trust_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_ACTION_UNSPECIFIED: _ClassVar[StatusAction]
    STATUS_ACTION_SUSPEND: _ClassVar[StatusAction]
    STATUS_ACTION_REINSTATE: _ClassVar[StatusAction]
    STATUS_ACTION_REVOKE: _ClassVar[StatusAction]
    STATUS_ACTION_LAPSE: _ClassVar[StatusAction]
    STATUS_ACTION_ADD_CONDITION: _ClassVar[StatusAction]
    STATUS_ACTION_LIFT_CONDITION: _ClassVar[StatusAction]

class KeyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEY_STATE_UNSPECIFIED: _ClassVar[KeyState]
    KEY_STATE_SIGNING: _ClassVar[KeyState]
    KEY_STATE_PENDING: _ClassVar[KeyState]
    KEY_STATE_VALID: _ClassVar[KeyState]
    KEY_STATE_RETIRED: _ClassVar[KeyState]
    KEY_STATE_COMPROMISED: _ClassVar[KeyState]
STATUS_ACTION_UNSPECIFIED: StatusAction
STATUS_ACTION_SUSPEND: StatusAction
STATUS_ACTION_REINSTATE: StatusAction
STATUS_ACTION_REVOKE: StatusAction
STATUS_ACTION_LAPSE: StatusAction
STATUS_ACTION_ADD_CONDITION: StatusAction
STATUS_ACTION_LIFT_CONDITION: StatusAction
KEY_STATE_UNSPECIFIED: KeyState
KEY_STATE_SIGNING: KeyState
KEY_STATE_PENDING: KeyState
KEY_STATE_VALID: KeyState
KEY_STATE_RETIRED: KeyState
KEY_STATE_COMPROMISED: KeyState

class IssueRequest(_message.Message):
    __slots__ = ("attestation",)
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    attestation: _attestation_pb2.Attestation
    def __init__(self, attestation: _Optional[_Union[_attestation_pb2.Attestation, _Mapping]] = ...) -> None: ...

class IssueResponse(_message.Message):
    __slots__ = ("credential_id", "version", "envelope", "delivery", "unchanged", "attestation", "credential")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    ATTESTATION_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    version: int
    envelope: _envelope_pb2.Envelope
    delivery: Delivery
    unchanged: bool
    attestation: _attestation_pb2.Attestation
    credential: str
    def __init__(self, credential_id: _Optional[str] = ..., version: _Optional[int] = ..., envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., delivery: _Optional[_Union[Delivery, _Mapping]] = ..., unchanged: _Optional[bool] = ..., attestation: _Optional[_Union[_attestation_pb2.Attestation, _Mapping]] = ..., credential: _Optional[str] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("topic", "partition", "offset", "confirmed")
    TOPIC_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    topic: str
    partition: int
    offset: int
    confirmed: bool
    def __init__(self, topic: _Optional[str] = ..., partition: _Optional[int] = ..., offset: _Optional[int] = ..., confirmed: _Optional[bool] = ...) -> None: ...

class ChangeStatusRequest(_message.Message):
    __slots__ = ("credential_id", "action", "reason", "condition")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    action: StatusAction
    reason: str
    condition: str
    def __init__(self, credential_id: _Optional[str] = ..., action: _Optional[_Union[StatusAction, str]] = ..., reason: _Optional[str] = ..., condition: _Optional[str] = ...) -> None: ...

class GetCredentialRequest(_message.Message):
    __slots__ = ("credential_id",)
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    def __init__(self, credential_id: _Optional[str] = ...) -> None: ...

class GetIssuerRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetIssuerResponse(_message.Message):
    __slots__ = ("issuer_id", "jurisdiction", "record", "record_envelope", "signing_keyid", "keys")
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    RECORD_ENVELOPE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEYID_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    issuer_id: str
    jurisdiction: str
    record: _trust_pb2.IssuerRecord
    record_envelope: _envelope_pb2.Envelope
    signing_keyid: str
    keys: _containers.RepeatedCompositeFieldContainer[KeyInfo]
    def __init__(self, issuer_id: _Optional[str] = ..., jurisdiction: _Optional[str] = ..., record: _Optional[_Union[_trust_pb2.IssuerRecord, _Mapping]] = ..., record_envelope: _Optional[_Union[_envelope_pb2.Envelope, _Mapping]] = ..., signing_keyid: _Optional[str] = ..., keys: _Optional[_Iterable[_Union[KeyInfo, _Mapping]]] = ...) -> None: ...

class KeyInfo(_message.Message):
    __slots__ = ("keyid", "public_key_pem", "public_key_jwk", "state", "compromised_at", "next_step")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_JWK_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMPROMISED_AT_FIELD_NUMBER: _ClassVar[int]
    NEXT_STEP_FIELD_NUMBER: _ClassVar[int]
    keyid: str
    public_key_pem: str
    public_key_jwk: str
    state: KeyState
    compromised_at: _timestamp_pb2.Timestamp
    next_step: str
    def __init__(self, keyid: _Optional[str] = ..., public_key_pem: _Optional[str] = ..., public_key_jwk: _Optional[str] = ..., state: _Optional[_Union[KeyState, str]] = ..., compromised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_step: _Optional[str] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReportCompromiseRequest(_message.Message):
    __slots__ = ("keyid", "compromised_at")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    COMPROMISED_AT_FIELD_NUMBER: _ClassVar[int]
    keyid: str
    compromised_at: _timestamp_pb2.Timestamp
    def __init__(self, keyid: _Optional[str] = ..., compromised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
