from bulwark.protos.bulwark.v1 import entry_meta_pb2 as _entry_meta_pb2
from bulwark.protos.bulwark.v1 import signals_pb2 as _signals_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EntryType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ENTRY_TYPE_UNSPECIFIED: _ClassVar[EntryType]
    ENTRY_TYPE_DIR: _ClassVar[EntryType]
    ENTRY_TYPE_FILE: _ClassVar[EntryType]
    ENTRY_TYPE_SYMLINK: _ClassVar[EntryType]
    ENTRY_TYPE_FIFO: _ClassVar[EntryType]
    ENTRY_TYPE_SOCKET: _ClassVar[EntryType]
    ENTRY_TYPE_CHAR_DEVICE: _ClassVar[EntryType]
    ENTRY_TYPE_BLOCK_DEVICE: _ClassVar[EntryType]
ENTRY_TYPE_UNSPECIFIED: EntryType
ENTRY_TYPE_DIR: EntryType
ENTRY_TYPE_FILE: EntryType
ENTRY_TYPE_SYMLINK: EntryType
ENTRY_TYPE_FIFO: EntryType
ENTRY_TYPE_SOCKET: EntryType
ENTRY_TYPE_CHAR_DEVICE: EntryType
ENTRY_TYPE_BLOCK_DEVICE: EntryType

class ChunkRef(_message.Message):
    __slots__ = ("id", "key", "size")
    ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    id: bytes
    key: bytes
    size: int
    def __init__(self, id: _Optional[bytes] = ..., key: _Optional[bytes] = ..., size: _Optional[int] = ...) -> None: ...

class Entry(_message.Message):
    __slots__ = ("path", "type", "mode", "mtime_ns", "size", "content_hash", "chunks", "link_target", "offset", "device_major", "device_minor", "uid", "gid", "xattrs", "link_group", "changed_while_read", "signals")
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    MTIME_NS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    LINK_TARGET_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MAJOR_FIELD_NUMBER: _ClassVar[int]
    DEVICE_MINOR_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    GID_FIELD_NUMBER: _ClassVar[int]
    XATTRS_FIELD_NUMBER: _ClassVar[int]
    LINK_GROUP_FIELD_NUMBER: _ClassVar[int]
    CHANGED_WHILE_READ_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    path: bytes
    type: EntryType
    mode: int
    mtime_ns: int
    size: int
    content_hash: bytes
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkRef]
    link_target: bytes
    offset: int
    device_major: int
    device_minor: int
    uid: int
    gid: int
    xattrs: _containers.RepeatedCompositeFieldContainer[_entry_meta_pb2.Xattr]
    link_group: int
    changed_while_read: bool
    signals: _signals_pb2.FileSignals
    def __init__(self, path: _Optional[bytes] = ..., type: _Optional[_Union[EntryType, str]] = ..., mode: _Optional[int] = ..., mtime_ns: _Optional[int] = ..., size: _Optional[int] = ..., content_hash: _Optional[bytes] = ..., chunks: _Optional[_Iterable[_Union[ChunkRef, _Mapping]]] = ..., link_target: _Optional[bytes] = ..., offset: _Optional[int] = ..., device_major: _Optional[int] = ..., device_minor: _Optional[int] = ..., uid: _Optional[int] = ..., gid: _Optional[int] = ..., xattrs: _Optional[_Iterable[_Union[_entry_meta_pb2.Xattr, _Mapping]]] = ..., link_group: _Optional[int] = ..., changed_while_read: _Optional[bool] = ..., signals: _Optional[_Union[_signals_pb2.FileSignals, _Mapping]] = ...) -> None: ...

class ManifestRoot(_message.Message):
    __slots__ = ("chunks", "manifest_hash", "manifest_size")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_HASH_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_SIZE_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[ChunkRef]
    manifest_hash: bytes
    manifest_size: int
    def __init__(self, chunks: _Optional[_Iterable[_Union[ChunkRef, _Mapping]]] = ..., manifest_hash: _Optional[bytes] = ..., manifest_size: _Optional[int] = ...) -> None: ...
