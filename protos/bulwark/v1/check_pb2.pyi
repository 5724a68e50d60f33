from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CheckRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckProblem(_message.Message):
    __slots__ = ("kind", "detail", "chunk_id", "snapshot")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    chunk_id: bytes
    snapshot: str
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ..., chunk_id: _Optional[bytes] = ..., snapshot: _Optional[str] = ...) -> None: ...

class CheckReply(_message.Message):
    __slots__ = ("chunks", "blobs", "snapshots", "problem_count", "problems", "reclaimable_count", "reclaimable_bytes", "reclaimable")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    RECLAIMABLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    RECLAIMABLE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECLAIMABLE_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    blobs: int
    snapshots: int
    problem_count: int
    problems: _containers.RepeatedCompositeFieldContainer[CheckProblem]
    reclaimable_count: int
    reclaimable_bytes: int
    reclaimable: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chunks: _Optional[int] = ..., blobs: _Optional[int] = ..., snapshots: _Optional[int] = ..., problem_count: _Optional[int] = ..., problems: _Optional[_Iterable[_Union[CheckProblem, _Mapping]]] = ..., reclaimable_count: _Optional[int] = ..., reclaimable_bytes: _Optional[int] = ..., reclaimable: _Optional[_Iterable[bytes]] = ...) -> None: ...
