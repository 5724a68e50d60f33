from bulwark.protos.bulwark.v1 import vault_pb2 as _vault_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FeedCursor(_message.Message):
    __slots__ = ("time_ns", "id")
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    time_ns: int
    id: str
    def __init__(self, time_ns: _Optional[int] = ..., id: _Optional[str] = ...) -> None: ...

class FeedRequest(_message.Message):
    __slots__ = ("after", "limit")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after: FeedCursor
    limit: int
    def __init__(self, after: _Optional[_Union[FeedCursor, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class FeedInfo(_message.Message):
    __slots__ = ("now_ns", "pending", "oldest_pending_ns")
    NOW_NS_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_NS_FIELD_NUMBER: _ClassVar[int]
    now_ns: int
    pending: int
    oldest_pending_ns: int
    def __init__(self, now_ns: _Optional[int] = ..., pending: _Optional[int] = ..., oldest_pending_ns: _Optional[int] = ...) -> None: ...

class FeedSnapshot(_message.Message):
    __slots__ = ("snapshot", "node_public_key")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NODE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    snapshot: _vault_pb2.Snapshot
    node_public_key: bytes
    def __init__(self, snapshot: _Optional[_Union[_vault_pb2.Snapshot, _Mapping]] = ..., node_public_key: _Optional[bytes] = ...) -> None: ...

class FeedMessage(_message.Message):
    __slots__ = ("info", "snapshot", "chunks")
    INFO_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    info: FeedInfo
    snapshot: FeedSnapshot
    chunks: _vault_pb2.ChunkIdBatch
    def __init__(self, info: _Optional[_Union[FeedInfo, _Mapping]] = ..., snapshot: _Optional[_Union[FeedSnapshot, _Mapping]] = ..., chunks: _Optional[_Union[_vault_pb2.ChunkIdBatch, _Mapping]] = ...) -> None: ...

class AirgapStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Refusal(_message.Message):
    __slots__ = ("snapshot_id", "node", "reason")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    node: str
    reason: str
    def __init__(self, snapshot_id: _Optional[str] = ..., node: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WindowResult(_message.Message):
    __slots__ = ("trigger", "opened_ns", "closed_ns", "outcome", "snapshots", "chunks", "bytes", "refused", "lag_ns", "error", "pending")
    TRIGGER_FIELD_NUMBER: _ClassVar[int]
    OPENED_NS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_NS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    LAG_NS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    trigger: str
    opened_ns: int
    closed_ns: int
    outcome: str
    snapshots: int
    chunks: int
    bytes: int
    refused: _containers.RepeatedCompositeFieldContainer[Refusal]
    lag_ns: int
    error: str
    pending: int
    def __init__(self, trigger: _Optional[str] = ..., opened_ns: _Optional[int] = ..., closed_ns: _Optional[int] = ..., outcome: _Optional[str] = ..., snapshots: _Optional[int] = ..., chunks: _Optional[int] = ..., bytes: _Optional[int] = ..., refused: _Optional[_Iterable[_Union[Refusal, _Mapping]]] = ..., lag_ns: _Optional[int] = ..., error: _Optional[str] = ..., pending: _Optional[int] = ...) -> None: ...

class AirgapStatus(_message.Message):
    __slots__ = ("primary", "next_window_ns", "cursor", "lag_ns", "lag_limit_ns", "last", "last_success_ns", "pinned_nodes", "window_open")
    PRIMARY_FIELD_NUMBER: _ClassVar[int]
    NEXT_WINDOW_NS_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    LAG_NS_FIELD_NUMBER: _ClassVar[int]
    LAG_LIMIT_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_NS_FIELD_NUMBER: _ClassVar[int]
    PINNED_NODES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_OPEN_FIELD_NUMBER: _ClassVar[int]
    primary: str
    next_window_ns: int
    cursor: FeedCursor
    lag_ns: int
    lag_limit_ns: int
    last: WindowResult
    last_success_ns: int
    pinned_nodes: int
    window_open: bool
    def __init__(self, primary: _Optional[str] = ..., next_window_ns: _Optional[int] = ..., cursor: _Optional[_Union[FeedCursor, _Mapping]] = ..., lag_ns: _Optional[int] = ..., lag_limit_ns: _Optional[int] = ..., last: _Optional[_Union[WindowResult, _Mapping]] = ..., last_success_ns: _Optional[int] = ..., pinned_nodes: _Optional[int] = ..., window_open: _Optional[bool] = ...) -> None: ...

class SyncNowRequest(_message.Message):
    __slots__ = ("seconds",)
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    seconds: int
    def __init__(self, seconds: _Optional[int] = ...) -> None: ...
