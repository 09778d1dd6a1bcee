"""The one write path every aggregate goes through.

Each mutating call is a single ``BEGIN IMMEDIATE`` transaction that writes the
row change *and* its audit row; an exception anywhere rolls both back. The
table descriptions below keep the per-aggregate modules small: they state
what a table is, the generic code does the SQL.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import starmap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from nerv import env
from nerv.errors import AmbiguousIdError, DatabaseError, NotFoundError, ValidationError, shown_entity
from nerv.store import audit as store_audit
from nerv.store import rows
from nerv.store.tx import Transaction

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

    def transaction(self) -> Transaction:
        """One atomic write; nested calls become savepoints of the outer one.

        ``with service.transaction() as conn: ...`` — sqlite3 errors come out
        as nerv errors (ConstraintError, DatabaseError).
        """
        return Transaction(self._conn)

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
        store_audit.write(self._conn, self.actor, entity_type, entity_id, action, before, after, at)

    # -- settings rows (shared by settings and the current-project choice) --------

    def _put_setting(self, key: str, value: Any, project_id: str | None) -> None:
        """Insert or update one setting row, audited, in one transaction."""
        rows.put_setting(self._conn, self.actor, key, value, project_id)  # one transaction inside

    # -- ids -----------------------------------------------------------------------

    def resolve_id(self, spec: TableSpec[Any], ident: str) -> str:
        """Full id for an exact id or a unique prefix of one."""
        ident = ident.strip()
        if not ident:
            raise ValidationError(f"{shown_entity(spec.entity)} id must not be empty")
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
                    f"invalid {shown_entity(spec.entity)} {column} {values[column]!r}: "
                    f"expected one of {', '.join(allowed)}"
                )
        for column in spec.required:
            if column in values:
                value = values[column]
                if value is None or (isinstance(value, str) and not value.strip()):
                    raise ValidationError(f"{shown_entity(spec.entity)} {column} must not be empty")

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
            raise ValidationError(f"unknown {shown_entity(spec.entity)} field {unknown[0]!r}")
        self._check(spec, values)
        row = rows.insert(self._conn, self.actor, spec, values, audited=audit)  # one transaction inside
        return spec.make(row)

    def _update(
        self, spec: TableSpec[T], ident: str, updates: Mapping[str, Any], *, action: str = "update"
    ) -> T:
        """Apply ``updates`` (column -> value); audit only the fields that changed."""
        if not spec.updatable.issuperset(updates):
            unknown = sorted(set(updates) - spec.column_set)
            if unknown:
                raise ValidationError(f"unknown {shown_entity(spec.entity)} field(s): {', '.join(unknown)}")
            frozen = sorted(set(updates) - spec.updatable)
            raise ValidationError(
                f"{shown_entity(spec.entity)} field(s) cannot be changed: {', '.join(frozen)}"
            )
        self._check(spec, updates)
        row = rows.update(self._conn, self.actor, spec, ident, updates, action=action)  # one transaction
        return spec.make(row)

    def _delete(self, spec: TableSpec[Any], ident: str) -> None:
        rows.delete(self._conn, self.actor, spec, ident)
