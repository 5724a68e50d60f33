from bulwark.protos.bulwark.v1 import vault_pb2 as _vault_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SnapshotQuery(_message.Message):
    __slots__ = ("node", "hosts", "tag_sets", "paths", "newest_first", "limit")
    NODE_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    TAG_SETS_FIELD_NUMBER: _ClassVar[int]
    PATHS_FIELD_NUMBER: _ClassVar[int]
    NEWEST_FIRST_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    node: str
    hosts: _containers.RepeatedScalarFieldContainer[str]
    tag_sets: _containers.RepeatedCompositeFieldContainer[TagSet]
    paths: _containers.RepeatedScalarFieldContainer[str]
    newest_first: bool
    limit: int
    def __init__(self, node: _Optional[str] = ..., hosts: _Optional[_Iterable[str]] = ..., tag_sets: _Optional[_Iterable[_Union[TagSet, _Mapping]]] = ..., paths: _Optional[_Iterable[str]] = ..., newest_first: _Optional[bool] = ..., limit: _Optional[int] = ...) -> None: ...

class TagSet(_message.Message):
    __slots__ = ("tags",)
    TAGS_FIELD_NUMBER: _ClassVar[int]
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, tags: _Optional[_Iterable[str]] = ...) -> None: ...
