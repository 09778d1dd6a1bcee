"""Rows written exactly as given: what ``nerv import`` and restore-like tools need.

The service's writes fill in ids and timestamps and add an audit row per change;
an import instead takes the file's rows as they are (ids, statuses, timestamps and
the file's own audit rows) and writes one audit row of its own. These are the only
generic writes of any table outside ``rows``: the importer calls them, so the core
stays the one place that writes sessions, requests and audit rows.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )


def _where(identity: Sequence[str]) -> str:
    return " AND ".join(f"{quote(c)} IS ?" for c in identity)


def insert(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], values: Sequence[Any]) -> None:
    """One row, inside the caller's transaction."""
    conn.execute(_insert_sql(table, columns), tuple(values))


def insert_many(
    conn: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: Iterable[Sequence[Any]]
) -> None:
    """Many rows with the same columns, in one statement (inside the caller's transaction)."""
    conn.executemany(_insert_sql(table, columns), rows)


def update(
    conn: sqlite3.Connection,
    table: str,
    identity: Sequence[str],
    key: Sequence[Any],
    values: dict[str, Any],
) -> None:
    """Set ``values`` on the row whose ``identity`` columns equal ``key``."""
    if not values:
        return
    assignments = ", ".join(f"{quote(c)} = ?" for c in values)
    sql = f"UPDATE {quote(table)} SET {assignments} WHERE {_where(identity)}"
    conn.execute(sql, (*values.values(), *key))


def delete(conn: sqlite3.Connection, table: str, identity: Sequence[str], key: Sequence[Any]) -> None:
    conn.execute(f"DELETE FROM {quote(table)} WHERE {_where(identity)}", tuple(key))
