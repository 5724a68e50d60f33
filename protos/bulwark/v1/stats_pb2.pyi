from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatsRequest(_message.Message):
    __slots__ = ("snapshot", "node")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    node: str
    def __init__(self, snapshot: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("scope", "snapshots", "logical_bytes", "chunks", "stored_bytes", "unique_bytes", "unique_chunks")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_BYTES_FIELD_NUMBER: _ClassVar[int]
    UNIQUE_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    scope: str
    snapshots: int
    logical_bytes: int
    chunks: int
    stored_bytes: int
    unique_bytes: int
    unique_chunks: int
    def __init__(self, scope: _Optional[str] = ..., snapshots: _Optional[int] = ..., logical_bytes: _Optional[int] = ..., chunks: _Optional[int] = ..., stored_bytes: _Optional[int] = ..., unique_bytes: _Optional[int] = ..., unique_chunks: _Optional[int] = ...) -> None: ...

class StatsReply(_message.Message):
    __slots__ = ("vault", "nodes", "snapshot")
    VAULT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    vault: Usage
    nodes: _containers.RepeatedCompositeFieldContainer[Usage]
    snapshot: Usage
    def __init__(self, vault: _Optional[_Union[Usage, _Mapping]] = ..., nodes: _Optional[_Iterable[_Union[Usage, _Mapping]]] = ..., snapshot: _Optional[_Union[Usage, _Mapping]] = ...) -> None: ...

class ChunkSizesRequest(_message.Message):
    __slots__ = ("chunk_ids",)
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    chunk_ids: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, chunk_ids: _Optional[_Iterable[bytes]] = ...) -> None: ...

class ChunkSizesReply(_message.Message):
    __slots__ = ("sizes",)
    SIZES_FIELD_NUMBER: _ClassVar[int]
    sizes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, sizes: _Optional[_Iterable[int]] = ...) -> None: ...
