"""The ``nerv-export`` document, streamed from one read transaction.

Two layouts of the same content:

json (one record per line inside the arrays, so it streams and stays valid JSON)::

    {"format":"nerv-export","version":1,"schema_version":4,"exported_at":1700000000000,...,"tables":{
    "projects":[
    {"id":"...","name":"...",...},
    {"id":"...","name":"...",...}
    ],
    "project_repos":[],
    ...
    }}

ndjson (one JSON object per line: a header, the rows, and an end line whose
counts let an import tell a complete file from a truncated one)::

    {"format":"nerv-export","version":1,"schema_version":4,"exported_at":...,"project":null,...}
    {"table":"projects","row":{"id":"...",...}}
    {"end":{"rows":{"projects":2,...}}}

Rows are objects keyed by column name, in the table's column order; tables in
the fixed parent-first order of ``tables.KNOWN_ORDER`` then any others; rows by
primary key (rowid when there is none). Values are JSON scalars; the two
SQLite values JSON cannot hold are wrapped: a BLOB as ``{"$base64": "..."}``,
an infinite REAL as ``{"$float": "inf"}``.
"""

from __future__ import annotations

import base64
import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from nerv import __version__
from nerv.ids import now_ms
from nerv.transfer import FORMAT_NAME, FORMAT_VERSION
from nerv.transfer.progress import Progress, silent
from nerv.transfer.tables import TableInfo, list_tables, quote, schema_version

FORMATS = ("json", "ndjson")
FETCH = 2000


@dataclass
class ExportSummary:
    format: str
    schema_version: int
    exported_at: int
    project: str | None
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$base64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def _special_float(value: float) -> Any:
    if math.isnan(value):
        return {"$float": "nan"}
    return {"$float": "inf" if value > 0 else "-inf"}


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_default).encode


def encode_row(row: dict[str, Any]) -> str:
    try:
        return _dumps(row)
    except ValueError:  # an infinite REAL: the one float JSON cannot spell
        fixed = {
            k: _special_float(v) if isinstance(v, float) and not math.isfinite(v) else v
            for k, v in row.items()
        }
        return _dumps(fixed)


def header(version: int, exported_at: int, project: str | None) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "schema_version": version,
        "exported_at": exported_at,
        "project": project,
        "generator": f"nerv {__version__}",
    }


# -- what to export ----------------------------------------------------------------------


Scope = tuple[str, tuple[Any, ...]]  # WHERE clause and its parameters


def project_scopes(tables: list[TableInfo], project_id: str) -> dict[str, Scope]:
    """Which rows of each table belong to one project ("what hangs off it").

    ``projects``: the project itself; a table with a ``project_id`` column: its
    rows; a table with a foreign key into a scoped table: the rows pointing at
    scoped rows (metrics through their session); ``audit_log``: the entries about
    any exported row. Tables related to no project (global settings and rules
    are rows with a NULL project_id) contribute nothing else.
    """
    by_name = {t.name: t for t in tables}
    scopes: dict[str, Scope | None] = {}

    def scope(name: str, seen: frozenset[str]) -> Scope | None:
        if name in scopes:
            return scopes[name]
        info = by_name[name]
        found: Scope | None = None
        if name == "projects":
            found = ("id = ?", (project_id,))
        elif "project_id" in info.column_set:
            found = ("project_id = ?", (project_id,))
        else:
            for column, parent, parent_column in sorted(info.foreign_keys):
                if parent == name or parent in seen or parent not in by_name:
                    continue
                parent_scope = scope(parent, seen | {name})
                if parent_scope is None:
                    continue
                target = parent_column or (by_name[parent].key[0] if by_name[parent].key else "rowid")
                inner = f"SELECT {quote(target)} FROM {quote(parent)} WHERE {parent_scope[0]}"
                found = (f"{quote(column)} IN ({inner})", parent_scope[1])
                break
        scopes[name] = found
        return found

    for info in tables:
        if info.name != "audit_log":
            scope(info.name, frozenset())
    result: dict[str, Scope] = {name: s for name, s in scopes.items() if s is not None}
    if "audit_log" in by_name:
        parts: list[str] = []
        params: list[Any] = []
        for info in tables:
            if info.name in result and "id" in info.column_set:
                parts.append(f"SELECT id FROM {info.q} WHERE {result[info.name][0]}")
                params.extend(result[info.name][1])
        if parts:
            result["audit_log"] = (f"entity_id IN ({' UNION ALL '.join(parts)})", tuple(params))
    return result


# -- writing ------------------------------------------------------------------------------


def export(
    conn: sqlite3.Connection,
    out: TextIO,
    *,
    fmt: str = "json",
    project_id: str | None = None,
    progress: Progress = silent,
    exported_at: int | None = None,
) -> ExportSummary:
    """Write the whole database (or one project) to ``out``; memory use does not grow with the rows."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    conn.execute("BEGIN")  # one snapshot for every table, however busy the writers are
    try:
        tables = list_tables(conn)
        scopes = project_scopes(tables, project_id) if project_id is not None else None
        selected = [t for t in tables if scopes is None or t.name in scopes]
        summary = ExportSummary(fmt, schema_version(conn), exported_at or now_ms(), project_id)
        queries: list[tuple[TableInfo, str, tuple[Any, ...]]] = []
        total = 0
        for info in selected:
            where, params = scopes[info.name] if scopes is not None else ("", ())
            clause = f" WHERE {where}" if where else ""
            columns = ", ".join(quote(c) for c in info.columns)
            queries.append((info, f"SELECT {columns} FROM {info.q}{clause} ORDER BY {info.order_by}", params))
            total += int(conn.execute(f"SELECT count(*) FROM {info.q}{clause}", params).fetchone()[0])
        head = header(summary.schema_version, summary.exported_at, project_id)
        with progress("export", total) as advance:
            if fmt == "json":
                _write_json(conn, out, head, queries, summary, advance)
            else:
                _write_ndjson(conn, out, head, queries, summary, advance)
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")
    return summary


def _rows(conn: sqlite3.Connection, info: TableInfo, sql: str, params: tuple[Any, ...]) -> Any:
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(sql, params)
    columns = info.columns
    while True:
        batch = cursor.fetchmany(FETCH)
        if not batch:
            return
        yield [encode_row(dict(zip(columns, row, strict=True))) for row in batch]


def _write_json(
    conn: sqlite3.Connection,
    out: TextIO,
    head: dict[str, Any],
    queries: list[tuple[TableInfo, str, tuple[Any, ...]]],
    summary: ExportSummary,
    advance: Callable[[int], None],
) -> None:
    out.write(json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1] + ',"tables":{\n')
    for position, (info, sql, params) in enumerate(queries):
        after = "," if position < len(queries) - 1 else ""
        out.write(json.dumps(info.name, ensure_ascii=False) + ":[")
        count = 0
        for batch in _rows(conn, info, sql, params):
            lead = ",\n" if count else "\n"
            out.write(lead + ",\n".join(batch))
            count += len(batch)
            advance(len(batch))
        out.write(("\n]" if count else "]") + after + "\n")
        summary.rows[info.name] = count
    out.write("}}\n")


def _write_ndjson(
    conn: sqlite3.Connection,
    out: TextIO,
    head: dict[str, Any],
    queries: list[tuple[TableInfo, str, tuple[Any, ...]]],
    summary: ExportSummary,
    advance: Callable[[int], None],
) -> None:
    out.write(json.dumps(head, ensure_ascii=False, separators=(",", ":")) + "\n")
    for info, sql, params in queries:
        prefix = '{"table":' + json.dumps(info.name, ensure_ascii=False) + ',"row":'
        count = 0
        for batch in _rows(conn, info, sql, params):
            out.write("".join(prefix + row + "}\n" for row in batch))
            count += len(batch)
            advance(len(batch))
        summary.rows[info.name] = count
    out.write(json.dumps({"end": {"rows": summary.rows}}, ensure_ascii=False, separators=(",", ":")) + "\n")
