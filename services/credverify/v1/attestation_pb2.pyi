import datetime

from credverify.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Attestation(_message.Message):
    __slots__ = ("credential_id", "issuer_id", "version", "issued_at", "kind", "subject", "profession_isco", "status", "valid_from", "valid_until", "jurisdiction", "conditions", "status_reason", "diploma")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_ISCO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    DIPLOMA_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    issuer_id: str
    version: int
    issued_at: _timestamp_pb2.Timestamp
    kind: _common_pb2.CredentialKind
    subject: Subject
    profession_isco: str
    status: _common_pb2.CredentialStatus
    valid_from: _common_pb2.Date
    valid_until: _common_pb2.Date
    jurisdiction: str
    conditions: _containers.RepeatedScalarFieldContainer[str]
    status_reason: str
    diploma: Diploma
    def __init__(self, credential_id: _Optional[str] = ..., issuer_id: _Optional[str] = ..., version: _Optional[int] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[_common_pb2.CredentialKind, str]] = ..., subject: _Optional[_Union[Subject, _Mapping]] = ..., profession_isco: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.CredentialStatus, str]] = ..., valid_from: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., valid_until: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., jurisdiction: _Optional[str] = ..., conditions: _Optional[_Iterable[str]] = ..., status_reason: _Optional[str] = ..., diploma: _Optional[_Union[Diploma, _Mapping]] = ...) -> None: ...

class Subject(_message.Message):
    __slots__ = ("practitioner_number", "family_name", "given_names", "date_of_birth", "country_of_training")
    PRACTITIONER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    GIVEN_NAMES_FIELD_NUMBER: _ClassVar[int]
    DATE_OF_BIRTH_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OF_TRAINING_FIELD_NUMBER: _ClassVar[int]
    practitioner_number: str
    family_name: str
    given_names: str
    date_of_birth: _common_pb2.Date
    country_of_training: str
    def __init__(self, practitioner_number: _Optional[str] = ..., family_name: _Optional[str] = ..., given_names: _Optional[str] = ..., date_of_birth: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., country_of_training: _Optional[str] = ...) -> None: ...

class Diploma(_message.Message):
    __slots__ = ("institution", "programme", "award_date")
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    PROGRAMME_FIELD_NUMBER: _ClassVar[int]
    AWARD_DATE_FIELD_NUMBER: _ClassVar[int]
    institution: str
    programme: str
    award_date: _common_pb2.Date
    def __init__(self, institution: _Optional[str] = ..., programme: _Optional[str] = ..., award_date: _Optional[_Union[_common_pb2.Date, _Mapping]] = ...) -> None: ...

class AttestationV2(_message.Message):
    __slots__ = ("credential_id", "issuer_id", "version", "issued_at", "kind", "profession_isco", "status", "valid_from", "valid_until", "jurisdiction", "status_reason", "has_conditions", "subject_digests", "sd_alg")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_ISCO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALID_FROM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    HAS_CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    SD_ALG_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    issuer_id: str
    version: int
    issued_at: _timestamp_pb2.Timestamp
    kind: _common_pb2.CredentialKind
    profession_isco: str
    status: _common_pb2.CredentialStatus
    valid_from: _common_pb2.Date
    valid_until: _common_pb2.Date
    jurisdiction: str
    status_reason: str
    has_conditions: bool
    subject_digests: _containers.RepeatedScalarFieldContainer[str]
    sd_alg: str
    def __init__(self, credential_id: _Optional[str] = ..., issuer_id: _Optional[str] = ..., version: _Optional[int] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[_common_pb2.CredentialKind, str]] = ..., profession_isco: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.CredentialStatus, str]] = ..., valid_from: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., valid_until: _Optional[_Union[_common_pb2.Date, _Mapping]] = ..., jurisdiction: _Optional[str] = ..., status_reason: _Optional[str] = ..., has_conditions: _Optional[bool] = ..., subject_digests: _Optional[_Iterable[str]] = ..., sd_alg: _Optional[str] = ...) -> None: ...
