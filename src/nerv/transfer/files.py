"""Writing files so that a crash never leaves a half-written one under the final name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Unfinished-file naming lives with the storage layer (migrations write safety copies too).
from nerv.db.tempfiles import remove_stale as remove_stale
from nerv.db.tempfiles import temp_name as temp_name

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def create_private(path: Path) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
    os.close(fd)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def publish(temp: Path, final: Path) -> None:
    """fsync ``temp``, rename it over ``final``, fsync the folder."""
    fsync_file(temp)
    os.replace(temp, final)
    fsync_dir(final.parent)


def remove_quietly(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def remove_db_files(path: Path) -> None:
    """A database file and its -wal, -shm and -journal companions."""
    remove_quietly(path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")))


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A private temporary path next to ``final``, published there when the block succeeds.

    Temporary files that killed writers left in the folder are removed first.
    """
    remove_stale(final.parent)
    temp = temp_name(final)
    create_private(temp)
    try:
        yield temp
        publish(temp, final)
    except BaseException:
        remove_db_files(temp)
        raise
