"""What the transfer tools need to know about the tables, read from the database itself.

Nothing here lists columns by hand: other migrations add tables and columns,
and export / import must carry every one of them. The only fixed knowledge is
the preferred table *order* (parents before children, so an import into an
empty database meets the references it needs in order), with every table this
code does not know appended after, sorted by its own foreign keys.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field

# Parents first. Unknown tables (later migrations) follow, ordered by their foreign keys.
KNOWN_ORDER = (
    "projects",
    "project_repos",
    "cycles",
    "tasks",
    "claude_sessions",
    "approval_rules",
    "approval_requests",
    "decisions",
    "metrics",
    "audit_log",
    "settings",
)

# Bookkeeping that belongs to the database file, not to the data in it.
# Bookkeeping and derived tables: project_costs is rebuilt by triggers as the
# sessions are imported.
EXCLUDED = frozenset({"schema_migrations", "project_costs"})

# Append-only tables: import may add rows, never change one.
APPEND_ONLY = frozenset({"audit_log"})


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class UniqueKey:
    """A UNIQUE constraint other than the primary key, as SQL expressions over the columns."""

    name: str
    expressions: tuple[str, ...]
    where: str | None = None


@dataclass
class TableInfo:
    name: str
    columns: tuple[str, ...]
    # Primary-key columns in key order; empty when the table has none (rows are
    # then identified by their whole content).
    key: tuple[str, ...]
    has_rowid: bool
    # Columns a row must give: NOT NULL without a default (and not a rowid alias).
    required: frozenset[str]
    uniques: tuple[UniqueKey, ...] = ()
    # table -> column pairs of this table's foreign keys: (column, parent table, parent column)
    foreign_keys: tuple[tuple[str, str, str], ...] = ()
    # Triggers on other tables write into this one (e.g. metrics -> claude_sessions
    # totals): import puts the file's values back after inserting the writers.
    trigger_target: bool = False
    column_set: frozenset[str] = field(default_factory=frozenset)
    # Columns that must be present and non-NULL in an imported row: key first.
    needed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.column_set = frozenset(self.columns)
        self.needed = self.key + tuple(sorted(self.required - set(self.key)))

    @property
    def q(self) -> str:
        return quote(self.name)

    @property
    def identity(self) -> tuple[str, ...]:
        """Columns that identify a row: the primary key, else every column."""
        return self.key or self.columns

    @property
    def order_by(self) -> str:
        if self.key:
            return ", ".join(quote(c) for c in self.key)
        return "rowid" if self.has_rowid else ", ".join(quote(c) for c in self.columns)

    @property
    def append_only(self) -> bool:
        return self.name in APPEND_ONLY


def list_tables(conn: sqlite3.Connection) -> list[TableInfo]:
    """Every data table of the main schema, in export / import order."""
    rows = conn.execute("PRAGMA main.table_list").fetchall()
    names: dict[str, bool] = {}  # name -> has rowid
    for row in rows:
        schema_name, name, kind, _ncol, without_rowid = row[0], row[1], row[2], row[3], row[4]
        if schema_name != "main" or kind != "table":
            continue  # views, virtual tables and their shadow tables are not data of their own
        if name.startswith("sqlite_") or name in EXCLUDED:
            continue
        names[name] = not without_rowid
    targets = _trigger_targets(conn)
    infos = {name: _table_info(conn, name, has_rowid, name in targets) for name, has_rowid in names.items()}
    return [infos[name] for name in _order(infos)]


def _table_info(conn: sqlite3.Connection, name: str, has_rowid: bool, trigger_target: bool) -> TableInfo:
    q = quote(name)
    info = conn.execute(f"PRAGMA main.table_xinfo({q})").fetchall()
    columns: list[str] = []
    key: list[tuple[int, str]] = []
    required: set[str] = set()
    for _cid, column, _ctype, notnull, default, pk, hidden in (tuple(r) for r in info):
        if hidden:  # generated columns are computed, not stored data
            continue
        columns.append(column)
        if pk:
            key.append((pk, column))
        if notnull and default is None:
            required.add(column)
    key_columns = tuple(c for _, c in sorted(key))
    # An INTEGER PRIMARY KEY is the rowid: SQLite fills it in when absent.
    if len(key_columns) == 1 and has_rowid:
        ctype = next(str(r[2]) for r in info if r[1] == key_columns[0])
        if ctype.upper() == "INTEGER":
            required.discard(key_columns[0])
    fks = tuple(
        (str(r[3]), str(r[2]), str(r[4]) if r[4] is not None else "")
        for r in conn.execute(f"PRAGMA main.foreign_key_list({q})").fetchall()
    )
    return TableInfo(
        name=name,
        columns=tuple(columns),
        key=key_columns,
        has_rowid=has_rowid,
        required=frozenset(required),
        uniques=_unique_keys(conn, name, set(key_columns)),
        foreign_keys=fks,
        trigger_target=trigger_target,
    )


def _unique_keys(conn: sqlite3.Connection, table: str, key: set[str]) -> tuple[UniqueKey, ...]:
    found: list[UniqueKey] = []
    for row in conn.execute(f"PRAGMA main.index_list({quote(table)})").fetchall():
        index_name, unique, origin, partial = row[1], row[2], row[3], row[4]
        if not unique or origin == "pk":
            continue
        parts = conn.execute(f"PRAGMA main.index_xinfo({quote(index_name)})").fetchall()
        key_parts = [p for p in parts if p[5]]  # p[5]: key column (not the trailing rowid)
        if all(p[1] >= 0 for p in key_parts) and not partial:
            exprs = tuple(quote(str(p[2])) for p in key_parts)
            if set(p[2] for p in key_parts) == key:
                continue
            found.append(UniqueKey(index_name, exprs))
            continue
        sql_row = conn.execute(
            "SELECT sql FROM main.sqlite_master WHERE type = 'index' AND name = ?", (index_name,)
        ).fetchone()
        parsed = _parse_index_sql(str(sql_row[0])) if sql_row and sql_row[0] else None
        if parsed is not None:
            found.append(UniqueKey(index_name, parsed[0], parsed[1]))
    return tuple(found)


def _parse_index_sql(sql: str) -> tuple[tuple[str, ...], str | None] | None:
    """The key expressions (and WHERE clause) of ``CREATE UNIQUE INDEX ... ON t(e1, e2) [WHERE w]``."""
    match = re.search(r"\bON\s+(?:\"[^\"]+\"|\[[^\]]+\]|`[^`]+`|[\w.]+)\s*\(", sql, re.IGNORECASE)
    if match is None:
        return None
    depth, start, items = 1, match.end(), []
    i = start
    item_start = start
    in_quote: str | None = None
    while i < len(sql) and depth:
        ch = sql[i]
        if in_quote:
            if ch == in_quote:
                in_quote = None
        elif ch in "'\"`":
            in_quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                items.append(sql[item_start:i].strip())
        elif ch == "," and depth == 1:
            items.append(sql[item_start:i].strip())
            item_start = i + 1
        i += 1
    if depth:
        return None
    exprs = tuple(re.sub(r"\s+(ASC|DESC)$", "", e, flags=re.IGNORECASE) for e in items if e)
    rest = sql[i:].strip()
    where = None
    if rest:
        m = re.match(r"WHERE\s+(.*)$", rest, re.IGNORECASE | re.DOTALL)
        if m is None:
            return None
        where = m.group(1).strip()
    return exprs, where


_TRIGGER_UPDATE = re.compile(r"\bUPDATE\s+(?:OR\s+\w+\s+)?(\"[^\"]+\"|\[[^\]]+\]|`[^`]+`|\w+)\s+SET\b", re.I)


def _trigger_targets(conn: sqlite3.Connection) -> set[str]:
    """Tables that triggers on *other* tables update."""
    targets: set[str] = set()
    for _name, table, sql in conn.execute(
        "SELECT name, tbl_name, sql FROM main.sqlite_master WHERE type = 'trigger'"
    ).fetchall():
        for match in _TRIGGER_UPDATE.finditer(str(sql or "")):
            target = match.group(1).strip('"[]`')
            if target != table:
                targets.add(target)
    return targets


def _order(infos: dict[str, TableInfo]) -> list[str]:
    ordered = [name for name in KNOWN_ORDER if name in infos]
    placed = set(ordered)
    rest = sorted(n for n in infos if n not in placed)
    # Unknown tables: parents first (by their foreign keys), ties and cycles by name.
    while rest:
        for name in rest:
            parents = {p for _, p, _ in infos[name].foreign_keys if p != name and p in infos}
            if parents <= placed:
                break
        else:
            name = rest[0]
        ordered.append(name)
        placed.add(name)
        rest.remove(name)
    return ordered


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])
