from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeKey(_message.Message):
    __slots__ = ("node", "signing_public_key", "enrolled_ns", "snapshots", "last_snapshot_ns", "retired_ns", "retired_by", "reason")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_NS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SNAPSHOT_NS_FIELD_NUMBER: _ClassVar[int]
    RETIRED_NS_FIELD_NUMBER: _ClassVar[int]
    RETIRED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node: str
    signing_public_key: bytes
    enrolled_ns: int
    snapshots: int
    last_snapshot_ns: int
    retired_ns: int
    retired_by: str
    reason: str
    def __init__(self, node: _Optional[str] = ..., signing_public_key: _Optional[bytes] = ..., enrolled_ns: _Optional[int] = ..., snapshots: _Optional[int] = ..., last_snapshot_ns: _Optional[int] = ..., retired_ns: _Optional[int] = ..., retired_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EscrowEntry(_message.Message):
    __slots__ = ("name", "stored_ns", "size", "last_read_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORED_NS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_READ_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    stored_ns: int
    size: int
    last_read_ns: int
    def __init__(self, name: _Optional[str] = ..., stored_ns: _Optional[int] = ..., size: _Optional[int] = ..., last_read_ns: _Optional[int] = ...) -> None: ...

class KeyList(_message.Message):
    __slots__ = ("nodes", "escrow")
    NODES_FIELD_NUMBER: _ClassVar[int]
    ESCROW_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeKey]
    escrow: _containers.RepeatedCompositeFieldContainer[EscrowEntry]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeKey, _Mapping]]] = ..., escrow: _Optional[_Iterable[_Union[EscrowEntry, _Mapping]]] = ...) -> None: ...

class RetireNodeRequest(_message.Message):
    __slots__ = ("node", "reason")
    NODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    node: str
    reason: str
    def __init__(self, node: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...
