from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RetentionMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RETENTION_MODE_UNSPECIFIED: _ClassVar[RetentionMode]
    RETENTION_MODE_GOVERNANCE: _ClassVar[RetentionMode]
    RETENTION_MODE_COMPLIANCE: _ClassVar[RetentionMode]
RETENTION_MODE_UNSPECIFIED: RetentionMode
RETENTION_MODE_GOVERNANCE: RetentionMode
RETENTION_MODE_COMPLIANCE: RetentionMode

class SnapshotRef(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class RetentionInfo(_message.Message):
    __slots__ = ("snapshot_id", "mode", "retain_until_ns", "legal_hold", "hold_reason", "now_ns")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    HOLD_REASON_FIELD_NUMBER: _ClassVar[int]
    NOW_NS_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    mode: RetentionMode
    retain_until_ns: int
    legal_hold: bool
    hold_reason: str
    now_ns: int
    def __init__(self, snapshot_id: _Optional[str] = ..., mode: _Optional[_Union[RetentionMode, str]] = ..., retain_until_ns: _Optional[int] = ..., legal_hold: _Optional[bool] = ..., hold_reason: _Optional[str] = ..., now_ns: _Optional[int] = ...) -> None: ...

class SetRetentionRequest(_message.Message):
    __slots__ = ("ref", "retain_until_ns", "bypass_governance")
    REF_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    BYPASS_GOVERNANCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    retain_until_ns: int
    bypass_governance: bool
    def __init__(self, ref: _Optional[str] = ..., retain_until_ns: _Optional[int] = ..., bypass_governance: _Optional[bool] = ...) -> None: ...

class SetLegalHoldRequest(_message.Message):
    __slots__ = ("ref", "hold", "reason")
    REF_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    hold: bool
    reason: str
    def __init__(self, ref: _Optional[str] = ..., hold: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteSnapshotRequest(_message.Message):
    __slots__ = ("ref", "bypass_governance")
    REF_FIELD_NUMBER: _ClassVar[int]
    BYPASS_GOVERNANCE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    bypass_governance: bool
    def __init__(self, ref: _Optional[str] = ..., bypass_governance: _Optional[bool] = ...) -> None: ...

class DeleteSnapshotResponse(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class PruneRequest(_message.Message):
    __slots__ = ("dry_run",)
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    def __init__(self, dry_run: _Optional[bool] = ...) -> None: ...

class PruneReport(_message.Message):
    __slots__ = ("dry_run", "snapshots", "chunks", "bytes", "kept_locked", "orphans")
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    KEPT_LOCKED_FIELD_NUMBER: _ClassVar[int]
    ORPHANS_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    snapshots: _containers.RepeatedScalarFieldContainer[str]
    chunks: int
    bytes: int
    kept_locked: _containers.RepeatedScalarFieldContainer[str]
    orphans: int
    def __init__(self, dry_run: _Optional[bool] = ..., snapshots: _Optional[_Iterable[str]] = ..., chunks: _Optional[int] = ..., bytes: _Optional[int] = ..., kept_locked: _Optional[_Iterable[str]] = ..., orphans: _Optional[int] = ...) -> None: ...

class ScrubRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DamagedChunk(_message.Message):
    __slots__ = ("chunk_id", "problem", "snapshots")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    chunk_id: bytes
    problem: str
    snapshots: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, chunk_id: _Optional[bytes] = ..., problem: _Optional[str] = ..., snapshots: _Optional[_Iterable[str]] = ...) -> None: ...

class ScrubReport(_message.Message):
    __slots__ = ("blobs", "bytes", "damaged")
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    DAMAGED_FIELD_NUMBER: _ClassVar[int]
    blobs: int
    bytes: int
    damaged: _containers.RepeatedCompositeFieldContainer[DamagedChunk]
    def __init__(self, blobs: _Optional[int] = ..., bytes: _Optional[int] = ..., damaged: _Optional[_Iterable[_Union[DamagedChunk, _Mapping]]] = ...) -> None: ...

class GetClockRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClockInfo(_message.Message):
    __slots__ = ("now_ns", "wall_ns", "skew_ns")
    NOW_NS_FIELD_NUMBER: _ClassVar[int]
    WALL_NS_FIELD_NUMBER: _ClassVar[int]
    SKEW_NS_FIELD_NUMBER: _ClassVar[int]
    now_ns: int
    wall_ns: int
    skew_ns: int
    def __init__(self, now_ns: _Optional[int] = ..., wall_ns: _Optional[int] = ..., skew_ns: _Optional[int] = ...) -> None: ...
