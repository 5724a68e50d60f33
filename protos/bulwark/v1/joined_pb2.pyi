from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class JoinOrigin(_message.Message):
    __slots__ = ("token_id", "name", "prefix")
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    token_id: str
    name: str
    prefix: str
    def __init__(self, token_id: _Optional[str] = ..., name: _Optional[str] = ..., prefix: _Optional[str] = ...) -> None: ...
