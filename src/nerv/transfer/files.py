"""Writing files so that a crash never leaves a half-written one under the final name."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nerv.ids import new_id

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def make_private_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)


def temp_name(final: Path, purpose: str = "tmp") -> Path:
    """A hidden sibling of ``final``: same folder, so the rename is atomic."""
    return final.with_name(f".{final.name}.{purpose}-{new_id()[:8]}")


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
    """A private temporary path next to ``final``, published there when the block succeeds."""
    temp = temp_name(final)
    create_private(temp)
    try:
        yield temp
        publish(temp, final)
    except BaseException:
        remove_db_files(temp)
        raise
