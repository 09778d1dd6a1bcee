"""The one transaction helper: ``BEGIN IMMEDIATE`` ... ``COMMIT``, a savepoint when nested.

A deferred transaction that reads and then writes has to upgrade its lock,
and that upgrade fails at once with "database is locked" when another process
writes; taking the write lock first lets SQLite's busy handler queue writers.
sqlite3 errors come out as nerv errors (ConstraintError, DatabaseError) with
one-line messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from types import TracebackType

from nerv.errors import ConflictError, ConstraintError, DatabaseError

# A face that can wait (the CLI) sets this: called when BEGIN IMMEDIATE gave up after the
# busy timeout; True means "wait again". The hook leaves it unset: it answers "ask" instead.
on_busy: Callable[[sqlite3.Connection], bool] | None = None


class Transaction:
    """``with Transaction(conn) as conn: ...``: one atomic write.

    A plain class rather than a generator context manager: every write of
    every process goes through it.
    """

    __slots__ = ("conn", "savepoint")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.savepoint: str | None = None

    def __enter__(self) -> sqlite3.Connection:
        conn = self.conn
        try:
            if conn.in_transaction:
                self.savepoint = f"sp_{id(self):x}"
                conn.execute(f"SAVEPOINT {self.savepoint}")
            else:
                _begin(conn)
        except sqlite3.OperationalError as exc:
            raise DatabaseError(_explain(exc, conn)) from None
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"database error: {exc}") from None
        return conn

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self.conn
        savepoint = self.savepoint
        try:
            if exc is None:
                conn.execute("COMMIT" if savepoint is None else f"RELEASE {savepoint}")
                return
            if savepoint is not None:
                conn.execute(f"ROLLBACK TO {savepoint}")
                conn.execute(f"RELEASE {savepoint}")
            elif conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as failure:
            # A failed COMMIT (or a failed rollback) must not leave a transaction open.
            if savepoint is None and conn.in_transaction:
                conn.execute("ROLLBACK")
            if exc is None:
                exc = failure
        if isinstance(exc, sqlite3.IntegrityError):
            raise integrity_error(exc) from None
        if isinstance(exc, sqlite3.OperationalError):  # busy, read-only, disk full...
            raise DatabaseError(_explain(exc, conn)) from None
        if isinstance(exc, sqlite3.DatabaseError):  # a corrupt file
            raise DatabaseError(f"database error: {exc}") from None
        # Anything else (a nerv error, KeyboardInterrupt...) propagates unchanged.


def _begin(conn: sqlite3.Connection) -> None:
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if on_busy is None or ("locked" not in text and "busy" not in text) or not on_busy(conn):
                raise


def _explain(exc: sqlite3.OperationalError, conn: sqlite3.Connection) -> str:
    """A busy lock, a read-only file or a full disk in the user's terms (imported only on failure:
    the hook's start-up stays lean)."""
    from nerv.db.connection import explain

    return explain(exc, None, conn=conn)


# Table -> the entity people know it as (the service's TableSpec names; repeated here so
# that the hook's cheap import of this module needs no service code).
ENTITY_OF_TABLE = {
    "projects": "project",
    "project_repos": "repo",
    "cycles": "cycle",
    "tasks": "task",
    "claude_sessions": "session",
    "approval_rules": "rule",
    "approval_requests": "approval request",
    "decisions": "decision",
    "metrics": "metric",
    "settings": "setting",
}


def duplicate_message(detail: str) -> str:
    """SQLite's ``t.a, t.b`` or ``index 't_unique'`` as people read it: the entity, the columns."""
    columns = ""
    if detail.startswith("index "):
        index = detail[len("index "):].strip("'\"")
        table = max((name for name in ENTITY_OF_TABLE if index.startswith(name)), key=len, default="")
    else:
        qualified = [c.strip() for c in detail.split(",")]
        table = qualified[0].split(".", 1)[0]
        columns = ", ".join(c.split(".", 1)[-1] for c in qualified)
    what = ENTITY_OF_TABLE.get(table, "record")
    return f"{what} already exists" + (f" (same {columns})" if columns else "")


def integrity_error(exc: sqlite3.IntegrityError) -> ConstraintError:
    message = str(exc)
    if message.startswith("UNIQUE constraint failed"):
        return ConflictError(duplicate_message(message.split(":", 1)[-1].strip()))
    if message.startswith("FOREIGN KEY constraint failed"):
        return ConstraintError("a referenced record does not exist, or other records still refer to this one")
    if message.startswith("CHECK constraint failed"):
        return ConstraintError(f"value not allowed ({message.split(':', 1)[-1].strip()})")
    if message.startswith("NOT NULL constraint failed"):
        return ConstraintError(f"missing required value: {message.split(':', 1)[-1].strip()}")
    return ConstraintError(message)
