"""What a backup leaves out: restic's exclude patterns, ``--one-file-system``,
``--exclude-caches``, and the pattern and path files that feed them.

Patterns follow restic's documented rules ("Excluding files"):

- a pattern is split at ``/`` into parts, each matched against one path component with
  shell globbing (``*``, ``?``, ``[...]``; ``*`` never crosses ``/``); ``**`` stands for any
  number of components, none included;
- a pattern starting with ``/`` is anchored at the root; any other matches at any depth
  (``foo`` matches ``/a/foo`` and ``/a/foo/b``: a match of a directory covers what it holds);
- ``!pattern`` re-includes what an earlier pattern excluded; the last matching pattern
  decides. As in restic, an excluded directory is not descended into, so re-include below it
  with ``/dir/*`` then ``!/dir/keep``, not ``/dir`` then ``!/dir/keep``;
- ``--iexclude`` patterns match case-insensitively;
- pattern files (``--exclude-file``, ``--iexclude-file``) and ``--files-from`` hold one entry
  a line; blank lines and lines starting with ``#`` are skipped; ``$VAR`` and ``${VAR}`` are
  expanded from the environment (an unset variable is an error). ``--files-from`` lines are
  paths or globs (expanded; a glob matching nothing is an error, naming file and line).

``--exclude-caches`` keeps a directory holding a valid ``CACHEDIR.TAG`` (the Cache Directory
Tagging Specification's signature at its start) and that tag file, and leaves out the rest of
its contents. ``--one-file-system`` stores a directory on another file system than the backup
path it was found under (a mount point) as an empty directory, and does not descend into it.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bulwark.agent.errors import ConfigError

CACHEDIR_TAG = "CACHEDIR.TAG"
CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"
_VAR = re.compile(r"\$(\w+)|\$\{(\w+)\}")


@dataclass(frozen=True)
class Pattern:
    """One compiled pattern: its parts, anchored or not, negated or not."""

    text: str
    parts: tuple[str, ...]
    anchored: bool
    negated: bool
    fold: bool

    @classmethod
    def compile(cls, text: str, fold: bool = False) -> Pattern:
        """``ConfigError`` for an empty pattern or a bad ``[...]`` class."""
        negated = text.startswith("!")
        body = text[1:] if negated else text
        if not body.strip("/"):
            raise ConfigError(f"exclude pattern {text!r} is empty")
        if body.count("[") != body.count("]"):
            raise ConfigError(f"exclude pattern {text!r}: unbalanced [ ]")
        if fold:
            body = body.lower()
        parts = tuple(p for p in body.split("/") if p)
        return cls(text, parts, body.startswith("/"), negated, fold)

    def matches(self, components: Sequence[str]) -> bool:
        """True if the pattern matches ``components`` (an absolute path split at ``/``)
        or a run of them (a prefix, if anchored)."""
        if self.fold:
            components = [c.lower() for c in components]
        return _match(self.parts, tuple(components), self.anchored)


def _match(parts: tuple[str, ...], comps: tuple[str, ...], anchored: bool) -> bool:
    if "**" in parts:
        i = parts.index("**")
        head, tail = parts[:i], parts[i + 1:]
        # restic expands '**' into 0..n single-component wildcards
        return any(_match(head + ("*",) * n + tail, comps, anchored)
                   for n in range(len(comps) - len(head) - len(tail) + 1))
    if not parts or len(parts) > len(comps):
        return False
    last = 0 if anchored else len(comps) - len(parts)
    return any(all(fnmatch.fnmatchcase(comps[off + i], p) for i, p in enumerate(parts))
               for off in range(last + 1))


@dataclass
class PathFilter:
    """Everything a backup leaves out: ``excludes(path)`` for each object found,
    ``descend(device, top_device)`` before entering a directory, ``keep_children`` on its
    listing."""

    patterns: tuple[Pattern, ...] = ()
    one_file_system: bool = False
    exclude_caches: bool = False

    @classmethod
    def build(cls, exclude: Iterable[str] = (), iexclude: Iterable[str] = (),
              one_file_system: bool = False, exclude_caches: bool = False) -> PathFilter:
        pats = [Pattern.compile(p) for p in exclude] + [Pattern.compile(p, fold=True)
                                                         for p in iexclude]
        return cls(tuple(pats), one_file_system, exclude_caches)

    @property
    def active(self) -> bool:
        return bool(self.patterns or self.one_file_system or self.exclude_caches)

    def excludes(self, abs_path: str) -> bool:
        """True if the patterns leave ``abs_path`` out (the last match decides)."""
        if not self.patterns:
            return False
        comps = [c for c in abs_path.split("/") if c]
        verdict = False
        for p in self.patterns:
            if p.matches(comps):
                verdict = not p.negated
        return verdict

    def descend(self, device: int, top_device: int) -> bool:
        """False for a directory on another file system (with ``one_file_system``)."""
        return not (self.one_file_system and device != top_device)

    def keep_children(self, directory: str, names: list[str]) -> list[str]:
        """``names`` of ``directory``, minus a tagged cache's contents (``exclude_caches``)."""
        if not self.exclude_caches or CACHEDIR_TAG not in names:
            return names
        try:
            with open(os.path.join(directory, CACHEDIR_TAG), "rb") as f:
                tagged = f.read(len(CACHEDIR_SIGNATURE)) == CACHEDIR_SIGNATURE
        except OSError:
            return names
        return [CACHEDIR_TAG] if tagged else names


def _lines(path: Path, what: str) -> Iterable[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror or exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue

        def var(m: re.Match, number: int = number) -> str:
            name = m.group(1) or m.group(2)
            if name not in os.environ:
                raise ConfigError(f"{what} {path}:{number}: ${name} is not set")
            return os.environ[name]

        yield number, _VAR.sub(var, line)


def read_patterns(path: Path) -> list[str]:
    """The patterns of an ``--exclude-file``/``--iexclude-file``."""
    return [line for _, line in _lines(path, "exclude file")]


def read_files_from(path: Path) -> list[str]:
    """The paths an ``--files-from`` file names, globs expanded, in file order."""
    out: list[str] = []
    for number, line in _lines(path, "--files-from"):
        if glob.has_magic(line):
            found = sorted(glob.glob(line))
            if not found:
                raise ConfigError(f"--files-from {path}:{number}: {line!r} matches nothing")
            out.extend(found)
        else:
            out.append(line)
    return out
