"""Opening an existing state database for nerv-hook: cheap, and never creating one.

Opening an up-to-date database costs one ``PRAGMA user_version`` read. An
older schema goes through the normal migration code (slow, rare). A missing
or empty file is refused: the hook runs wherever Claude Code runs, and a
database it created would hold only the default rules, silently replacing
the user's (a moved ``NERV_HOME``, an unmounted disk). ``nerv setup`` or any
``nerv`` command creates the database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping

from nerv import env
from nerv.db.version import SCHEMA_VERSION
from nerv.errors import DatabaseError, NervError

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")  # as nerv.db.connection


def describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "locked" in text or "busy" in text:
        return f"database is locked ({text})"
    return text


def synchronous_level(environ: Mapping[str, str] = os.environ) -> str:
    """NERV_SYNCHRONOUS, refused when it is not a level SQLite knows (as the service refuses it)."""
    level = environ.get(env.NERV_SYNCHRONOUS, "NORMAL").strip().upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise DatabaseError(
            f"{env.NERV_SYNCHRONOUS}={level!r} is not one of {', '.join(SYNCHRONOUS_LEVELS)}"
        )
    return level


def open_existing(
    path: str, busy_timeout_ms: int, environ: Mapping[str, str] = os.environ
) -> sqlite3.Connection:
    """A connection to the up-to-date database at ``path`` with nerv's pragmas; never creates it."""
    level = synchronous_level(environ)
    try:
        size = os.path.getsize(path)
    except OSError:
        raise DatabaseError(
            f"no nerv database at {path} (run any nerv command, e.g. `nerv status`, to create it)"
        ) from None
    if size == 0:
        raise DatabaseError(f"{path} is empty, not a nerv database (run `nerv status` to create it)")
    try:
        conn = sqlite3.connect(
            f"file:{_uri_path(path)}?mode=rw", uri=True, timeout=busy_timeout_ms / 1000,
            isolation_level=None, check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot open database {path}: {describe(exc)}") from None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            conn.close()
            return _open_migrated(path, busy_timeout_ms)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {level}")
    except sqlite3.Error as exc:
        conn.close()
        raise DatabaseError(f"cannot use database {path}: {describe(exc)}") from None
    return conn


def _uri_path(path: str) -> str:
    """``path`` as the path part of a ``file:`` URI (mode=rw: SQLite must not create the file)."""
    return os.path.abspath(path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")


def _open_migrated(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """The slow path: nerv's own connect (existing file only) and migrations."""
    from pathlib import Path

    from nerv.db.connection import connect
    from nerv.db.migrations import latest_version, migrate

    conn = connect(Path(path), create=False, busy_timeout=busy_timeout_ms, max_version=latest_version())
    try:
        migrate(conn, Path(path))
    except (NervError, sqlite3.Error) as exc:
        conn.close()
        raise DatabaseError(f"cannot migrate database {path}: {describe(exc)}") from None
    conn.row_factory = None
    return conn
