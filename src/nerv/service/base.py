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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from nerv import env
from nerv.db.connection import write_transaction
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
    make: Callable[[sqlite3.Row], T]
    columns: tuple[str, ...]
    updatable: frozenset[str]
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # column -> (table spec name, entity) the value must reference
    references: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    touches_updated_at: bool = True


def default_actor() -> str:
    explicit = os.environ.get(env.NERV_ACTOR)
    if explicit:
        return explicit
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or "user"
    return f"cli:{user}"


class ServiceBase:
    """Connection, transactions, audit and the generic row operations."""

    _conn: sqlite3.Connection
    path: Path | None
    actor: str

    # -- transactions -------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write; nested calls become savepoints of the outer one."""
        try:
            with write_transaction(self._conn) as conn:
                yield conn
        except sqlite3.IntegrityError as exc:
            raise _integrity_error(exc) from None
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"database error: {exc}") from None

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"database error: {exc}") from None

    def _read_one(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> sqlite3.Row | None:
        try:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"database error: {exc}") from None
        return row

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
                conn.execute("UPDATE settings SET value = ?, updated_at = ? WHERE id = ?", (encoded, now, row["id"]))
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

    # -- generic row operations ---------------------------------------------------

    def _validate(self, spec: TableSpec[Any], values: Mapping[str, Any]) -> None:
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
        for column, (table, entity) in spec.references.items():
            value = values.get(column)
            if value is not None and not self._read_one(f"SELECT 1 FROM {table} WHERE id = ?", (value,)):
                raise NotFoundError(entity, str(value))

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
        self._validate(spec, values)
        now = now_ms()
        row = {column: None for column in spec.columns}
        row["id"] = new_id()
        if "created_at" in row:
            row["created_at"] = now
        if "updated_at" in row:
            row["updated_at"] = now
        for key, value in values.items():
            if key not in row:
                raise ValidationError(f"unknown {spec.entity} field {key!r}")
            row[key] = value
        placeholders = ", ".join("?" for _ in spec.columns)
        with self.transaction() as conn:
            conn.execute(
                f"INSERT INTO {spec.table} ({', '.join(spec.columns)}) VALUES ({placeholders})",
                tuple(_to_sql(row[c]) for c in spec.columns),
            )
            if audit:
                self._audit(spec.entity, row["id"], "create", None, row, at=now)
        return spec.make(_FakeRow(row))

    def _update(
        self, spec: TableSpec[T], ident: str, updates: Mapping[str, Any], *, action: str = "update"
    ) -> T:
        """Apply ``updates`` (column -> value); audit only the fields that changed."""
        unknown = sorted(set(updates) - set(spec.columns))
        if unknown:
            raise ValidationError(f"unknown {spec.entity} field(s): {', '.join(unknown)}")
        frozen = sorted(set(updates) - spec.updatable)
        if frozen:
            raise ValidationError(f"{spec.entity} field(s) cannot be changed: {', '.join(frozen)}")
        self._validate(spec, updates)
        with self.transaction() as conn:
            current = conn.execute(f"SELECT * FROM {spec.table} WHERE id = ?", (ident,)).fetchone()
            if current is None:
                raise NotFoundError(spec.entity, ident)
            old = dict(current)
            changed = {k: v for k, v in updates.items() if _to_sql(v) != old[k]}
            if not changed:
                return spec.make(current)
            now = now_ms()
            new_values = dict(changed)
            if spec.touches_updated_at and "updated_at" in old:
                new_values["updated_at"] = now
            assignments = ", ".join(f"{column} = ?" for column in new_values)
            conn.execute(
                f"UPDATE {spec.table} SET {assignments} WHERE id = ?",
                (*(_to_sql(v) for v in new_values.values()), ident),
            )
            self._audit(
                spec.entity,
                ident,
                action,
                {k: old[k] for k in changed},
                {k: _to_sql(v) for k, v in changed.items()},
                at=now,
            )
            old.update({k: _to_sql(v) for k, v in new_values.items()})
        return spec.make(_FakeRow(old))

    def _delete(self, spec: TableSpec[Any], ident: str) -> None:
        with self.transaction() as conn:
            current = conn.execute(f"SELECT * FROM {spec.table} WHERE id = ?", (ident,)).fetchone()
            if current is None:
                raise NotFoundError(spec.entity, ident)
            conn.execute(f"DELETE FROM {spec.table} WHERE id = ?", (ident,))
            self._audit(spec.entity, ident, "delete", dict(current), None)


class _FakeRow(dict[str, Any]):
    """A dict that the ``make`` functions can read like an ``sqlite3.Row``."""


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
