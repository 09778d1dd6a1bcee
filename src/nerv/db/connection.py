"""Opening the SQLite file the way every nerv process must.

Every connection: WAL journal, foreign keys on, a busy timeout, and writes in
explicit ``BEGIN IMMEDIATE`` transactions. A deferred transaction that reads
first and writes later can fail with "database is locked" when it tries to
upgrade its lock while another process writes; taking the write lock up front
lets SQLite's busy handler queue writers instead.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nerv import env
from nerv.errors import DatabaseError, SchemaTooNewError

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")
# NORMAL in WAL mode: a commit survives an application crash; a power loss may
# drop the last few commits but never corrupts the file. FULL fsyncs the WAL on
# every commit (see docs/performance.md for the measured cost).
DEFAULT_SYNCHRONOUS = "NORMAL"
DEFAULT_BUSY_TIMEOUT_MS = 30_000


def synchronous_level() -> str:
    level = os.environ.get(env.NERV_SYNCHRONOUS, DEFAULT_SYNCHRONOUS).strip().upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise DatabaseError(
            f"{env.NERV_SYNCHRONOUS}={level!r} is not one of {', '.join(SYNCHRONOUS_LEVELS)}"
        )
    return level


def busy_timeout_ms() -> int:
    raw = os.environ.get(env.NERV_BUSY_TIMEOUT_MS)
    if not raw:
        return DEFAULT_BUSY_TIMEOUT_MS
    try:
        return max(0, int(raw))
    except ValueError:
        raise DatabaseError(f"{env.NERV_BUSY_TIMEOUT_MS}={raw!r} is not a number of milliseconds") from None


def prepare_location(path: Path) -> None:
    """Create the folder (0700) and an empty file (0600) before SQLite does.

    SQLite would create the file with the process umask; state.db holds agent
    commands and costs, so it is private to its owner from the first byte.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)


def connect(
    path: str | Path,
    *,
    create: bool = True,
    busy_timeout: int | None = None,
    synchronous: str | None = None,
    max_version: int | None = None,
) -> sqlite3.Connection:
    """Open ``path`` with nerv's pragmas. Raises DatabaseError with a one-line reason.

    With ``max_version``, a file whose schema is newer than that is refused
    (SchemaTooNewError) *before* anything is written to it: switching a file
    to WAL rewrites its header, and a newer nerv's file must stay untouched.
    """
    path = Path(path)
    timeout_ms = busy_timeout_ms() if busy_timeout is None else busy_timeout
    level = synchronous_level() if synchronous is None else synchronous.upper()
    try:
        if create:
            prepare_location(path)
        elif not path.exists():
            raise DatabaseError(f"database not found: {path}")
        conn = sqlite3.connect(
            path, timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except OSError as exc:
        raise DatabaseError(f"cannot open database {path}: {exc.strerror or exc}") from None
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        conn.execute("PRAGMA foreign_keys = ON")
        _ensure_wal(conn, timeout_ms, path, max_version)
        conn.execute(f"PRAGMA synchronous = {level}")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"cannot use database {path}: {exc}") from None
    except DatabaseError:
        conn.close()
        raise
    return conn


def _ensure_wal(conn: sqlite3.Connection, timeout_ms: int, path: Path, max_version: int | None) -> None:
    # WAL is a property of the file: once set it persists, so the common case is
    # one cheap read. Switching needs an exclusive moment that the busy handler
    # does not always wait for, hence the small retry loop on a fresh file.
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() == "wal":
        return
    if max_version is not None:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > max_version:
            raise SchemaTooNewError(str(path), found, max_version)
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            mode = None
        if mode is not None and str(mode).lower() == "wal":
            return
        if time.monotonic() > deadline:
            raise DatabaseError("could not switch the database to WAL mode: it stayed locked")
        time.sleep(0.01)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write: BEGIN IMMEDIATE ... COMMIT, or a savepoint when nested."""
    if conn.in_transaction:
        name = f"sp_{id(conn)}_{time.perf_counter_ns()}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise DatabaseError(f"database is busy: {exc} (another nerv process holds the write lock)") from None
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def execute_script(conn: sqlite3.Connection, script: str) -> None:
    """Run several statements inside the caller's transaction.

    ``sqlite3.Connection.executescript`` commits first, which would break the
    "migration and its bookkeeping row in one transaction" rule.
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statement = buffer.strip()
            if statement:
                conn.execute(statement)
            buffer = ""
    if buffer.strip():
        conn.execute(buffer)
