from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PublishRestoreKeyRequest(_message.Message):
    __slots__ = ("announcement", "signature")
    ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    announcement: bytes
    signature: bytes
    def __init__(self, announcement: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class RestoreKeyRecord(_message.Message):
    __slots__ = ("generation", "announcement", "signature", "published_ns", "published_by")
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ANNOUNCEMENT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_NS_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_BY_FIELD_NUMBER: _ClassVar[int]
    generation: int
    announcement: bytes
    signature: bytes
    published_ns: int
    published_by: str
    def __init__(self, generation: _Optional[int] = ..., announcement: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., published_ns: _Optional[int] = ..., published_by: _Optional[str] = ...) -> None: ...

class ListRestoreKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RestoreKeyList(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[RestoreKeyRecord]
    def __init__(self, keys: _Optional[_Iterable[_Union[RestoreKeyRecord, _Mapping]]] = ...) -> None: ...
