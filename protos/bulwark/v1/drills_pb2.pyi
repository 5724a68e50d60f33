from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RecordDrillRequest(_message.Message):
    __slots__ = ("report", "signature", "public_key")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    report: bytes
    signature: bytes
    public_key: bytes
    def __init__(self, report: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class DrillRecord(_message.Message):
    __slots__ = ("id", "recorded_ns", "snapshot_id", "node", "passed", "report", "signature", "public_key", "recorded_by", "recorded_role")
    ID_FIELD_NUMBER: _ClassVar[int]
    RECORDED_NS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RECORDED_BY_FIELD_NUMBER: _ClassVar[int]
    RECORDED_ROLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    recorded_ns: int
    snapshot_id: str
    node: str
    passed: bool
    report: bytes
    signature: bytes
    public_key: bytes
    recorded_by: str
    recorded_role: str
    def __init__(self, id: _Optional[str] = ..., recorded_ns: _Optional[int] = ..., snapshot_id: _Optional[str] = ..., node: _Optional[str] = ..., passed: _Optional[bool] = ..., report: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., public_key: _Optional[bytes] = ..., recorded_by: _Optional[str] = ..., recorded_role: _Optional[str] = ...) -> None: ...

class ListDrillsRequest(_message.Message):
    __slots__ = ("snapshot_id", "node")
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    node: str
    def __init__(self, snapshot_id: _Optional[str] = ..., node: _Optional[str] = ...) -> None: ...

class ListDrillsResponse(_message.Message):
    __slots__ = ("drills",)
    DRILLS_FIELD_NUMBER: _ClassVar[int]
    drills: _containers.RepeatedCompositeFieldContainer[DrillRecord]
    def __init__(self, drills: _Optional[_Iterable[_Union[DrillRecord, _Mapping]]] = ...) -> None: ...
