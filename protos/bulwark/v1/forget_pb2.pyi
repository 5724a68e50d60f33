from bulwark.protos.bulwark.v1 import snapshots_pb2 as _snapshots_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ForgetRequest(_message.Message):
    __slots__ = ("query", "policy", "group_by", "dry_run")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    query: _snapshots_pb2.SnapshotQuery
    policy: KeepPolicy
    group_by: _containers.RepeatedScalarFieldContainer[str]
    dry_run: bool
    def __init__(self, query: _Optional[_Union[_snapshots_pb2.SnapshotQuery, _Mapping]] = ..., policy: _Optional[_Union[KeepPolicy, _Mapping]] = ..., group_by: _Optional[_Iterable[str]] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class KeepPolicy(_message.Message):
    __slots__ = ("last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "tag_sets")
    LAST_FIELD_NUMBER: _ClassVar[int]
    HOURLY_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_FIELD_NUMBER: _ClassVar[int]
    YEARLY_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    TAG_SETS_FIELD_NUMBER: _ClassVar[int]
    last: int
    hourly: int
    daily: int
    weekly: int
    monthly: int
    yearly: int
    within: KeepWithin
    tag_sets: _containers.RepeatedCompositeFieldContainer[_snapshots_pb2.TagSet]
    def __init__(self, last: _Optional[int] = ..., hourly: _Optional[int] = ..., daily: _Optional[int] = ..., weekly: _Optional[int] = ..., monthly: _Optional[int] = ..., yearly: _Optional[int] = ..., within: _Optional[_Union[KeepWithin, _Mapping]] = ..., tag_sets: _Optional[_Iterable[_Union[_snapshots_pb2.TagSet, _Mapping]]] = ...) -> None: ...

class KeepWithin(_message.Message):
    __slots__ = ("years", "months", "days", "hours")
    YEARS_FIELD_NUMBER: _ClassVar[int]
    MONTHS_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    HOURS_FIELD_NUMBER: _ClassVar[int]
    years: int
    months: int
    days: int
    hours: int
    def __init__(self, years: _Optional[int] = ..., months: _Optional[int] = ..., days: _Optional[int] = ..., hours: _Optional[int] = ...) -> None: ...

class ForgetDecision(_message.Message):
    __slots__ = ("snapshot_id", "node", "time_ns", "group", "reasons", "outcome", "retain_until_ns")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    node: str
    time_ns: int
    group: str
    reasons: _containers.RepeatedScalarFieldContainer[str]
    outcome: str
    retain_until_ns: int
    def __init__(self, snapshot_id: _Optional[str] = ..., node: _Optional[str] = ..., time_ns: _Optional[int] = ..., group: _Optional[str] = ..., reasons: _Optional[_Iterable[str]] = ..., outcome: _Optional[str] = ..., retain_until_ns: _Optional[int] = ...) -> None: ...
