"""Names for unfinished files, and cleaning up the ones a killed process left behind.

Whatever nerv writes under a final name (a backup, an export, a pre-migration
copy) is first written under a hidden temporary name and renamed only once
complete and fsynced, so a file with a finished name is always finished. The
temporary name carries the writer's process id::

    .state-20261203-101500.db.tmp-4711-k3j9x2qa      (+ -journal / -wal / -shm)

After ``kill -9`` such a file stays behind (a restore's staging copy is the size
of the whole database). The next run that writes into the same folder removes
every temporary file of nerv's naming whose writer is gone; files of a process
still running, and every other file, are left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# purpose-pid-random, then SQLite's companions of a temporary database
_TEMP = re.compile(r"^\..+\.(tmp|restore|partial|busy)-(\d+)-[0-9a-f]{8}(-journal|-wal|-shm)?$")
# ".state.db.busy-PID-RANDOM": a long writer (an import) says who holds the write lock.
_BUSY = re.compile(r"^\.(.+)\.busy-(\d+)-[0-9a-f]{8}$")


def temp_name(final: Path, purpose: str = "tmp") -> Path:
    """A hidden sibling of ``final`` (same folder: the rename is atomic), naming this process."""
    return final.with_name(f".{final.name}.{purpose}-{os.getpid()}-{secrets.token_hex(4)}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def stale_files(folder: Path) -> list[Path]:
    """Temporary files of nerv's naming in ``folder`` whose writing process no longer runs."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        match = _TEMP.match(name)
        if match is not None and not _alive(int(match.group(2))):
            found.append(folder / name)
    return sorted(found)


def remove_stale(folder: Path) -> list[Path]:
    """Delete what ``stale_files`` finds; returns what was removed."""
    removed = []
    for path in stale_files(folder):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


@contextlib.contextmanager
def announce_writer(db_path: Path, what: str) -> Iterator[None]:
    """While the block runs, other nerv processes can tell who holds the write lock, and why.

    A long writer (``nerv import``) holds the lock for its whole, all-or-nothing run; a
    CLI write that times out waiting for it then says so, or waits politely (see
    ``nerv.store.tx.on_busy``) instead of failing with "database is locked".
    """
    note = temp_name(db_path, "busy")
    try:
        fd = os.open(note, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"pid": os.getpid(), "what": what}, f)
    except OSError:  # a read-only folder: nothing to announce with, nothing else changes
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            note.unlink()


def long_writer(db_path: Path | str) -> dict[str, Any] | None:
    """The running process that announced it holds ``db_path``'s write lock, if any."""
    path = Path(db_path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return None
    for name in names:
        match = _BUSY.match(name)
        if match is None or match.group(1) != path.name or not _alive(int(match.group(2))):
            continue
        try:
            note = json.loads((path.parent / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(note, dict):
            return note
    return None
