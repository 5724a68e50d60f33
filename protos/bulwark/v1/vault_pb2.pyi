from bulwark.protos.bulwark.v1 import joined_pb2 as _joined_pb2
from bulwark.protos.bulwark.v1 import signals_pb2 as _signals_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FindMissingRequest(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chunk_ids: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FindMissingResponse(_message.Message):
    __slots__ = ("missing",)
    MISSING_FIELD_NUMBER: _ClassVar[int]
    missing: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, missing: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Blob(_message.Message):
    __slots__ = ("chunk_id", "data", "digest")
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    chunk_id: bytes
    data: bytes
    digest: bytes
    def __init__(self, chunk_id: _Optional[bytes] = ..., data: _Optional[bytes] = ..., digest: _Optional[bytes] = ...) -> None: ...

class PutChunksRequest(_message.Message):
    __slots__ = ("blobs",)
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    blobs: _containers.RepeatedCompositeFieldContainer[Blob]
    def __init__(self, blobs: _Optional[_Iterable[_Union[Blob, _Mapping]]] = ...) -> None: ...

class PutChunksResponse(_message.Message):
    __slots__ = ("stored", "already_present", "stored_bytes")
    STORED_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    stored: int
    already_present: int
    stored_bytes: int
    def __init__(self, stored: _Optional[int] = ..., already_present: _Optional[int] = ..., stored_bytes: _Optional[int] = ...) -> None: ...

class SnapshotHeader(_message.Message):
    __slots__ = ("format_version", "node", "hostname", "paths", "tags", "client_time_ns", "files", "bytes", "sealed_root", "chunk_count", "chunk_ids_digest", "node_public_key", "requested_retention_days", "signals", "joined")
    FORMAT_VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SEALED_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_IDS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    NODE_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    JOINED_FIELD_NUMBER: _ClassVar[int]
    format_version: int
    node: str
    hostname: str
    paths: _containers.RepeatedScalarFieldContainer[str]
    tags: _containers.RepeatedScalarFieldContainer[str]
    client_time_ns: int
    files: int
    bytes: int
    sealed_root: bytes
    chunk_count: int
    chunk_ids_digest: bytes
    node_public_key: bytes
    requested_retention_days: int
    signals: _signals_pb2.SignalSummary
    joined: _joined_pb2.JoinOrigin
    def __init__(self, format_version: _Optional[int] = ..., node: _Optional[str] = ..., hostname: _Optional[str] = ..., paths: _Optional[_Iterable[str]] = ..., tags: _Optional[_Iterable[str]] = ..., client_time_ns: _Optional[int] = ..., files: _Optional[int] = ..., bytes: _Optional[int] = ..., sealed_root: _Optional[bytes] = ..., chunk_count: _Optional[int] = ..., chunk_ids_digest: _Optional[bytes] = ..., node_public_key: _Optional[bytes] = ..., requested_retention_days: _Optional[int] = ..., signals: _Optional[_Union[_signals_pb2.SignalSummary, _Mapping]] = ..., joined: _Optional[_Union[_joined_pb2.JoinOrigin, _Mapping]] = ...) -> None: ...

class CommitSnapshotRequest(_message.Message):
    __slots__ = ("header", "chunks")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    header: SignedHeader
    chunks: ChunkIdBatch
    def __init__(self, header: _Optional[_Union[SignedHeader, _Mapping]] = ..., chunks: _Optional[_Union[ChunkIdBatch, _Mapping]] = ...) -> None: ...

class SignedHeader(_message.Message):
    __slots__ = ("header", "signature")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    signature: bytes
    def __init__(self, header: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ChunkIdBatch(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chunk_ids: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CommitSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("id", "time_ns", "signed", "node", "tags", "paths", "files", "bytes", "chunk_count", "retention", "mark", "added_tags")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    SIGNED_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_COUNT_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    MARK_FIELD_NUMBER: _ClassVar[int]
    ADDED_TAGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    time_ns: int
    signed: SignedHeader
    node: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    paths: _containers.RepeatedScalarFieldContainer[str]
    files: int
    bytes: int
    chunk_count: int
    retention: SnapshotRetention
    mark: _signals_pb2.SnapshotMark
    added_tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., time_ns: _Optional[int] = ..., signed: _Optional[_Union[SignedHeader, _Mapping]] = ..., node: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., paths: _Optional[_Iterable[str]] = ..., files: _Optional[int] = ..., bytes: _Optional[int] = ..., chunk_count: _Optional[int] = ..., retention: _Optional[_Union[SnapshotRetention, _Mapping]] = ..., mark: _Optional[_Union[_signals_pb2.SnapshotMark, _Mapping]] = ..., added_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class SnapshotRetention(_message.Message):
    __slots__ = ("mode", "retain_until_ns", "legal_hold")
    MODE_FIELD_NUMBER: _ClassVar[int]
    RETAIN_UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    LEGAL_HOLD_FIELD_NUMBER: _ClassVar[int]
    mode: int
    retain_until_ns: int
    legal_hold: bool
    def __init__(self, mode: _Optional[int] = ..., retain_until_ns: _Optional[int] = ..., legal_hold: _Optional[bool] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots",)
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[Snapshot]
    def __init__(self, snapshots: _Optional[_Iterable[_Union[Snapshot, _Mapping]]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("ref", "node")
    REF_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    ref: str
    node: str
    def __init__(self, ref: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class GetChunksRequest(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chunk_ids: _Optional[_Iterable[bytes]] = ...) -> None: ...
