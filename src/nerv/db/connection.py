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


MEMORY = ":memory:"
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
_COMPANIONS = ("-wal", "-shm", "-journal")


def prepare_location(path: Path) -> None:
    """Create the folder (0700) and an empty file (0600) before SQLite does.

    SQLite would create the file with the process umask; state.db holds agent
    commands and costs, so it is private to its owner from the first byte.
    """
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE)
        os.close(fd)


def loose_permissions(path: Path, home: Path | None = None) -> list[str]:
    """What is readable by others among the database, its companions and nerv's home folder."""
    found: list[str] = []
    candidates = [(path, PRIVATE_FILE)]
    candidates += [(path.with_name(path.name + s), PRIVATE_FILE) for s in _COMPANIONS]
    if home is not None:
        candidates.append((home, PRIVATE_DIR))
    for candidate, wanted in candidates:
        try:
            mode = candidate.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & ~wanted:
            found.append(f"{candidate} is {mode:04o} (nerv keeps it {wanted:04o})")
    return found


def tighten_permissions(path: Path, home: Path | None = None) -> None:
    """Make the database, its companions and nerv's home folder private again.

    A home created by hand (or by an older nerv) with 0755, or a database copied in
    at 0644, would show agent commands and costs to every local user. The home folder
    is tightened only when it is nerv's own (never an arbitrary folder given with --db).
    Files owned by someone else are left alone; ``nerv db check`` reports them.
    """
    targets = [(path, PRIVATE_FILE)] + [(path.with_name(path.name + s), PRIVATE_FILE) for s in _COMPANIONS]
    if home is not None:
        targets.append((home, PRIVATE_DIR))
    for target, wanted in targets:
        try:
            mode = target.stat().st_mode & 0o777
            if mode & ~wanted:
                target.chmod(mode & wanted)
        except OSError:
            continue


def nerv_home_of(path: Path) -> Path | None:
    """nerv's home folder when ``path`` lives directly in it, else None."""
    home = env.nerv_home()
    try:
        return home if path.parent.resolve() == home.resolve() else None
    except OSError:
        return None


# Messages SQLite gives when the file, its folder or the disk cannot take a write.
_READ_ONLY = ("readonly database", "read-only")
_DISK_FULL = ("database or disk is full", "disk is full")
_DISK_IO = ("disk i/o error",)
_CANNOT_OPEN = ("unable to open database file",)


class ReadOnlyConnection(sqlite3.Connection):
    """A connection opened read-only because writing was impossible; ``cause`` says why."""

    cause: sqlite3.Error | None = None


def explain(
    exc: sqlite3.Error | OSError,
    path: Path | str | None,
    doing: str = "",
    conn: sqlite3.Connection | None = None,
) -> str:
    """One line saying what went wrong with the database file, in the user's terms.

    On a connection nerv had to open read-only, a refused write is explained by the
    reason it was opened so (a full disk is not a read-only file).
    """
    if isinstance(conn, ReadOnlyConnection) and conn.cause is not None:
        exc = conn.cause
    located = path or (_file_of(conn) if conn is not None else None)
    text = str(exc).lower() if isinstance(exc, sqlite3.Error) else (exc.strerror or str(exc)).lower()
    errno = exc.errno if isinstance(exc, OSError) else None
    prefix = f"{doing}: " if doing else ""
    # SQLite reports a full disk as an I/O error when the shared-memory index cannot grow.
    if errno == 28 or any(m in text for m in _DISK_FULL) or (
        any(m in text for m in (*_DISK_IO, *_CANNOT_OPEN)) and located is not None and _no_space_left(located)
    ):
        holding = f" holding {located}" if located else ""
        return f"{prefix}the disk{holding} is full; nothing was changed (free some space and retry)"
    cannot_open = any(m in text for m in (*_CANNOT_OPEN, *_DISK_IO))
    if errno == 30 or any(m in text for m in _READ_ONLY) or (
        cannot_open and located is not None and _read_only_place(located)
    ):
        named = f" {path}" if path else ""
        return f"{prefix}the database{named} is read-only (file or file system); nothing was changed"
    if any(m in text for m in _DISK_IO):
        on = f" on {path}" if path else ""
        return f"{prefix}disk I/O error{on} (is the disk full or failing?); nothing was changed"
    if "locked" in text or "busy" in text:
        from nerv.db.tempfiles import long_writer

        writer = long_writer(located) if located else None
        holder = "another nerv process holds the write lock"
        if writer:
            what, pid = writer.get("what"), writer.get("pid")
            holder = f"`{what}` (pid {pid}) holds the write lock; retry when it is done"
        return f"{prefix}database is busy: {exc} ({holder})"
    return f"{prefix}{exc}"


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
    timeout_ms = busy_timeout_ms() if busy_timeout is None else busy_timeout
    level = synchronous_level() if synchronous is None else synchronous.upper()
    if str(path) == MEMORY:  # a throw-away database (read-only commands before any file exists)
        conn = sqlite3.connect(MEMORY, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        return conn
    path = Path(path)
    try:
        if create:
            prepare_location(path)
        elif not path.exists():
            raise DatabaseError(f"database not found: {path}")
        tighten_permissions(path, nerv_home_of(path))
        conn = sqlite3.connect(
            path, timeout=timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except OSError as exc:
        raise DatabaseError(f"cannot open database {path}: {explain(exc, None)}") from None
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {exc}") from None
    try:
        _configure(conn, timeout_ms, level, path, max_version)
    except sqlite3.OperationalError as exc:
        conn.close()
        if not unwritable(exc):
            raise DatabaseError(f"cannot use database {path}: {exc}") from None
        # A read-only file system, a read-only file or a full disk: SQLite cannot create the
        # shared-memory index a WAL reader needs. Reads still work on a read-only connection;
        # a write then fails with a clear message (see explain) instead of every command failing.
        return connect_read_only(path, timeout_ms, exc)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseError(f"cannot use database {path}: {exc}") from None
    except DatabaseError:
        conn.close()
        raise
    return conn


def _configure(
    conn: sqlite3.Connection, timeout_ms: int, level: str, path: Path, max_version: int | None
) -> None:
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    _ensure_wal(conn, timeout_ms, path, max_version)
    conn.execute(f"PRAGMA synchronous = {level}")


def unwritable(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because the file, its folder or the disk takes no writes."""
    text = str(exc).lower()
    return any(m in text for m in (*_READ_ONLY, *_DISK_FULL, *_DISK_IO, *_CANNOT_OPEN))


def connect_read_only(path: Path, timeout_ms: int, cause: sqlite3.Error) -> sqlite3.Connection:
    """A read-only connection to a file nerv cannot write (raises DatabaseError explaining ``cause``)."""
    uri = path.resolve().as_uri()
    # mode=ro first (it still sees other processes' commits); immutable when even the
    # shared-memory file cannot be made: nothing can write to such a file system anyway.
    for query in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            conn = sqlite3.connect(
                uri + query,
                uri=True,
                timeout=timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
                factory=ReadOnlyConnection,
            )
        except sqlite3.Error:
            continue
        assert isinstance(conn, ReadOnlyConnection)
        conn.cause = cause
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError:
            conn.close()
            continue
        return conn
    raise DatabaseError(explain(cause, path, "cannot open the database")) from None


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
        raise DatabaseError(explain(exc, _file_of(conn), conn=conn)) from None
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


def _no_space_left(path: Path | str) -> bool:
    try:
        stats = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


def _read_only_place(path: Path | str) -> bool:
    folder = os.path.dirname(os.path.abspath(path))
    try:
        read_only_fs = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
    return read_only_fs or not os.access(folder, os.W_OK) or not os.access(path, os.W_OK)


def _file_of(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return None
    return str(row[2]) if row is not None and row[2] else None


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
