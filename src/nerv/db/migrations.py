"""Schema migrations: an ordered list of small named functions.

``PRAGMA user_version`` holds the number of migrations applied, so opening an
up-to-date database costs one pragma read. Each migration runs in its own
``BEGIN IMMEDIATE`` transaction together with its ``schema_migrations`` row and
the new user_version: a failure leaves the file exactly at the previous
version. Taking the write lock before re-reading the version is what lets
several processes open a fresh file at once and migrate it exactly once.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nerv.db import schema
from nerv.db.connection import execute_script
from nerv.db.tempfiles import remove_stale, temp_name
from nerv.errors import DatabaseError, MigrationError, NervError, SchemaTooNewError
from nerv.ids import new_id, now_ms


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[sqlite3.Connection], None]


def _bookkeeping(conn: sqlite3.Connection) -> None:
    execute_script(
        conn,
        """
        CREATE TABLE IF NOT EXISTS schema_migrations (
          version INTEGER PRIMARY KEY,
          name TEXT NOT NULL,
          applied_at INTEGER NOT NULL
        );
        """,
    )


def core_tables(conn: sqlite3.Connection) -> None:
    _bookkeeping(conn)
    execute_script(conn, schema.CORE_TABLES)


def permission_tables(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.PERMISSION_TABLES)


def knowledge_tables(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.KNOWLEDGE_TABLES)


def settings_table(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.SETTINGS_TABLE)


def usage_ingest_state(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.USAGE_INGEST_STATE)


def audit_log_no_replace(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.AUDIT_LOG_NO_REPLACE)


def default_rules(conn: sqlite3.Connection) -> None:
    """Seed approval_rules with nerv.permissions.DEFAULT_RULES (documented there; editable).

    A database outside the default ``~/.nerv`` also gets the ``Edit`` deny rule
    for its own folder (the default rule names ``~/.nerv``).  Existing identical
    rules are left alone.  Also indexes ``match_key`` alone: the hook looks rules
    up by ``match_key IN (call keys)``, and the keys of ``*`` tool globs and MCP
    servers do not name the rule's tool, so the (tool, match_key) index cannot serve it.
    """
    from nerv.permissions import DEFAULT_RULES, candidate_key, parse_rule

    conn.execute("CREATE INDEX approval_rules_match ON approval_rules(match_key) WHERE enabled = 1")

    rules = [(text, action, note) for text, action, note in DEFAULT_RULES]
    row = conn.execute("PRAGMA database_list").fetchone()
    db_file = row[2] if row is not None else ""
    if db_file:
        home = os.path.dirname(os.path.abspath(db_file))
        default_home = os.path.join(os.path.expanduser("~"), ".nerv")
        if os.path.realpath(home) != os.path.realpath(default_home):
            escaped = "".join("\\" + c if c in "*?[]\\" else c for c in home)
            rules.append((f"Edit(/{escaped}/**)", "deny",
                          "nerv's database, backups and logs (this NERV_HOME): change them through nerv"))
    now = now_ms()
    for text, action, note in rules:
        tool, pattern = parse_rule(text)
        conn.execute(
            "INSERT OR IGNORE INTO approval_rules (id, pattern, action, tool, created_at, project_id, "
            "enabled, note, updated_at, match_key) VALUES (?, ?, ?, ?, ?, NULL, 1, ?, ?, ?)",
            (new_id(), pattern or "", action, tool, now, note, now, candidate_key(tool, pattern)),
        )


def project_costs(conn: sqlite3.Connection) -> None:
    execute_script(conn, schema.PROJECT_COSTS)


def request_deadline(conn: sqlite3.Connection) -> None:
    """approval_requests.expires_at: when the queued hook stops waiting (epoch ms, NULL: unknown).

    From then on the hook may have answered deny, so no decision may be
    recorded (nerv.store.requests.decide refuses it).
    """
    conn.execute("ALTER TABLE approval_requests ADD COLUMN expires_at INTEGER")


def bash_default_rules(conn: sqlite3.Connection) -> None:
    """Add the default rules written after the first release (nerv.permissions.defaults.ADDED_RULES):
    pkexec / sudoedit / run0 and the agent running nerv's own control commands.

    A rule whose tool and specifier the user already has, in any action or
    scope, is skipped: an allow the user wrote stays theirs to decide.
    """
    from nerv.permissions import candidate_key, parse_rule
    from nerv.permissions.defaults import ADDED_RULES

    now = now_ms()
    for text, action, note in ADDED_RULES:
        tool, pattern = parse_rule(text)
        if conn.execute("SELECT 1 FROM approval_rules WHERE tool = ? AND pattern = ?",
                        (tool, pattern or "")).fetchone():
            continue
        conn.execute(
            "INSERT INTO approval_rules (id, pattern, action, tool, created_at, project_id, "
            "enabled, note, updated_at, match_key) VALUES (?, ?, ?, ?, ?, NULL, 1, ?, ?, ?)",
            (new_id(), pattern or "", action, tool, now, note, now, candidate_key(tool, pattern)),
        )


def live_telemetry(conn: sqlite3.Connection) -> None:
    """Claude Code's own figures: statusline session costs and plan limits, OTLP dedup."""
    execute_script(conn, schema.LIVE_TELEMETRY)


def rekey_rules(conn: sqlite3.Connection) -> None:
    """Recompute every rule's ``match_key`` with today's ``candidate_key``.

    The hook loads only rules whose key is among a call's keys, so a rule stored
    under a key computed by an older nerv (parameter rules such as
    ``Bash(run_in_background:true)`` were keyed ``Bash:run_in_background:true``)
    would be listed as enabled but enforced by nothing. Any change to
    ``candidate_key`` needs a migration like this one (a migration test checks
    every committed fixture's rules against ``candidate_key`` after upgrading).
    """
    from nerv.permissions import candidate_key

    rows = conn.execute("SELECT id, tool, pattern, match_key FROM approval_rules").fetchall()
    for rule_id, tool, pattern, stored in rows:
        key = candidate_key(tool, pattern or None)
        if key != stored:
            conn.execute("UPDATE approval_rules SET match_key = ? WHERE id = ?", (key, rule_id))


MIGRATIONS: list[Migration] = [
    Migration("core_tables", core_tables),
    Migration("permission_tables", permission_tables),
    Migration("knowledge_tables", knowledge_tables),
    Migration("settings_table", settings_table),
    Migration("usage_ingest_state", usage_ingest_state),
    Migration("audit_log_no_replace", audit_log_no_replace),
    Migration("default_rules", default_rules),
    Migration("project_costs", project_costs),
    Migration("request_deadline", request_deadline),
    Migration("bash_default_rules", bash_default_rules),
    Migration("live_telemetry", live_telemetry),
    Migration("rekey_rules", rekey_rules),
]


def latest_version() -> int:
    return len(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_not_too_new(conn: sqlite3.Connection, path: str) -> int:
    version = current_version(conn)
    if version > latest_version():
        raise SchemaTooNewError(path, version, latest_version())
    return version


def schema_status(path: Path) -> tuple[bool, int, list[tuple[int, str, int]]]:
    """``(exists, schema version, applied migrations as (version, name, applied_at))`` of the
    file at ``path``, read without creating or changing it (for ``nerv db version``)."""
    from nerv.db.connection import connect

    if not path.exists():
        return False, 0, []
    conn = connect(path, create=False)
    try:
        version = current_version(conn)
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        ).fetchone()
        applied = (
            [
                (int(r[0]), str(r[1]), int(r[2]))
                for r in conn.execute(
                    "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
                )
            ]
            if has_table
            else []
        )
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    return True, version, applied


def migrate_path(path: Path) -> tuple[int, list[str], int]:
    """Open (creating) the database at ``path`` and apply what is pending:
    ``(version before, names applied, version after)`` (for ``nerv db migrate``)."""
    from nerv.db.connection import connect

    conn = connect(path)
    try:
        before = current_version(conn)
        applied = migrate(conn, path)
        return before, applied, current_version(conn)
    finally:
        conn.close()


def backup_path_for(db_path: Path, from_version: int, to_version: int) -> Path:
    stamp = now_ms()
    return db_path.with_name(f"{db_path.name}.v{from_version}-before-v{to_version}.{stamp}.bak")


def migrate(
    conn: sqlite3.Connection,
    db_path: Path | None,
    *,
    target: int | None = None,
    migrations: list[Migration] | None = None,
    backup: bool = True,
) -> list[str]:
    """Bring the database up to ``target`` (default: latest). Returns names applied."""
    steps = MIGRATIONS if migrations is None else migrations
    goal = len(steps) if target is None else target
    if not 0 <= goal <= len(steps):
        raise MigrationError(f"cannot migrate to version {goal}: known versions are 0..{len(steps)}")
    shown = str(db_path) if db_path else ":memory:"
    version = current_version(conn)
    if version > len(steps):
        raise SchemaTooNewError(shown, version, len(steps))
    applied: list[str] = []
    # One safety copy per run, taken before its first step, and only of a
    # database that holds data (a fresh one, or one that a concurrent process
    # is still building, has nothing worth keeping).
    backup_decided = not backup or db_path is None
    while version < goal:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"cannot lock {shown} to migrate it: {exc}") from None
        try:
            version = current_version(conn)  # another process may have migrated meanwhile
            if version > len(steps):
                raise SchemaTooNewError(shown, version, len(steps))
            if version >= goal:
                conn.execute("COMMIT")
                break
            if not backup_decided:
                backup_decided = True
                if db_path is not None and _holds_data(conn):
                    _backup(db_path, backup_path_for(db_path, version, goal))
            step = steps[version]
            try:
                step.apply(conn)
            except (sqlite3.Error, NervError, ValueError, TypeError, KeyError) as exc:
                raise MigrationError(
                    f"migration {version + 1} ({step.name}) failed: {exc}; "
                    f"{shown} is still at version {version}"
                ) from None
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version + 1, step.name, now_ms()),
            )
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(step.name)
        version += 1
    return applied


def _holds_data(conn: sqlite3.Connection) -> bool:
    """Whether any table other than the bookkeeping one has a row."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'"
        )
    ]
    quoted = ('"' + name.replace('"', '""') + '"' for name in tables)
    return any(conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchone() for name in quoted)


def _backup(db_path: Path, dest: Path) -> None:
    """Online copy of the database as it is before the upgrade.

    Read through a second connection: the migrating one holds the write lock,
    and in WAL mode a reader still sees the last committed state.
    """
    # Written under a temporary name and renamed once complete: a killed migration must not
    # leave an empty file that looks like a finished backup. Private from the first byte.
    remove_stale(dest.parent)
    temp = temp_name(dest, "partial")
    try:
        os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        source = sqlite3.connect(db_path)
        target = sqlite3.connect(temp)
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
            source.close()
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, dest)
    except (OSError, sqlite3.Error) as exc:
        for leftover in (temp, temp.with_name(temp.name + "-journal")):
            leftover.unlink(missing_ok=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DatabaseError(f"cannot write the backup {dest}: {reason}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
