import datetime

from credverify.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
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
    __slots__ = ("period", "origin_country", "destination_country", "profession_group", "value", "suppressed", "method", "parameters", "final", "measure", "noisy", "release", "released_at", "country_of_training", "safeguards_list")
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
    MEASURE_FIELD_NUMBER: _ClassVar[int]
    NOISY_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OF_TRAINING_FIELD_NUMBER: _ClassVar[int]
    SAFEGUARDS_LIST_FIELD_NUMBER: _ClassVar[int]
    period: str
    origin_country: str
    destination_country: str
    profession_group: str
    value: int
    suppressed: bool
    method: str
    parameters: _containers.ScalarMap[str, str]
    final: bool
    measure: str
    noisy: bool
    release: int
    released_at: _timestamp_pb2.Timestamp
    country_of_training: str
    safeguards_list: bool
    def __init__(self, period: _Optional[str] = ..., origin_country: _Optional[str] = ..., destination_country: _Optional[str] = ..., profession_group: _Optional[str] = ..., value: _Optional[int] = ..., suppressed: _Optional[bool] = ..., method: _Optional[str] = ..., parameters: _Optional[_Mapping[str, str]] = ..., final: _Optional[bool] = ..., measure: _Optional[str] = ..., noisy: _Optional[bool] = ..., release: _Optional[int] = ..., released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., country_of_training: _Optional[str] = ..., safeguards_list: _Optional[bool] = ...) -> None: ...

class CountedMove(_message.Message):
    __slots__ = ("move_id", "period", "origin_country", "destination_country", "profession_group", "returning", "offset", "late", "country_of_training", "subject", "capped")
    MOVE_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_GROUP_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OF_TRAINING_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CAPPED_FIELD_NUMBER: _ClassVar[int]
    move_id: str
    period: str
    origin_country: str
    destination_country: str
    profession_group: str
    returning: bool
    offset: int
    late: bool
    country_of_training: str
    subject: bytes
    capped: bool
    def __init__(self, move_id: _Optional[str] = ..., period: _Optional[str] = ..., origin_country: _Optional[str] = ..., destination_country: _Optional[str] = ..., profession_group: _Optional[str] = ..., returning: _Optional[bool] = ..., offset: _Optional[int] = ..., late: _Optional[bool] = ..., country_of_training: _Optional[str] = ..., subject: _Optional[bytes] = ..., capped: _Optional[bool] = ...) -> None: ...

class CountedBatch(_message.Message):
    __slots__ = ("partition", "moves")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    partition: int
    moves: _containers.RepeatedCompositeFieldContainer[CountedMove]
    def __init__(self, partition: _Optional[int] = ..., moves: _Optional[_Iterable[_Union[CountedMove, _Mapping]]] = ...) -> None: ...

class WindowClock(_message.Message):
    __slots__ = ("partition", "tick_time", "end_offset")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    TICK_TIME_FIELD_NUMBER: _ClassVar[int]
    END_OFFSET_FIELD_NUMBER: _ClassVar[int]
    partition: int
    tick_time: _timestamp_pb2.Timestamp
    end_offset: int
    def __init__(self, partition: _Optional[int] = ..., tick_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_offset: _Optional[int] = ...) -> None: ...

class FlowCellCount(_message.Message):
    __slots__ = ("origin_country", "destination_country", "profession_group", "returning", "count", "country_of_training")
    ORIGIN_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_COUNTRY_FIELD_NUMBER: _ClassVar[int]
    PROFESSION_GROUP_FIELD_NUMBER: _ClassVar[int]
    RETURNING_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_OF_TRAINING_FIELD_NUMBER: _ClassVar[int]
    origin_country: str
    destination_country: str
    profession_group: str
    returning: bool
    count: int
    country_of_training: str
    def __init__(self, origin_country: _Optional[str] = ..., destination_country: _Optional[str] = ..., profession_group: _Optional[str] = ..., returning: _Optional[bool] = ..., count: _Optional[int] = ..., country_of_training: _Optional[str] = ...) -> None: ...

class WindowPart(_message.Message):
    __slots__ = ("period", "partition", "final", "counted", "late", "cells")
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    CELLS_FIELD_NUMBER: _ClassVar[int]
    period: str
    partition: int
    final: bool
    counted: int
    late: int
    cells: _containers.RepeatedCompositeFieldContainer[FlowCellCount]
    def __init__(self, period: _Optional[str] = ..., partition: _Optional[int] = ..., final: _Optional[bool] = ..., counted: _Optional[int] = ..., late: _Optional[int] = ..., cells: _Optional[_Iterable[_Union[FlowCellCount, _Mapping]]] = ...) -> None: ...

class PartitionClock(_message.Message):
    __slots__ = ("partition", "closed_through", "periods")
    PARTITION_FIELD_NUMBER: _ClassVar[int]
    CLOSED_THROUGH_FIELD_NUMBER: _ClassVar[int]
    PERIODS_FIELD_NUMBER: _ClassVar[int]
    partition: int
    closed_through: _timestamp_pb2.Timestamp
    periods: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, partition: _Optional[int] = ..., closed_through: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., periods: _Optional[_Iterable[str]] = ...) -> None: ...

class FlowstatsControl(_message.Message):
    __slots__ = ("part", "clock")
    PART_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    part: WindowPart
    clock: PartitionClock
    def __init__(self, part: _Optional[_Union[WindowPart, _Mapping]] = ..., clock: _Optional[_Union[PartitionClock, _Mapping]] = ...) -> None: ...

class PrivacyLedgerEntry(_message.Message):
    __slots__ = ("release", "epsilon", "delta", "final", "released_at")
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    EPSILON_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    release: int
    epsilon: float
    delta: float
    final: bool
    released_at: _timestamp_pb2.Timestamp
    def __init__(self, release: _Optional[int] = ..., epsilon: _Optional[float] = ..., delta: _Optional[float] = ..., final: _Optional[bool] = ..., released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WindowReleases(_message.Message):
    __slots__ = ("period", "releases", "final", "last_release_at", "latest", "published_floor", "ledger", "counted", "published")
    class PublishedFloorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PERIOD_FIELD_NUMBER: _ClassVar[int]
    RELEASES_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    LAST_RELEASE_AT_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FLOOR_FIELD_NUMBER: _ClassVar[int]
    LEDGER_FIELD_NUMBER: _ClassVar[int]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    period: str
    releases: int
    final: bool
    last_release_at: _timestamp_pb2.Timestamp
    latest: _containers.RepeatedCompositeFieldContainer[FlowStatistic]
    published_floor: _containers.ScalarMap[str, int]
    ledger: _containers.RepeatedCompositeFieldContainer[PrivacyLedgerEntry]
    counted: int
    published: int
    def __init__(self, period: _Optional[str] = ..., releases: _Optional[int] = ..., final: _Optional[bool] = ..., last_release_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest: _Optional[_Iterable[_Union[FlowStatistic, _Mapping]]] = ..., published_floor: _Optional[_Mapping[str, int]] = ..., ledger: _Optional[_Iterable[_Union[PrivacyLedgerEntry, _Mapping]]] = ..., counted: _Optional[int] = ..., published: _Optional[int] = ...) -> None: ...
