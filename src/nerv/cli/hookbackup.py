"""The Claude Code settings file as it was before `nerv hooks install` changed it.

Install keeps the file's exact bytes (or the fact that there was no file) in
``$NERV_HOME/claude-settings-backups/``, together with a hash of what it wrote.
Uninstall puts those bytes back only while the file is still exactly what
install left: if anything else changed it since, restoring would throw that
change away, so uninstall removes nerv's entries alone instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nerv import env

BACKUP_DIR = "claude-settings-backups"


@dataclass(frozen=True)
class Backup:
    path: Path  # the settings file
    original: bytes | None  # None: there was no file
    installed_sha256: str  # what install wrote


def digest(data: bytes | None) -> str:
    return "" if data is None else hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def backup_file(path: Path) -> Path:
    """Where the backup of settings file ``path`` lives (one per absolute path)."""
    key = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
    return env.nerv_home() / BACKUP_DIR / f"{path.name}-{key}.json"


def load(path: Path) -> Backup | None:
    """The backup kept for ``path``; None when there is none (or it is unreadable)."""
    try:
        record = json.loads(backup_file(path).read_text(encoding="utf-8"))
        original = record["original"]
        return Backup(
            path=Path(record["path"]),
            original=None if original is None else base64.b64decode(original, validate=True),
            installed_sha256=str(record["installed_sha256"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_private(target: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``target`` atomically (a temp file in the same folder, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remember(path: Path, before: bytes | None, after: bytes, before_has_nerv: bool) -> Path | None:
    """Record what ``path`` held before install wrote ``after``; returns the backup's path.

    A backup that still matches (install run again, e.g. for a new timeout) keeps
    the first original. A file that already held nerv's entries without a matching
    backup is no pre-nerv original: then nothing is kept (uninstall edits instead).
    """
    kept = load(path)
    if kept is not None and kept.installed_sha256 == digest(before):
        original = kept.original
    elif not before_has_nerv:
        original = before
    else:
        forget(path)
        return None
    target = backup_file(path)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    record = {
        "path": str(path.absolute()),
        "original": None if original is None else base64.b64encode(original).decode("ascii"),
        "installed_sha256": digest(after),
    }
    _write_private(target, (json.dumps(record, indent=2) + "\n").encode(), 0o600)
    return target


def restore(path: Path) -> bool:
    """Put the original bytes back if ``path`` is still what install wrote; True if done."""
    kept = load(path)
    if kept is None:
        return False
    current = read_bytes(path)
    if digest(current) != kept.installed_sha256:
        return False
    if kept.original is None:
        path.unlink(missing_ok=True)
    else:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        _write_private(path, kept.original, mode)
    forget(path)
    return True


def forget(path: Path) -> None:
    backup_file(path).unlink(missing_ok=True)
