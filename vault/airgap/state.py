"""The air-gap vault's replication state: the cursor and the last window's result.

``airgap.state`` (JSON, next to the catalog) is rewritten atomically (temp file, fsync,
rename, directory fsync). Write order: a snapshot is committed to the catalog first and the
cursor moves past it only then; a crash in between leaves the cursor behind a committed
snapshot, which the next window finds already held and steps over (never a gap, never a
half-copied snapshot).
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bulwark.vault.durable import replace_json
from bulwark.vault.errors import StorageError

VERSION = 1


@dataclass(frozen=True)
class Cursor:
    """The last snapshot copied, in the primary's commit order (time_ns, id)."""

    time_ns: int = 0
    id: str = ""

    @property
    def empty(self) -> bool:
        return not self.id


@dataclass
class Refusal:
    snapshot_id: str
    node: str
    reason: str


@dataclass
class WindowResult:
    """What one window did; ``outcome`` is "complete", "cut" or "failed"."""

    trigger: str
    opened_ns: int
    closed_ns: int = 0
    outcome: str = "failed"
    snapshots: int = 0
    chunks: int = 0
    bytes: int = 0
    refused: list[Refusal] = field(default_factory=list)
    lag_ns: int = 0
    pending: int = 0
    error: str = ""

    @classmethod
    def from_dict(cls, doc: dict) -> WindowResult:
        refused = [Refusal(**r) for r in doc.get("refused", [])]
        return cls(**{**doc, "refused": refused})


class State:
    """Thread-safe view of ``path``; every setter persists before it returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.cursor = Cursor()
        self.last: WindowResult | None = None
        self.last_success_ns = 0
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise StorageError(f"{self.path}: cannot read the air-gap state: {exc}") from None
        try:
            self.cursor = Cursor(**doc["cursor"])
            self.last = WindowResult.from_dict(doc["last"]) if doc.get("last") else None
            self.last_success_ns = int(doc.get("last_success_ns", 0))
        except (KeyError, TypeError, ValueError) as exc:
            raise StorageError(f"{self.path}: malformed air-gap state: {exc!r}") from None

    def advance(self, cursor: Cursor) -> None:
        with self._lock:
            self.cursor = cursor
            self._save()

    def finish(self, result: WindowResult) -> None:
        with self._lock:
            self.last = result
            if result.outcome == "complete":
                self.last_success_ns = result.closed_ns
            self._save()

    def _save(self) -> None:
        doc = {"version": VERSION, "cursor": asdict(self.cursor),
               "last": asdict(self.last) if self.last else None,
               "last_success_ns": self.last_success_ns}
        try:
            replace_json(self.path, doc)
        except OSError as exc:
            raise StorageError.from_os(f"write {self.path}", exc) from exc
