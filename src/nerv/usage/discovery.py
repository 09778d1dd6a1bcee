"""Where Claude Code usage data lives, and what kind of file each one is.

Kinds are sniffed from content, not names: copied or renamed files (test
fixtures, ``tee``'d ``claude -p`` output) keep their meaning, and JSON files
that are not usage at all (hook payload logs) are recognised and skipped.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path

from nerv.env import CLAUDE_CONFIG_DIR
from nerv.errors import MissingFileError
from nerv.usage.jsonstream import Malformed, iter_values

SUFFIXES = frozenset({".jsonl", ".json", ".ndjson"})
_SNIFF_VALUES = 8  # enough to get past a truncated first line or a snapshot line
_SPLIT = re.compile("[," + re.escape(os.pathsep) + "]")
# Line types Claude Code writes into session transcripts (the JSON has camelCase
# "sessionId"); stream-json events use snake_case "session_id" instead.
_TRANSCRIPT_TYPES = frozenset(
    {"user", "assistant", "system", "progress", "summary", "file-history-snapshot", "queue-operation"}
)
_STREAM_TYPES = frozenset({"system", "assistant", "user", "result", "stream_event"})


class FileKind(StrEnum):
    TRANSCRIPT = "transcript"  # <project>/<session>.jsonl, incl. inline sidechains
    SUBAGENT = "subagent"  # <project>/<session>/subagents/agent-<id>.jsonl
    STREAM_JSON = "stream-json"  # claude -p --output-format stream-json (or json)
    HOOK_INPUT = "hook-input"  # logged hook stdin payloads: not usage
    UNKNOWN = "unknown"

    @property
    def has_usage(self) -> bool:
        return self in (FileKind.TRANSCRIPT, FileKind.SUBAGENT, FileKind.STREAM_JSON)


def default_roots(env: Mapping[str, str] = os.environ, *, existing_only: bool = True) -> list[Path]:
    """Candidate ``projects`` folders: ~/.claude, ~/.config/claude, every CLAUDE_CONFIG_DIR.

    All are scanned (not just the active one) because a machine keeps old
    sessions under a previous config dir; overlap is harmless since records
    are deduplicated by response id. CLAUDE_CONFIG_DIR holds one folder for
    Claude Code itself; usage tools accept a list, so ',' and os.pathsep split.
    """
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    bases = [home / ".claude", config_home / "claude"]
    bases += [Path(part.strip()).expanduser() for part in _SPLIT.split(env.get(CLAUDE_CONFIG_DIR, ""))]
    roots: list[Path] = []
    seen: set[Path] = set()
    for base in bases:
        if str(base) in ("", "."):
            continue  # an empty CLAUDE_CONFIG_DIR entry must not mean the current folder
        root = base / "projects"
        key = root.resolve()
        if key in seen or (existing_only and not root.is_dir()):
            continue
        seen.add(key)
        roots.append(root)
    return roots


def iter_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    """Files named directly (any name), and *.jsonl/*.json/*.ndjson found under folders.

    Sorted within each folder for reproducible ingestion order; each file once
    even when roots overlap. A missing path is an error the user must see.
    """
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found: Iterable[Path] = [path]
        elif path.is_dir():
            found = sorted(
                Path(folder) / name
                for folder, _dirs, names in os.walk(path)
                for name in names
                if Path(name).suffix.lower() in SUFFIXES
            )
        else:
            raise MissingFileError("path", str(path))
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                yield file


def walk_files(
    paths: Iterable[Path | str], errors: list[str] | None = None
) -> Iterator[tuple[str, os.stat_result]]:
    """:func:`iter_files` for repeated scans: ``(absolute path, stat)`` of each file.

    Costs what listing the tree costs -- one ``scandir`` per folder, one
    ``stat`` per file, no ``resolve()`` -- so re-scanning an unchanged tree
    stays cheap. Each file once (by device and inode) even when roots overlap
    or a file is linked twice; symlinked folders are not descended (like
    ``os.walk``). A missing root raises MissingFileError; a folder or file that
    vanishes or cannot be read during the walk is noted in ``errors``.
    """
    seen: set[tuple[int, int]] = set()
    suffixes = tuple(SUFFIXES)
    for raw in paths:
        root = os.path.abspath(os.path.expanduser(os.fspath(raw)))
        try:
            st = os.stat(root)
        except OSError:
            raise MissingFileError("path", root) from None
        if stat.S_ISREG(st.st_mode):
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                yield root, st
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise MissingFileError("path", root)
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=_name)
            except OSError as exc:
                if errors is not None:
                    errors.append(f"{folder}: {exc.strerror or exc}")
                continue
            subdirs: list[str] = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        subdirs.append(entry.path)
                        continue
                    if not entry.name.lower().endswith(suffixes):
                        continue
                    st = entry.stat()  # follows a symlinked file
                except OSError as exc:
                    if errors is not None:
                        errors.append(f"{entry.path}: {exc.strerror or exc}")
                    continue
                key = (st.st_dev, st.st_ino)
                if key not in seen and stat.S_ISREG(st.st_mode):
                    seen.add(key)
                    yield entry.path, st
            stack.extend(reversed(subdirs))  # depth first, in name order


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _in_subagents_dir(path: Path) -> bool:
    return path.parent.name == "subagents" and path.name.startswith("agent-")


def session_id_for_file(path: Path) -> str:
    """The session a file belongs to, from its location: a subagent file belongs to
    the session folder above ``subagents/``; otherwise the file stem. A fallback
    only: the ``sessionId`` written on each line wins when present."""
    if _in_subagents_dir(path):
        return path.parent.parent.name
    return path.stem


def _kind_of(value: dict[str, object], path: Path) -> FileKind | None:
    if "hook_event_name" in value:
        return FileKind.HOOK_INPUT
    kind = value.get("type")
    if "session_id" in value and "sessionId" not in value and kind in _STREAM_TYPES:
        return FileKind.STREAM_JSON
    if "sessionId" in value or kind in _TRANSCRIPT_TYPES:
        subagent = _in_subagents_dir(path) or (value.get("isSidechain") is True and "agentId" in value)
        if "sessionId" in value or _in_subagents_dir(path):
            return FileKind.SUBAGENT if subagent else FileKind.TRANSCRIPT
        return None  # e.g. a snapshot line: a transcript, but subagent-ness undecided yet
    return None


def classify(path: Path) -> FileKind:
    """Sniff the first few values of ``path`` (never the whole file)."""
    guess = FileKind.UNKNOWN
    try:
        for n, value in enumerate(iter_values(path)):
            if n >= _SNIFF_VALUES:
                break
            if isinstance(value, Malformed) or not isinstance(value, dict):
                continue
            kind = _kind_of(value, path)
            if kind is not None:
                return kind
            if value.get("type") in _TRANSCRIPT_TYPES:
                guess = FileKind.TRANSCRIPT
    except OSError:
        return FileKind.UNKNOWN
    return guess
