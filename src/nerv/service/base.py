"""The one write path every aggregate goes through.

Each mutating call is a single ``BEGIN IMMEDIATE`` transaction that writes the
row change *and* its audit row; an exception anywhere rolls both back. The
table descriptions below keep the per-aggregate modules small: they state
what a table is, the generic code does the SQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import starmap
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from nerv import env
from nerv.db.connection import explain
from nerv.errors import (
    AmbiguousIdError,
    ConflictError,
    ConstraintError,
    DatabaseError,
    NotFoundError,
    ValidationError,
)
from nerv.ids import new_id, now_ms

T = TypeVar("T")

# Upper bound for a prefix range scan: ids are lowercase base32, '~' sorts after them.
_PREFIX_END = "~"


@dataclass(frozen=True)
class TableSpec(Generic[T]):
    """What the generic write path needs to know about one table."""

    table: str
    entity: str  # singular, as shown to users and in the audit log
    make: Callable[[Any], T]  # from an sqlite3.Row or a dict of column -> value
    columns: tuple[str, ...]
    updatable: frozenset[str]
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # column -> (table spec name, entity) the value must reference
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    touches_updated_at: bool = True
    # The dataclass itself when ``make`` is plain construction: lists are then
    # built positionally from tuples (about twice as fast as ``make(Row)``).
    model: type[T] | None = None

    # Statement text is built once per table, not once per call.
    @cached_property
    def column_set(self) -> frozenset[str]:
        return frozenset(self.columns)

    @cached_property
    def insert_sql(self) -> str:
        marks = ", ".join("?" for _ in self.columns)
        return f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES ({marks})"

    @cached_property
    def select_sql(self) -> str:
        """``SELECT <columns in dataclass order> FROM table`` (append WHERE / ORDER BY)."""
        return f"SELECT {', '.join(self.columns)} FROM {self.table}"


def default_actor() -> str:
    explicit = os.environ.get(env.NERV_ACTOR)
    if explicit:
        return explicit
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "user"
    return f"cli:{user}"


class ServiceBase:
    """Connection, transactions, audit and the generic row operations."""

    _conn: sqlite3.Connection

    if TYPE_CHECKING:  # SettingsMixin provides it; several aggregates read settings

        def get_setting(
            self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
        ) -> Any: ...
    path: Path | None
    actor: str

    # -- transactions -------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """One atomic write; nested calls become savepoints of the outer one.

        ``with service.transaction() as conn: ...`` — sqlite3 errors come out
        as nerv errors (ConstraintError, DatabaseError).
        """
        return _Transaction(self._conn)

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"database error: {exc}") from None

    def _read_one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"database error: {exc}") from None
        return row

    def _select(
        self, spec: TableSpec[T], clause: str = "", params: tuple[Any, ...] | list[Any] = ()
    ) -> list[T]:
        """Entities of ``spec``'s table: ``clause`` is the WHERE / ORDER BY text after the FROM."""
        try:
            cursor = self._conn.cursor()
            cursor.row_factory = None  # plain tuples, in spec.columns order
            cursor.execute(f"{spec.select_sql} {clause}", params)
            if spec.model is not None:
                return list(starmap(spec.model, cursor))
            columns = spec.columns
            return [spec.make(dict(zip(columns, row, strict=True))) for row in cursor]
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"database error: {exc}") from None

    # -- audit ---------------------------------------------------------------------

    def _audit(
        self,
        entity_type: str,
        entity_id: str,
        action: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
        at: int | None = None,
    ) -> None:
        self._conn.execute(
            "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                new_id(),
                now_ms() if at is None else at,
                self.actor,
                entity_type,
                entity_id,
                action,
                None if before is None else json.dumps(before, sort_keys=True, default=str),
                None if after is None else json.dumps(after, sort_keys=True, default=str),
            ),
        )

    # -- settings rows (shared by settings and the current-project choice) --------

    def _put_setting(self, key: str, value: Any, project_id: str | None) -> None:
        """Insert or update one setting row, audited, in one transaction."""
        encoded = json.dumps(value, sort_keys=True)
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT * FROM settings WHERE key = ? AND project_id IS ?", (key, project_id)
            ).fetchone()
            now = now_ms()
            if row is None:
                ident = new_id()
                conn.execute(
                    "INSERT INTO settings (id, project_id, key, value, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (ident, project_id, key, encoded, now, now),
                )
                self._audit(
                    "setting", ident, "create", None,
                    {"key": key, "project_id": project_id, "value": value}, at=now,
                )
            elif row["value"] != encoded:
                conn.execute(
                    "UPDATE settings SET value = ?, updated_at = ? WHERE id = ?", (encoded, now, row["id"])
                )
                self._audit(
                    "setting", row["id"], "update",
                    {"key": key, "value": json.loads(row["value"])},
                    {"key": key, "value": value}, at=now,
                )

    # -- ids -----------------------------------------------------------------------

    def resolve_id(self, spec: TableSpec[Any], ident: str) -> str:
        """Full id for an exact id or a unique prefix of one."""
        ident = ident.strip()
        if not ident:
            raise ValidationError(f"{spec.entity} id must not be empty")
        if self._read_one(f"SELECT 1 FROM {spec.table} WHERE id = ?", (ident,)):
            return ident
        rows = self._read(
            f"SELECT id FROM {spec.table} WHERE id >= ? AND id < ? ORDER BY id LIMIT 6",
            (ident, ident + _PREFIX_END),
        )
        if not rows:
            raise NotFoundError(spec.entity, ident)
        if len(rows) > 1:
            raise AmbiguousIdError(spec.entity, ident, [r[0] for r in rows])
        return str(rows[0][0])

    def ids_with_prefix(self, spec: TableSpec[Any], prefix: str, limit: int = 50) -> list[str]:
        """Ids starting with ``prefix`` (for shell completion), in id order."""
        rows = self._read(
            f"SELECT id FROM {spec.table} WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix, prefix + _PREFIX_END, int(limit)),
        )
        return [str(r[0]) for r in rows]

    # -- generic row operations ---------------------------------------------------

    def _validate(self, spec: TableSpec[Any], values: Mapping[str, Any]) -> None:
        """Enum values, required values and (one SELECT each) that references exist."""
        self._check(spec, values)
        for column, (table, entity) in spec.references.items():
            value = values.get(column)
            if value is not None and not self._read_one(f"SELECT 1 FROM {table} WHERE id = ?", (value,)):
                raise NotFoundError(entity, str(value))

    @staticmethod
    def _check(spec: TableSpec[Any], values: Mapping[str, Any]) -> None:
        """The checks that need no database: enum values and required values."""
        for column, allowed in spec.enums.items():
            if column in values and values[column] not in allowed:
                raise ValidationError(
                    f"invalid {spec.entity} {column} {values[column]!r}: expected one of {', '.join(allowed)}"
                )
        for column in spec.required:
            if column in values:
                value = values[column]
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise ValidationError(f"{spec.entity} {column} must not be empty")

    def _missing_reference(self, spec: TableSpec[Any], values: Mapping[str, Any]) -> NotFoundError | None:
        """After a failed write: the first referenced row that does not exist, if any.

        References are not looked up before each write: the foreign keys
        enforce them for free, and only a failed statement pays for finding
        out which one was missing (inside the same transaction).
        """
        for column, (table, entity) in spec.references.items():
            value = values.get(column)
            if value is not None and self._conn.execute(
                f"SELECT 1 FROM {table} WHERE id = ?", (value,)
            ).fetchone() is None:
                return NotFoundError(entity, str(value))
        return None

    def _get_row(self, spec: TableSpec[Any], ident: str) -> sqlite3.Row | None:
        return self._read_one(f"SELECT * FROM {spec.table} WHERE id = ?", (ident,))

    def _get(self, spec: TableSpec[T], ident: str) -> T | None:
        row = self._get_row(spec, ident)
        return None if row is None else spec.make(row)

    def _require(self, spec: TableSpec[T], ident: str) -> T:
        row = self._get_row(spec, ident)
        if row is None:
            raise NotFoundError(spec.entity, ident)
        return spec.make(row)

    def _insert(self, spec: TableSpec[T], values: dict[str, Any], *, audit: bool = True) -> T:
        """Insert one row (id and timestamps filled in) plus its audit row."""
        if not spec.column_set.issuperset(values):
            unknown = sorted(set(values) - spec.column_set)
            raise ValidationError(f"unknown {spec.entity} field {unknown[0]!r}")
        self._check(spec, values)
        now = now_ms()
        row: dict[str, Any] = dict.fromkeys(spec.columns)
        row["id"] = new_id()
        if "created_at" in row:
            row["created_at"] = now
        if "updated_at" in row:
            row["updated_at"] = now
        row.update(values)
        params = tuple([int(v) if v.__class__ is bool else v for v in row.values()])
        with self.transaction() as conn:
            try:
                conn.execute(spec.insert_sql, params)
            except sqlite3.IntegrityError:
                missing = self._missing_reference(spec, values)
                if missing is not None:
                    raise missing from None
                raise
            if audit:
                self._audit(spec.entity, row["id"], "create", None, row, at=now)
        return spec.make(row)

    def _update(
        self, spec: TableSpec[T], ident: str, updates: Mapping[str, Any], *, action: str = "update"
    ) -> T:
        """Apply ``updates`` (column -> value); audit only the fields that changed."""
        if not spec.updatable.issuperset(updates):
            unknown = sorted(set(updates) - spec.column_set)
            if unknown:
                raise ValidationError(f"unknown {spec.entity} field(s): {', '.join(unknown)}")
            frozen = sorted(set(updates) - spec.updatable)
            raise ValidationError(f"{spec.entity} field(s) cannot be changed: {', '.join(frozen)}")
        self._check(spec, updates)
        with self.transaction() as conn:
            cursor = conn.cursor()
            cursor.row_factory = None
            current = cursor.execute(f"{spec.select_sql} WHERE id = ?", (ident,)).fetchone()
            if current is None:
                raise NotFoundError(spec.entity, ident)
            old = dict(zip(spec.columns, current, strict=True))
            changed = {k: _to_sql(v) for k, v in updates.items()}
            changed = {k: v for k, v in changed.items() if v != old[k]}
            if not changed:
                return spec.make(old)
            now = now_ms()
            new_values = dict(changed)
            if spec.touches_updated_at and "updated_at" in old:
                new_values["updated_at"] = now
            assignments = ", ".join(f"{column} = ?" for column in new_values)
            try:
                conn.execute(
                    f"UPDATE {spec.table} SET {assignments} WHERE id = ?", (*new_values.values(), ident)
                )
            except sqlite3.IntegrityError:
                missing = self._missing_reference(spec, changed)
                if missing is not None:
                    raise missing from None
                raise
            self._audit(spec.entity, ident, action, {k: old[k] for k in changed}, changed, at=now)
            old.update(new_values)
        return spec.make(old)

    def _delete(self, spec: TableSpec[Any], ident: str) -> None:
        with self.transaction() as conn:
            current = conn.execute(f"SELECT * FROM {spec.table} WHERE id = ?", (ident,)).fetchone()
            if current is None:
                raise NotFoundError(spec.entity, ident)
            conn.execute(f"DELETE FROM {spec.table} WHERE id = ?", (ident,))
            self._audit(spec.entity, ident, "delete", dict(current), None)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (a savepoint when nested), as a plain class.

    The same protocol as nerv.db.connection.write_transaction plus the mapping
    of sqlite3 errors to nerv errors; a class instead of two stacked generator
    context managers because every service write goes through it.
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
                conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise DatabaseError(explain(exc, None, conn=conn)) from None
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
            raise _integrity_error(exc) from None
        if isinstance(exc, sqlite3.OperationalError):  # read-only, disk full, busy...
            raise DatabaseError(explain(exc, None, conn=conn)) from None
        if isinstance(exc, sqlite3.DatabaseError):  # a corrupt file
            raise DatabaseError(f"database error: {exc}") from None
        # Anything else (a nerv error, KeyboardInterrupt...) propagates unchanged.


def _to_sql(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


def _integrity_error(exc: sqlite3.IntegrityError) -> ConstraintError:
    message = str(exc)
    if message.startswith("UNIQUE constraint failed"):
        columns = message.split(":", 1)[-1].strip()
        return ConflictError(f"already exists: {columns} must be unique")
    if message.startswith("FOREIGN KEY constraint failed"):
        return ConstraintError("a referenced record does not exist, or other records still refer to this one")
    if message.startswith("CHECK constraint failed"):
        return ConstraintError(f"value not allowed ({message.split(':', 1)[-1].strip()})")
    if message.startswith("NOT NULL constraint failed"):
        return ConstraintError(f"missing required value: {message.split(':', 1)[-1].strip()}")
    return ConstraintError(message)
