from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class QuotasRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class NodeQuotaUsage(_message.Message):
    __slots__ = ("node", "stored_bytes", "uncommitted_bytes")
    NODE_FIELD_NUMBER: _ClassVar[int]
    STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    UNCOMMITTED_BYTES_FIELD_NUMBER: _ClassVar[int]
    node: str
    stored_bytes: int
    uncommitted_bytes: int
    def __init__(self, node: _Optional[str] = ..., stored_bytes: _Optional[int] = ..., uncommitted_bytes: _Optional[int] = ...) -> None: ...

class QuotasReply(_message.Message):
    __slots__ = ("node_stored_bytes", "node_uncommitted_bytes", "usage")
    NODE_STORED_BYTES_FIELD_NUMBER: _ClassVar[int]
    NODE_UNCOMMITTED_BYTES_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    node_stored_bytes: int
    node_uncommitted_bytes: int
    usage: _containers.RepeatedCompositeFieldContainer[NodeQuotaUsage]
    def __init__(self, node_stored_bytes: _Optional[int] = ..., node_uncommitted_bytes: _Optional[int] = ..., usage: _Optional[_Iterable[_Union[NodeQuotaUsage, _Mapping]]] = ...) -> None: ...
