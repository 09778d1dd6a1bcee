"""Merging an export file into the database: validate everything, then apply in one transaction.

Pass 1 reads the whole file without touching the database: layout, header,
known tables and columns, value types, primary keys and required columns. The
first problem is reported with its line (and record number) and nothing is
changed.

Pass 2 applies every record inside one ``BEGIN IMMEDIATE`` transaction, with
foreign keys deferred to the commit (a record may refer to one that comes
later, e.g. a decision superseded by a newer one). For each record:

- absent (by primary key): inserted as is: ids, statuses, links and timestamps
  are the file's;
- present with the same content: nothing happens, so importing a file twice
  changes nothing the second time;
- present with different content, or clashing with another record on a
  unique key (one setting per key and scope, say): a conflict. ``fail``
  (default) reports the first one and changes nothing; ``skip`` keeps the
  database's record; ``overwrite`` takes the file's (the clashing record is
  replaced). Audit rows are append-only: they are added when missing, never
  changed, and a differing one is a conflict that ``overwrite`` cannot take.

Triggers on metrics add each metric to its session's totals, while the file
already holds the sessions with their totals. Every session row taken from the
file is therefore remembered (in a temporary table) and set back to the
file's values once all records are in: the round trip is exact and sessions
kept from the database still count the metrics added to them.

An import that changes anything writes one audit row of its own (entity
``import``); one that changes nothing writes nothing. Everything, audit row
included, commits or rolls back together: a crash or ``kill -9`` half way
leaves the database as it was.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerv.db.connection import explain
from nerv.db.tempfiles import announce_writer
from nerv.errors import DatabaseError
from nerv.ids import new_id
from nerv.store import audit, verbatim
from nerv.transfer.checks import totals_sql
from nerv.transfer.derived import (
    AllowRule,
    allow_rules,
    column_kinds,
    fix_derived,
    type_problem,
    widening_rules,
)
from nerv.transfer.errors import ExportFileError, ImportConflictError, ImportRefusedError
from nerv.transfer.progress import Progress, silent
from nerv.transfer.reader import ExportFile, Header, Record, decode_value
from nerv.transfer.tables import TableInfo, list_tables, quote, schema_version

if TYPE_CHECKING:
    from nerv.service import DatabaseService

ON_CONFLICT = ("fail", "skip", "overwrite")
PROGRESS_EVERY = 2000
_PLAIN = frozenset({str, int, float, type(None)})
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_DIGITS = bytes.maketrans(b"0123456789", b"9999999999")
_LONG_RUN = b"9" * 19
BATCH = 256  # records looked up together, and inserted with one executemany when new
# Page cache for the import's one big transaction (the default is 2 MiB): dirty index pages
# are spilled to the WAL far less often. Bounded, whatever the file's size; at 1,000,000 rows
# it halves the time (measured in bench/bench_transfer.py).
IMPORT_CACHE_KIB = 32 * 1024


@dataclass
class TableCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


@dataclass
class ImportResult:
    path: str
    layout: str
    export_version: int
    schema_version: int
    exported_at: int
    on_conflict: str
    dry_run: bool
    records: int = 0
    tables: dict[str, TableCounts] = field(default_factory=dict)
    conflicts: int = 0
    audit_id: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        return sum(c.inserted for c in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.tables.values())

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.tables.values())

    @property
    def unchanged(self) -> int:
        return sum(c.unchanged for c in self.tables.values())

    @property
    def changed(self) -> bool:
        return self.inserted + self.updated > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "layout": self.layout,
            "export_version": self.export_version,
            "schema_version": self.schema_version,
            "exported_at": self.exported_at,
            "on_conflict": self.on_conflict,
            "dry_run": self.dry_run,
            "records": self.records,
            "changed": self.changed,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "conflicts": self.conflicts,
            "audit_id": self.audit_id,
            "warnings": list(self.warnings),
            "tables": {
                name: {
                    "inserted": c.inserted,
                    "updated": c.updated,
                    "unchanged": c.unchanged,
                    "skipped": c.skipped,
                }
                for name, c in self.tables.items()
            },
        }


# -- pass 1: validation ----------------------------------------------------------------------


def _bad(path: Path, record: Record, message: str) -> ExportFileError:
    return ExportFileError(f"{path.name}: {record.where}: {message}")


def clean_row(path: Path, info: TableInfo, record: Record, *, check_ints: bool = True) -> dict[str, Any]:
    """The record's row with values ready to bind; raises ExportFileError naming the record.

    Hot path of both passes: the common record (plain scalars, every needed
    column present) is checked with C-level set and map operations only.
    """
    row = record.row
    kinds = set(map(type, row.values()))
    fixed = None if kinds <= _PLAIN else _convert(path, record)
    # An integer SQLite cannot hold has 19+ digits: only then look at each value.
    if check_ints and int in kinds and (record.raw is None or _LONG_RUN in record.raw.translate(_DIGITS)):
        for column, value in row.items():
            if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
                raise _bad(path, record, f"{column}: integer {value} is out of SQLite's range")
    if not row.keys() <= info.column_set:
        unknown = sorted(set(row) - info.column_set)
        raise _bad(path, record, f"unknown column(s) {', '.join(unknown)} in table {info.name}")
    if None in map(row.get, info.needed):
        for column in info.key:
            if row.get(column) is None:
                raise _bad(path, record, f"the primary key {column} is missing")
        for column in info.needed:
            if row.get(column) is None:
                raise _bad(path, record, f"{column} is required")
    return row if fixed is None else fixed


def _convert(path: Path, record: Record) -> dict[str, Any]:
    """A copy of the row with JSON booleans and wrapped values turned into column values."""
    row = record.row
    fixed: dict[str, Any] | None = None
    for column, value in row.items():
        kind = type(value)
        if kind in _PLAIN:
            continue
        if kind is bool:
            new: Any = int(value)
        elif kind is dict:
            try:
                new = decode_value(value)
            except ValueError:
                raise _bad(
                    path, record, f'{column}: an object is not a column value (only {{"$base64": ...}})'
                ) from None
        else:
            raise _bad(path, record, f"{column}: a {kind.__name__} is not a column value")
        if fixed is None:
            fixed = dict(row)
        fixed[column] = new
    assert fixed is not None
    return fixed


def validate(
    source: ExportFile,
    tables: dict[str, TableInfo],
    progress: Progress = silent,
    kinds: dict[str, dict[str, frozenset[type]]] | None = None,
) -> dict[str, int]:
    """Pass 1: check every record (shape, column types, derived columns); counts per table."""
    counts: dict[str, int] = {}
    kinds = kinds or {}
    with progress("validate", max(source.size, 1)) as advance:
        for record in source.records(on_bytes=advance):
            info = tables.get(record.table)
            if info is None:
                raise _bad(
                    source.path, record, f"unknown table {record.table!r} (not in this database's schema)"
                )
            typed_row(source.path, info, record, kinds.get(record.table))
            counts[record.table] = counts.get(record.table, 0) + 1
    return counts


def typed_row(
    path: Path,
    info: TableInfo,
    record: Record,
    kinds: dict[str, frozenset[type]] | None,
    *,
    check_ints: bool = True,
) -> dict[str, Any]:
    """``clean_row`` plus the column types of nerv's tables and recomputed derived columns."""
    row = clean_row(path, info, record, check_ints=check_ints)
    if kinds:
        problem = type_problem(row, kinds)
        if problem is not None:
            raise _bad(path, record, problem)
    try:
        return fix_derived(info.name, row)
    except ValueError as exc:
        raise _bad(path, record, str(exc)) from None


# -- pass 2: applying ------------------------------------------------------------------------


class _Applier:
    def __init__(
        self,
        conn: sqlite3.Connection,
        source: ExportFile,
        tables: dict[str, TableInfo],
        result: ImportResult,
    ) -> None:
        self.conn = conn
        self.source = source
        self.path = source.path
        self.tables = tables
        self.result = result
        self.mode = result.on_conflict
        self.first_conflict: str | None = None
        self._batch: list[tuple[Record, dict[str, Any]]] = []
        self._batch_info: TableInfo | None = None
        self._batch_columns: tuple[str, ...] = ()
        self.kinds: dict[str, dict[str, frozenset[type]]] = {}
        self._reconcile = any(t.trigger_target for t in tables.values())
        if self._reconcile:
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS nerv_import_accepted "
                "(tbl TEXT NOT NULL, key TEXT NOT NULL, row TEXT NOT NULL, PRIMARY KEY (tbl, key))"
            )
            conn.execute("DELETE FROM temp.nerv_import_accepted")

    # -- SQL helpers

    def _insert(self, info: TableInfo, row: dict[str, Any]) -> None:
        verbatim.insert(self.conn, info.name, tuple(row), tuple(row.values()))

    def _key_clause(self, info: TableInfo) -> str:
        return " AND ".join(f"{quote(c)} IS ?" for c in info.identity)

    def _existing(self, info: TableInfo, key: tuple[Any, ...]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(
            f"SELECT * FROM {info.q} WHERE {self._key_clause(info)}", key
        ).fetchone()
        return row

    def _update(self, info: TableInfo, key: tuple[Any, ...], values: dict[str, Any]) -> None:
        verbatim.update(self.conn, info.name, info.identity, key, values)

    def _refused(self, record: Record, exc: sqlite3.Error) -> ImportRefusedError:
        return ImportRefusedError(
            f"{self.path.name}: {record.where}: the database refused it ({exc}); nothing was imported"
        )

    # -- batches

    def add(self, info: TableInfo, record: Record, row: dict[str, Any]) -> None:
        """Apply one record, batched with its neighbours of the same table and columns."""
        columns = tuple(row)
        if info is not self._batch_info or columns != self._batch_columns:
            self.flush()
            self._batch_info, self._batch_columns = info, columns
        if len(info.key) != 1:
            self.apply(info, record, row)
            return
        self._batch.append((record, row))
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """One lookup for the whole batch, then the new records in one executemany."""
        batch, info = self._batch, self._batch_info
        if not batch or info is None:
            return
        self._batch = []
        key = info.key[0]
        counts = self.result.tables.setdefault(info.name, TableCounts())
        wanted = [row[key] for _, row in batch]
        found = {
            r[key]: r
            for r in self.conn.execute(
                f"SELECT * FROM {info.q} WHERE {quote(key)} IN ({', '.join('?' for _ in wanted)})", wanted
            )
        }
        new: list[tuple[Record, dict[str, Any]]] = []
        for record, row in batch:
            existing = found.get(row[key])
            if existing is None:
                new.append((record, row))
            else:
                self._compare(info, record, row, (row[key],), existing, counts)
        if len(new) > 1:
            self.conn.execute("SAVEPOINT nerv_import_batch")
            try:
                verbatim.insert_many(
                    self.conn, info.name, self._batch_columns, [tuple(r.values()) for _, r in new]
                )
            except sqlite3.IntegrityError:
                # A clash on another unique key, or a record twice: undo, take them one by one.
                self.conn.execute("ROLLBACK TO nerv_import_batch")
                self.conn.execute("RELEASE nerv_import_batch")
            else:
                self.conn.execute("RELEASE nerv_import_batch")
                counts.inserted += len(new)
                if info.trigger_target:
                    self.conn.executemany(
                        "INSERT OR REPLACE INTO temp.nerv_import_accepted (tbl, key, row) VALUES (?, ?, ?)",
                        [(info.name, json.dumps([row[key]]), json.dumps(rec.row)) for rec, row in new],
                    )
                return
        for record, row in new:
            self.apply(info, record, row)

    # -- one record

    def apply(self, info: TableInfo, record: Record, row: dict[str, Any]) -> None:
        counts = self.result.tables.setdefault(info.name, TableCounts())
        key = tuple(row.get(c) for c in info.identity)
        if not info.key and self._existing(info, key) is not None:
            counts.unchanged += 1
            return
        try:
            self._insert(info, row)
        except sqlite3.IntegrityError as exc:
            existing = self._existing(info, key) if info.key else None
            if existing is None:
                self._clash(info, record, row, exc, counts)
            else:
                self._compare(info, record, row, key, existing, counts)
            return
        counts.inserted += 1
        self._accept(info, record, key)

    def _accept(self, info: TableInfo, record: Record, key: tuple[Any, ...]) -> None:
        if info.trigger_target:
            self.conn.execute(
                "INSERT OR REPLACE INTO temp.nerv_import_accepted (tbl, key, row) VALUES (?, ?, ?)",
                (info.name, json.dumps(list(key)), json.dumps(record.row)),
            )

    def _compare(
        self,
        info: TableInfo,
        record: Record,
        row: dict[str, Any],
        key: tuple[Any, ...],
        existing: sqlite3.Row,
        counts: TableCounts,
    ) -> None:
        differing = [c for c, v in row.items() if existing[c] != v]
        if not differing:
            counts.unchanged += 1
            self._accept(info, record, key)
            return
        shown = ", ".join(differing[:5]) + (", ..." if len(differing) > 5 else "")
        what = f"{info.name} record {_show_key(key)} exists with different content ({shown})"
        if info.append_only and self.mode == "overwrite":
            raise ImportConflictError(
                f"{self.path.name}: {record.where}: {what}; {info.name} is append-only, its rows are never "
                "changed; nothing was imported"
            )
        if self.mode == "overwrite":
            try:
                self._update(info, key, {c: row[c] for c in differing})
            except sqlite3.IntegrityError as exc:
                raise self._refused(record, exc) from None
            counts.updated += 1
            self._accept(info, record, key)
        else:
            self._conflict(record, what, counts)

    def _clash(
        self,
        info: TableInfo,
        record: Record,
        row: dict[str, Any],
        exc: sqlite3.IntegrityError,
        counts: TableCounts,
    ) -> None:
        if not str(exc).startswith("UNIQUE constraint failed"):
            raise self._refused(record, exc) from None
        other = self._clashing_key(info, row)
        key = tuple(row.get(c) for c in info.identity)
        holder = _show_key(other) if other else "?"
        what = f"{info.name} record {_show_key(key)} clashes with record {holder} ({exc})"
        local = self._existing(info, other) if other is not None and info.key else None
        if local is not None and _equivalent(info, local, row):
            # The same thing made twice (nerv seeds default rules into every new database):
            # the file's copy takes its place unless the database's has a history of its own.
            if self.mode == "skip":
                counts.skipped += 1
                return
            if self.mode == "fail" and self._has_history(other):
                counts.unchanged += 1
                return
        elif self.mode != "overwrite":
            self._conflict(record, what, counts)
            return
        if other is None or info.append_only:
            raise ImportConflictError(f"{self.path.name}: {record.where}: {what}; cannot overwrite it")
        try:
            verbatim.delete(self.conn, info.name, info.identity, other)
            self._insert(info, row)
        except sqlite3.IntegrityError as again:
            raise self._refused(record, again) from None
        counts.updated += 1
        self._accept(info, record, key)

    def _has_history(self, key: tuple[Any, ...] | None) -> bool:
        if key is None or len(key) != 1 or "audit_log" not in self.tables:
            return True
        return (
            self.conn.execute("SELECT 1 FROM audit_log WHERE entity_id = ? LIMIT 1", key).fetchone()
            is not None
        )

    def _clashing_key(self, info: TableInfo, row: dict[str, Any]) -> tuple[Any, ...] | None:
        """The identity of the database record that holds one of ``row``'s unique keys."""
        given = ", ".join(f"? AS {quote(c)}" for c in info.columns)
        values = tuple(row.get(c) for c in info.columns)
        identity = ", ".join(quote(c) for c in info.identity)
        for unique in info.uniques:
            exprs = ", ".join(unique.expressions)
            where = f" AND ({unique.where})" if unique.where else ""
            sql = (
                f"SELECT {identity} FROM {info.q} WHERE ({exprs}) = "
                f"(SELECT {exprs} FROM (SELECT {given})){where} LIMIT 1"
            )
            try:
                found = self.conn.execute(sql, values).fetchone()
            except sqlite3.Error:
                continue
            if found is not None:
                return tuple(found)
        return None

    def _conflict(self, record: Record, what: str, counts: TableCounts) -> None:
        if self.mode == "skip":
            counts.skipped += 1
            return
        self.result.conflicts += 1
        if self.first_conflict is None:
            self.first_conflict = f"{record.where}: {what}"

    # -- after the last record

    def reconcile(self) -> int:
        """Put the file's values back into rows that triggers changed during the import."""
        if not self._reconcile:
            return 0
        fixed = 0
        cursor = self.conn.cursor()
        cursor.execute("SELECT tbl, key, row FROM temp.nerv_import_accepted ORDER BY rowid")
        for batch in iter(lambda: cursor.fetchmany(1000), []):  # streamed: memory stays flat
            for table, key_json, row_json in batch:
                info = self.tables[table]
                key = tuple(json.loads(key_json))
                row = clean_row(self.path, info, Record(table, json.loads(row_json), 0, 0))
                existing = self._existing(info, key)
                if existing is None:
                    continue
                differing = {c: v for c, v in row.items() if existing[c] != v}
                if differing:
                    self._update(info, key, differing)
                    fixed += 1
        self._check_totals()
        self.conn.execute("DELETE FROM temp.nerv_import_accepted")
        return fixed

    def _check_totals(self) -> None:
        """Refuse a session from the file whose totals are below (or beside) its metrics."""
        info = self.tables.get("claude_sessions")
        if info is None or "metrics" not in self.tables:
            return
        sql = totals_sql(
            "SELECT json_extract(key, '$[0]') FROM temp.nerv_import_accepted WHERE tbl = 'claude_sessions'"
        )
        row = self.conn.execute(sql + " LIMIT 1").fetchone()
        if row is None:
            return
        found = _locate(self.source, "claude_sessions", info, (row[0],))
        where = found or f"claude_sessions record {row[0]!r}"
        raise ImportRefusedError(
            f"{self.path.name}: {where}: the session's {row[1]} is {row[2]} but its metrics add up to "
            f"{row[3]} (totals are what was recorded on the session plus its metrics); nothing was imported"
        )


# Columns that say when and under which id a record was made, not what it is.
_BOOKKEEPING = frozenset({"created_at", "updated_at"})


def _equivalent(info: TableInfo, local: sqlite3.Row, row: dict[str, Any]) -> bool:
    """Same content apart from the id and the creation / update times."""
    skip = _BOOKKEEPING | set(info.key)
    return all(local[c] == v for c, v in row.items() if c not in skip)


def _show_key(key: tuple[Any, ...]) -> str:
    return repr(key[0]) if len(key) == 1 else repr(key)


def import_file(
    service: DatabaseService,
    path: Path,
    *,
    on_conflict: str = "fail",
    dry_run: bool = False,
    progress: Progress = silent,
) -> ImportResult:
    """Validate ``path`` completely, then merge it into the service's database in one transaction."""
    if on_conflict not in ON_CONFLICT:
        raise ValueError(f"on_conflict must be one of {', '.join(ON_CONFLICT)}")
    started = time.perf_counter()
    conn = service.connection
    tables = {t.name: t for t in list_tables(conn)}
    source = ExportFile(path, schema_version(conn))
    header = source.header
    kinds = {name: column_kinds(conn, info) for name, info in tables.items()}
    counts = validate(source, tables, progress, kinds)
    result = ImportResult(
        path=str(path),
        layout=source.layout,
        export_version=header.version,
        schema_version=header.schema_version,
        exported_at=header.exported_at,
        on_conflict=on_conflict,
        dry_run=dry_run,
        records=sum(counts.values()),
    )
    cache = int(conn.execute("PRAGMA cache_size").fetchone()[0])
    conn.execute(f"PRAGMA cache_size = {-IMPORT_CACHE_KIB}")
    announced = (
        announce_writer(service.path, f"nerv import {path.name}")
        if service.path is not None and str(service.path) != ":memory:"
        else contextlib.nullcontext()
    )
    try:
        with announced:
            return _import(service, conn, source, tables, kinds, result, header, dry_run, progress, started)
    finally:
        conn.execute(f"PRAGMA cache_size = {cache}")


def _import(
    service: DatabaseService,
    conn: sqlite3.Connection,
    source: ExportFile,
    tables: dict[str, TableInfo],
    kinds: dict[str, dict[str, frozenset[type]]],
    result: ImportResult,
    header: Header,
    dry_run: bool,
    progress: Progress,
    started: float,
) -> ImportResult:
    path = source.path
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise DatabaseError(explain(exc, None, "cannot import", conn)) from None
    try:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        rules_before = allow_rules(conn)
        applier = _Applier(conn, source, tables, result)
        applier.kinds = kinds
        try:
            _apply_all(applier, source, tables, result, progress)
        except OverflowError:  # pass 1 rules this out unless the file changed meanwhile
            raise ExportFileError(
                f"{path.name}: an integer is out of SQLite's range; nothing was imported"
            ) from None
        applier.reconcile()
        _warn_widening(conn, rules_before, result)
        if result.conflicts:
            raise ImportConflictError(
                f"{path.name}: {result.conflicts} conflict(s); first at {applier.first_conflict}; "
                "nothing was imported (use --on-conflict skip to keep the database's records, "
                "overwrite to take the file's)"
            )
        if dry_run:
            _check_references(conn, source, tables)
            conn.execute("ROLLBACK")
        else:
            if result.changed:
                result.audit_id = new_id()
                details = _audit_details(result, header)
                audit.write(conn, service.actor, "import", result.audit_id, "import", None, details)
            _commit(conn, source, tables)
    except sqlite3.OperationalError as exc:  # a full disk, an I/O error: all of it rolls back
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise DatabaseError(explain(exc, None, "import failed, nothing was imported", conn)) from None
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    result.seconds = time.perf_counter() - started
    return result


def _apply_all(
    applier: _Applier,
    source: ExportFile,
    tables: dict[str, TableInfo],
    result: ImportResult,
    progress: Progress,
) -> None:
    with progress("import", max(result.records, 1)) as advance:
        pending = 0
        for record in source.records():
            info = tables.get(record.table)
            if info is None:  # the file changed since it was validated
                raise _bad(source.path, record, f"unknown table {record.table!r}")
            # Pass 1 checked the integers; binding one SQLite cannot hold raises OverflowError.
            row = typed_row(source.path, info, record, applier.kinds.get(info.name), check_ints=False)
            applier.add(info, record, row)
            pending += 1
            if pending == PROGRESS_EVERY:
                advance(pending)
                pending = 0
        applier.flush()
        advance(pending)


def _warn_widening(conn: sqlite3.Connection, before: list[AllowRule], result: ImportResult) -> None:
    """Say so when the import lets agents do more than any rule of the database did."""
    existing = set(before)
    widening = widening_rules(before, [r for r in allow_rules(conn) if r not in existing])
    if widening:
        shown = ", ".join(r.text for r in widening[:5]) + (", ..." if len(widening) > 5 else "")
        result.warnings.append(
            f"{len(widening)} imported allow rule(s) allow more than any rule this database had: {shown} "
            "(review them with `nerv rules list`)"
        )


def _audit_details(result: ImportResult, header: Header) -> dict[str, Any]:
    return {
        "file": result.path,
        "layout": result.layout,
        "export_version": header.version,
        "schema_version": header.schema_version,
        "exported_at": header.exported_at,
        "project": header.project,
        "on_conflict": result.on_conflict,
        "inserted": result.inserted,
        "updated": result.updated,
        "skipped": result.skipped,
        "tables": {
            name: {
                k: v
                for k, v in (("inserted", c.inserted), ("updated", c.updated), ("skipped", c.skipped))
                if v
            }
            for name, c in result.tables.items()
            if c.inserted or c.updated or c.skipped
        },
    }


def _commit(conn: sqlite3.Connection, source: ExportFile, tables: dict[str, TableInfo]) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.IntegrityError:
        # Deferred foreign keys: the transaction is still open; find the culprit, then roll back.
        _check_references(conn, source, tables)
        raise ImportRefusedError(
            f"{source.path.name}: a record refers to a missing record; nothing was imported"
        ) from None
    except sqlite3.OperationalError as exc:
        raise DatabaseError(explain(exc, None, "import failed, nothing was imported", conn)) from None


def _check_references(conn: sqlite3.Connection, source: ExportFile, tables: dict[str, TableInfo]) -> None:
    violation = conn.execute("PRAGMA foreign_key_check").fetchone()
    if violation is None:
        return
    table, rowid, parent = str(violation[0]), violation[1], str(violation[2])
    info = tables.get(table)
    where = ""
    if info is not None and rowid is not None and info.key:
        key_row = conn.execute(
            f"SELECT {', '.join(quote(c) for c in info.key)} FROM {info.q} WHERE rowid = ?", (rowid,)
        ).fetchone()
        if key_row is not None:
            key = tuple(key_row)
            where = _locate(source, table, info, key) or f"{table} record {_show_key(key)}"
    raise ImportRefusedError(
        f"{source.path.name}: {where or table}: refers to a {parent} record that is neither in the file nor "
        "in the database; nothing was imported"
    )


def _locate(source: ExportFile, table: str, info: TableInfo, key: tuple[Any, ...]) -> str | None:
    """Where a record is in the file (one more pass, only when reporting an error)."""
    try:
        for record in source.records():
            if record.table == table and tuple(record.row.get(c) for c in info.key) == key:
                return record.where
    except ExportFileError:
        return None
    return None
