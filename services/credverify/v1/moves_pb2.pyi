from credverify.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifiedMove(_message.Message):
    __slots__ = ("move_id", "origin_country", "destination_country", "profession_isco", "credential_kind", "registered_on", "return_migration", "subject_token", "country_of_training")
    MOVE_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_ISCO_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_KIND_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_ON_FIELD_NUMBER: _ClassVar[int]
    RETURN_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OF_TRAINING_FIELD_NUMBER: _ClassVar[int]
    move_id: str
    origin_country: str
    destination_country: str
    profession_isco: str
    credential_kind: _common_pb2.CredentialKind
    registered_on: _common_pb2.Date
    return_migration: bool
    subject_token: str
    country_of_training: str
    def __init__(self, move_id: _Optional[str] = ..., origin_country: _Optional[str] = ..., destination_country: _Optional[str] = ..., profession_isco: _Optional[str] = ..., credential_kind: _Optional[_Union[_common_pb2.CredentialKind, str]] = ..., registered_on: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., return_migration: _Optional[bool] = ..., subject_token: _Optional[str] = ..., country_of_training: _Optional[str] = ...) -> None: ...

class FlowStatistic(_message.Message):
    __slots__ = ("period", "origin_country", "destination_country", "profession_group", "value", "suppressed", "method", "parameters", "final")
    class ParametersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_GROUP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    period: str
    origin_country: str
    destination_country: str
    profession_group: str
    value: int
    suppressed: bool
    method: str
    parameters: _containers.ScalarMap[str, str]
    final: bool
    def __init__(self, period: _Optional[str] = ..., origin_country: _Optional[str] = ..., destination_country: _Optional[str] = ..., profession_group: _Optional[str] = ..., value: _Optional[int] = ..., suppressed: _Optional[bool] = ..., method: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., final: _Optional[bool] = ...) -> None: ...
