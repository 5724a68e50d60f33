from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SignalSummary(_message.Message):
    __slots__ = ("version", "score_ppm", "has_baseline", "changed_ppm", "deleted_ppm", "renamed_ppm", "new_ppm", "new_bytes_ppm", "high_entropy_ppm", "format_lost_ppm", "exponents_moved_ppm", "wiped_ppm", "renamed_ext_ppm", "ransom_note_dirs")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORE_PPM_FIELD_NUMBER: _ClassVar[int]
    HAS_BASELINE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_PPM_FIELD_NUMBER: _ClassVar[int]
    DELETED_PPM_FIELD_NUMBER: _ClassVar[int]
    RENAMED_PPM_FIELD_NUMBER: _ClassVar[int]
    NEW_PPM_FIELD_NUMBER: _ClassVar[int]
    NEW_BYTES_PPM_FIELD_NUMBER: _ClassVar[int]
    HIGH_ENTROPY_PPM_FIELD_NUMBER: _ClassVar[int]
    FORMAT_LOST_PPM_FIELD_NUMBER: _ClassVar[int]
    EXPONENTS_MOVED_PPM_FIELD_NUMBER: _ClassVar[int]
    WIPED_PPM_FIELD_NUMBER: _ClassVar[int]
    RENAMED_EXT_PPM_FIELD_NUMBER: _ClassVar[int]
    RANSOM_NOTE_DIRS_FIELD_NUMBER: _ClassVar[int]
    version: int
    score_ppm: int
    has_baseline: bool
    changed_ppm: int
    deleted_ppm: int
    renamed_ppm: int
    new_ppm: int
    new_bytes_ppm: int
    high_entropy_ppm: int
    format_lost_ppm: int
    exponents_moved_ppm: int
    wiped_ppm: int
    renamed_ext_ppm: int
    ransom_note_dirs: int
    def __init__(self, version: _Optional[int] = ..., score_ppm: _Optional[int] = ..., has_baseline: _Optional[bool] = ..., changed_ppm: _Optional[int] = ..., deleted_ppm: _Optional[int] = ..., renamed_ppm: _Optional[int] = ..., new_ppm: _Optional[int] = ..., new_bytes_ppm: _Optional[int] = ..., high_entropy_ppm: _Optional[int] = ..., format_lost_ppm: _Optional[int] = ..., exponents_moved_ppm: _Optional[int] = ..., wiped_ppm: _Optional[int] = ..., renamed_ext_ppm: _Optional[int] = ..., ransom_note_dirs: _Optional[int] = ...) -> None: ...

class FileSignals(_message.Message):
    __slots__ = ("format", "format_ok", "stored_ppm", "high_entropy_ppm", "zero_ppm", "exponent_entropy_mbit", "exponent_mean_milli", "flags")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_OK_FIELD_NUMBER: _ClassVar[int]
    STORED_PPM_FIELD_NUMBER: _ClassVar[int]
    HIGH_ENTROPY_PPM_FIELD_NUMBER: _ClassVar[int]
    ZERO_PPM_FIELD_NUMBER: _ClassVar[int]
    EXPONENT_ENTROPY_MBIT_FIELD_NUMBER: _ClassVar[int]
    EXPONENT_MEAN_MILLI_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    format: str
    format_ok: bool
    stored_ppm: int
    high_entropy_ppm: int
    zero_ppm: int
    exponent_entropy_mbit: int
    exponent_mean_milli: int
    flags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, format: _Optional[str] = ..., format_ok: _Optional[bool] = ..., stored_ppm: _Optional[int] = ..., high_entropy_ppm: _Optional[int] = ..., zero_ppm: _Optional[int] = ..., exponent_entropy_mbit: _Optional[int] = ..., exponent_mean_milli: _Optional[int] = ..., flags: _Optional[_Iterable[str]] = ...) -> None: ...

class SnapshotMark(_message.Message):
    __slots__ = ("suspicious", "score_ppm", "reasons", "set_by", "note", "set_ns", "new_chunks_ppm")
    SUSPICIOUS_FIELD_NUMBER: _ClassVar[int]
    SCORE_PPM_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    SET_NS_FIELD_NUMBER: _ClassVar[int]
    NEW_CHUNKS_PPM_FIELD_NUMBER: _ClassVar[int]
    suspicious: bool
    score_ppm: int
    reasons: _containers.RepeatedScalarFieldContainer[str]
    set_by: str
    note: str
    set_ns: int
    new_chunks_ppm: int
    def __init__(self, suspicious: _Optional[bool] = ..., score_ppm: _Optional[int] = ..., reasons: _Optional[_Iterable[str]] = ..., set_by: _Optional[str] = ..., note: _Optional[str] = ..., set_ns: _Optional[int] = ..., new_chunks_ppm: _Optional[int] = ...) -> None: ...

class SetMarkRequest(_message.Message):
    __slots__ = ("ref", "suspicious", "reason")
    REF_FIELD_NUMBER: _ClassVar[int]
    SUSPICIOUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ref: str
    suspicious: bool
    reason: str
    def __init__(self, ref: _Optional[str] = ..., suspicious: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...
