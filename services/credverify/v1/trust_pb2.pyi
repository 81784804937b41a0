import datetime

from credverify.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IssuerRecord(_message.Message):
    __slots__ = ("issuer_id", "version", "country", "display_name", "credential_kinds", "professions_isco", "keys", "issued_at")
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_KINDS_FIELD_NUMBER: _ClassVar[int]
    PROFESSIONS_ISCO_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    issuer_id: str
    version: int
    country: str
    display_name: str
    credential_kinds: _containers.RepeatedScalarFieldContainer[_common_pb2.CredentialKind]
    professions_isco: _containers.RepeatedScalarFieldContainer[str]
    keys: _containers.RepeatedCompositeFieldContainer[IssuerKey]
    issued_at: _timestamp_pb2.Timestamp
    def __init__(self, issuer_id: _Optional[str] = ..., version: _Optional[int] = ..., country: _Optional[str] = ..., display_name: _Optional[str] = ..., credential_kinds: _Optional[_Iterable[_Union[_common_pb2.CredentialKind, str]]] = ..., professions_isco: _Optional[_Iterable[str]] = ..., keys: _Optional[_Iterable[_Union[IssuerKey, _Mapping]]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IssuerKey(_message.Message):
    __slots__ = ("keyid", "public_key", "not_before", "not_after", "compromised_at")
    KEYID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NOT_BEFORE_FIELD_NUMBER: _ClassVar[int]
    NOT_AFTER_FIELD_NUMBER: _ClassVar[int]
    COMPROMISED_AT_FIELD_NUMBER: _ClassVar[int]
    keyid: str
    public_key: bytes
    not_before: _timestamp_pb2.Timestamp
    not_after: _timestamp_pb2.Timestamp
    compromised_at: _timestamp_pb2.Timestamp
    def __init__(self, keyid: _Optional[str] = ..., public_key: _Optional[bytes] = ..., not_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., not_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., compromised_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
