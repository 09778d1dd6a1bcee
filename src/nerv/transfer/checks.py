"""Health checks and maintenance: integrity, references, schema version, WAL checkpoint, vacuum.

These open the file with a plain connection and never migrate it: a check
must report the database as it is, and must work on a damaged file.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from nerv.db.connection import (
    connect,
    connect_read_only,
    explain,
    loose_permissions,
    nerv_home_of,
    unwritable,
)
from nerv.db.migrations import MIGRATIONS, latest_version
from nerv.errors import DatabaseError

CHECKPOINT_MODES = ("passive", "full", "restart", "truncate")
WAL_WARN_BYTES = 64 * 1024 * 1024
MAX_MESSAGES = 20


def wal_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + "-wal")


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@dataclass
class CheckReport:
    path: str
    ok: bool = True
    integrity: list[str] = field(default_factory=list)
    foreign_key_violations: int = 0
    foreign_key_examples: list[str] = field(default_factory=list)
    schema_version: int | None = None
    latest_version: int = field(default_factory=latest_version)
    journal_mode: str | None = None
    db_bytes: int = 0
    wal_bytes: int = 0
    totals_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problem(self, message: str) -> None:
        self.ok = False
        self.problems.append(message)


def check_database(db_path: Path, *, quick: bool = False) -> CheckReport:
    """Integrity (or quick) check, foreign-key check, schema version and WAL size."""
    started = time.perf_counter()
    report = CheckReport(path=str(db_path))
    if not db_path.exists():
        report.problem(f"database not found: {db_path}")
        return report
    report.db_bytes = file_size(db_path)
    report.wal_bytes = file_size(wal_path(db_path))
    try:
        conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        report.problem(f"cannot open: {exc}")
        return report
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if unwritable(exc):
            # A read-only file system or a full disk: a read-only connection can still check it.
            conn.close()
            try:
                conn = connect_read_only(db_path, 30_000, exc)
            except DatabaseError as again:
                report.problem(f"cannot open: {again}")
                return report
            report.warnings.append(f"checked read-only: {explain(exc, None)}")
    except sqlite3.DatabaseError:
        pass  # a damaged file: _check reports what SQLite says about it
    report.warnings.extend(
        f"{found}: run any nerv command to tighten it, or chmod it"
        for found in loose_permissions(db_path, nerv_home_of(db_path))
    )
    try:
        _check(conn, report, quick)
    finally:
        conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _check(conn: sqlite3.Connection, report: CheckReport, quick: bool) -> None:
    try:
        report.journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        report.schema_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        report.problem(f"not a readable database: {exc}")
        return
    pragma = "quick_check" if quick else "integrity_check"
    try:
        report.integrity = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}({MAX_MESSAGES})")]
    except sqlite3.DatabaseError as exc:
        report.integrity = [str(exc)]
    if report.integrity != ["ok"]:
        report.problem(f"integrity check failed: {report.integrity[0]}")
    try:
        violations = conn.execute("PRAGMA foreign_key_check").fetchall()
    except sqlite3.DatabaseError as exc:
        report.problem(f"foreign key check could not run: {exc}")
    else:
        report.foreign_key_violations = len(violations)
        report.foreign_key_examples = [
            f"{v[0]} row {v[1]} refers to a missing {v[2]}" for v in violations[:MAX_MESSAGES]
        ]
        if violations:
            report.problem(f"{len(violations)} broken reference(s): {report.foreign_key_examples[0]}")
    _check_schema(conn, report)
    if report.schema_version:
        _check_totals(conn, report)
    if report.journal_mode and report.journal_mode.lower() != "wal":
        report.warnings.append(f"journal mode is {report.journal_mode}, nerv expects wal")
    if report.wal_bytes > WAL_WARN_BYTES:
        report.warnings.append(
            f"the WAL is {report.wal_bytes // (1024 * 1024)} MiB: run `nerv db checkpoint --mode truncate`"
        )


# A session's totals are what was recorded on it directly (never negative) plus the sum of its
# metrics (kept by triggers), so none can be below its metrics' sum: such a session contradicts them.
_TOTALS = (
    ("tokens_input", "input_tokens"),
    ("tokens_output", "output_tokens"),
    ("tokens_cache_read", "cache_read_tokens"),
    ("tokens_cache_write_5m", "cache_write_5m_tokens"),
    ("tokens_cache_write_1h", "cache_write_1h_tokens"),
    ("cost_usd", "cost_usd"),
)
# Sums of floats depend on their order: a cost may sit this far below its metrics' sum.
COST_TOLERANCE = "(1e-6 + 1e-9 * abs(coalesce(a.cost_usd, 0)))"


def totals_sql(sessions: str | None = None) -> str:
    """Sessions whose totals disagree with their metrics: (id, column, total, metrics' sum).

    ``sessions``: a SELECT of the session ids to look at (default: every session).
    """
    sums = ", ".join(f"sum({metric}) AS {total}" for total, metric in _TOTALS)
    only = f" AND s.id IN ({sessions})" if sessions else ""
    scope = f" WHERE session_id IN ({sessions})" if sessions else ""
    checks = " UNION ALL ".join(
        f"SELECT s.id, '{total}', s.{total}, coalesce(a.{total}, 0) FROM claude_sessions s "
        f"LEFT JOIN a ON a.sid = s.id WHERE (s.{total} < coalesce(a.{total}, 0)"
        + (f" - {COST_TOLERANCE} OR abs(s.{total}) > 1e300" if total == "cost_usd" else "")
        + f"){only}"
        for total, _ in _TOTALS
    )
    return f"WITH a AS (SELECT session_id AS sid, {sums} FROM metrics{scope} GROUP BY session_id) {checks}"


def _check_totals(conn: sqlite3.Connection, report: CheckReport) -> None:
    try:
        rows = conn.execute(totals_sql() + f" LIMIT {MAX_MESSAGES}").fetchall()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            return  # an old schema: migrations add the tables
        report.problem(f"session totals could not be checked: {exc}")
        return
    report.totals_mismatches = [
        f"session {row[0]}: {row[1]} is {row[2]}, its metrics add up to {row[3]}" for row in rows
    ]
    if rows:
        report.problem(
            f"{len(rows)}{'+' if len(rows) == MAX_MESSAGES else ''} session total(s) disagree with "
            f"their metrics: {report.totals_mismatches[0]}"
        )


def _check_schema(conn: sqlite3.Connection, report: CheckReport) -> None:
    version = report.schema_version or 0
    latest = report.latest_version
    if version > latest:
        report.problem(f"schema version {version} is newer than this nerv understands ({latest})")
        return
    if version == 0:
        report.problem("not a nerv database yet (schema version 0): run `nerv init`")
        return
    try:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    except sqlite3.DatabaseError as exc:
        report.problem(f"migration bookkeeping unreadable: {exc}")
        return
    expected = [(i + 1, m.name) for i, m in enumerate(MIGRATIONS[:version])]
    if [(int(v), str(n)) for v, n in rows] != expected:
        report.problem(
            f"migration bookkeeping does not match schema version {version} "
            f"({len(rows)} recorded migration(s))"
        )
    if version < latest:
        report.warnings.append(
            f"schema version {version} is behind this nerv ({latest}): "
            "run `nerv db migrate` (any nerv command migrates it)"
        )


@dataclass
class CheckpointResult:
    path: str
    mode: str
    busy: bool
    wal_frames: int
    checkpointed_frames: int
    wal_bytes_before: int
    wal_bytes_after: int

    @property
    def complete(self) -> bool:
        return not self.busy and self.checkpointed_frames == self.wal_frames


def checkpoint(db_path: Path, mode: str = "passive") -> CheckpointResult:
    """``PRAGMA wal_checkpoint(MODE)``; full/restart/truncate wait (busy timeout) for readers/writers."""
    mode = mode.lower()
    if mode not in CHECKPOINT_MODES:
        raise DatabaseError(
            f"unknown checkpoint mode {mode!r}: expected one of {', '.join(CHECKPOINT_MODES)}"
        )
    before = file_size(wal_path(db_path))
    conn = connect(db_path, create=False)
    try:
        row = conn.execute(f"PRAGMA wal_checkpoint({mode.upper()})").fetchone()
    except sqlite3.Error as exc:
        raise DatabaseError(f"checkpoint failed: {exc}") from None
    finally:
        conn.close()
    busy, frames, done = (int(v) for v in row)
    return CheckpointResult(
        path=str(db_path),
        mode=mode,
        busy=bool(busy),
        wal_frames=max(frames, 0),
        checkpointed_frames=max(done, 0),
        wal_bytes_before=before,
        wal_bytes_after=file_size(wal_path(db_path)),
    )


@dataclass
class VacuumResult:
    path: str
    bytes_before: int
    bytes_after: int
    seconds: float


def vacuum(db_path: Path) -> VacuumResult:
    """Rebuild the file compactly (waits for the write lock), then fold the WAL back in."""
    started = time.perf_counter()
    conn = connect(db_path, create=False)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before = file_size(db_path)
        try:
            conn.execute("VACUUM")
        except sqlite3.Error as exc:
            raise DatabaseError(explain(exc, db_path, "vacuum failed", conn)) from None
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return VacuumResult(str(db_path), before, file_size(db_path), time.perf_counter() - started)
