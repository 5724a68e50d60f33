from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EnrollNodeRequest(_message.Message):
    __slots__ = ("node", "signing_public_key")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    node: str
    signing_public_key: bytes
    def __init__(self, node: _Optional[str] = ..., signing_public_key: _Optional[bytes] = ...) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("node", "signing_public_key", "enrolled_ns")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SIGNING_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ENROLLED_NS_FIELD_NUMBER: _ClassVar[int]
    node: str
    signing_public_key: bytes
    enrolled_ns: int
    def __init__(self, node: _Optional[str] = ..., signing_public_key: _Optional[bytes] = ..., enrolled_ns: _Optional[int] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class PutEscrowRequest(_message.Message):
    __slots__ = ("name", "blob")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    name: str
    blob: bytes
    def __init__(self, name: _Optional[str] = ..., blob: _Optional[bytes] = ...) -> None: ...

class EscrowInfo(_message.Message):
    __slots__ = ("name", "stored_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STORED_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    stored_ns: int
    def __init__(self, name: _Optional[str] = ..., stored_ns: _Optional[int] = ...) -> None: ...

class GetEscrowRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EscrowBlob(_message.Message):
    __slots__ = ("name", "blob", "stored_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BLOB_FIELD_NUMBER: _ClassVar[int]
    STORED_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    blob: bytes
    stored_ns: int
    def __init__(self, name: _Optional[str] = ..., blob: _Optional[bytes] = ..., stored_ns: _Optional[int] = ...) -> None: ...
