"""Generic row changes with their audit rows: insert, update, delete, settings.

The service describes its tables (``nerv.service.base.TableSpec``) and
validates values; these functions write them. Each runs in one
``Transaction`` (a savepoint inside the caller's, if any) holding the row
change and its audit row, so a failure rolls both back.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Mapping
from typing import Any, Protocol

from nerv.errors import NotFoundError
from nerv.ids import new_id, now_ms
from nerv.store import audit
from nerv.store.tx import Transaction


class Table(Protocol):
    """What these functions need to know about a table (TableSpec has it)."""

    @property
    def table(self) -> str: ...
    @property
    def entity(self) -> str: ...
    @property
    def columns(self) -> tuple[str, ...]: ...
    @property
    def references(self) -> Mapping[str, tuple[str, str]]: ...
    @property
    def touches_updated_at(self) -> bool: ...
    @property
    def select_sql(self) -> str: ...


@functools.cache
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """Built once per table, not once per call."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def sql_value(value: Any) -> Any:
    return int(value) if value.__class__ is bool else value


def insert(
    conn: sqlite3.Connection, actor: str, spec: Table, values: Mapping[str, Any], *, audited: bool = True
) -> dict[str, Any]:
    """Insert one row (id and timestamps filled in, ``values`` over them) plus its audit row.

    Returns the row as written (column -> value, in ``spec.columns`` order).
    """
    now = now_ms()
    row: dict[str, Any] = dict.fromkeys(spec.columns)
    row["id"] = new_id()
    if "created_at" in row:
        row["created_at"] = now
    if "updated_at" in row:
        row["updated_at"] = now
    row.update(values)
    params = tuple([sql_value(v) for v in row.values()])
    with Transaction(conn):
        try:
            conn.execute(_insert_sql(spec.table, spec.columns), params)
        except sqlite3.IntegrityError:
            missing = missing_reference(conn, spec, values)
            if missing is not None:
                raise missing from None
            raise
        if audited:
            audit.write(conn, actor, spec.entity, row["id"], "create", None, row, at=now)
    return row


def update(
    conn: sqlite3.Connection,
    actor: str,
    spec: Table,
    ident: str,
    updates: Mapping[str, Any],
    *,
    action: str = "update",
) -> dict[str, Any]:
    """Apply ``updates`` (column -> value) to row ``ident``; audit only the fields that changed.

    Returns the row after the change. Nothing is written (not even the audit
    row) when no value differs.
    """
    with Transaction(conn):
        cursor = conn.cursor()
        cursor.row_factory = None
        current = cursor.execute(f"{spec.select_sql} WHERE id = ?", (ident,)).fetchone()
        if current is None:
            raise NotFoundError(spec.entity, ident)
        old = dict(zip(spec.columns, current, strict=True))
        changed = {k: sql_value(v) for k, v in updates.items()}
        changed = {k: v for k, v in changed.items() if v != old[k]}
        if not changed:
            return old
        now = now_ms()
        new_values = dict(changed)
        if spec.touches_updated_at and "updated_at" in old:
            new_values["updated_at"] = now
        assignments = ", ".join(f"{column} = ?" for column in new_values)
        try:
            conn.execute(f"UPDATE {spec.table} SET {assignments} WHERE id = ?", (*new_values.values(), ident))
        except sqlite3.IntegrityError:
            missing = missing_reference(conn, spec, changed)
            if missing is not None:
                raise missing from None
            raise
        audit.write(conn, actor, spec.entity, ident, action, {k: old[k] for k in changed}, changed, at=now)
        old.update(new_values)
    return old


def delete(conn: sqlite3.Connection, actor: str, spec: Table, ident: str) -> None:
    with Transaction(conn):
        cursor = conn.cursor()
        cursor.row_factory = None
        current = cursor.execute(f"SELECT * FROM {spec.table} WHERE id = ?", (ident,))
        row = current.fetchone()
        if row is None:
            raise NotFoundError(spec.entity, ident)
        names = [d[0] for d in current.description]
        conn.execute(f"DELETE FROM {spec.table} WHERE id = ?", (ident,))
        audit.write(conn, actor, spec.entity, ident, "delete", dict(zip(names, row, strict=True)), None)


def missing_reference(
    conn: sqlite3.Connection, spec: Table, values: Mapping[str, Any]
) -> NotFoundError | None:
    """After a failed write: the first referenced row that does not exist, if any.

    References are not looked up before each write: the foreign keys enforce
    them for free, and only a failed statement pays for finding out which one
    was missing (inside the same transaction).
    """
    for column, (table, entity) in spec.references.items():
        value = values.get(column)
        found = value is None or conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (value,)).fetchone()
        if not found:
            return NotFoundError(entity, str(value))
    return None


def put_setting(
    conn: sqlite3.Connection, actor: str, key: str, value: Any, project_id: str | None
) -> None:
    """Insert or update one setting row, audited, in one transaction (nothing if unchanged)."""
    encoded = json.dumps(value, sort_keys=True)
    with Transaction(conn):
        row = conn.execute(
            "SELECT id, value FROM settings WHERE key = ? AND project_id IS ?", (key, project_id)
        ).fetchone()
        now = now_ms()
        if row is None:
            ident = new_id()
            conn.execute(
                "INSERT INTO settings (id, project_id, key, value, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (ident, project_id, key, encoded, now, now),
            )
            audit.write(
                conn, actor, "setting", ident, "create", None,
                {"key": key, "project_id": project_id, "value": value}, at=now,
            )
        elif row[1] != encoded:
            conn.execute("UPDATE settings SET value = ?, updated_at = ? WHERE id = ?", (encoded, now, row[0]))
            audit.write(
                conn, actor, "setting", row[0], "update",
                {"key": key, "value": json.loads(row[1])}, {"key": key, "value": value}, at=now,
            )


def delete_setting(conn: sqlite3.Connection, actor: str, key: str, project_id: str | None) -> bool:
    """Remove one setting row, audited; False if there was none."""
    with Transaction(conn):
        row = conn.execute(
            "SELECT id, value FROM settings WHERE key = ? AND project_id IS ?", (key, project_id)
        ).fetchone()
        if row is None:
            return False
        conn.execute("DELETE FROM settings WHERE id = ?", (row[0],))
        audit.write(
            conn, actor, "setting", row[0], "delete",
            {"key": key, "project_id": project_id, "value": json.loads(row[1])}, None,
        )
    return True


def event(
    conn: sqlite3.Connection, actor: str, entity_type: str, entity_id: str, action: str,
    details: Mapping[str, Any] | None,
) -> str:
    """An audit row for something that is not a row change (an import, a run...)."""
    with Transaction(conn):
        return audit.write(conn, actor, entity_type, entity_id, action, None, details)
