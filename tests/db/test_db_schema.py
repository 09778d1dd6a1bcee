"""The schema as the database enforces it, and the spec's own SQL run against it."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixture_paths import DATABASE_SPEC as SPEC
from nerv import DatabaseService
from nerv.db import schema


@pytest.fixture
def raw(service: DatabaseService) -> Iterator[sqlite3.Connection]:
    """A plain stdlib connection to the service's file: what any other client could do."""
    assert service.path is not None
    conn = sqlite3.connect(service.path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn
    conn.close()


@pytest.fixture
def ids(service: DatabaseService) -> dict[str, str]:
    """One valid row in every enumerated table (so that UPDATEs have something to hit)."""
    project = service.create_project("p")
    task = service.create_task(project.id, "t")
    session = service.create_session(project.id, task.id)
    service.create_cycle(project.id)
    service.create_rule("ls:*", "allow", "Bash")
    service.create_request("Bash", {"command": "ls"})
    service.create_decision(project.id, "d")
    return {"project": project.id, "task": task.id, "session": session.id}


# -- CHECK constraints -------------------------------------------------------------------

BAD_ROWS = [
    (
        "tasks",
        "status",
        "doing",
        "INSERT INTO tasks (id, project_id, title, status, created_at, updated_at) "
        "VALUES ('x', :project, 't', :bad, 1, 1)",
    ),
    (
        "tasks",
        "type",
        "epic",
        "INSERT INTO tasks (id, project_id, title, type, created_at, updated_at) "
        "VALUES ('x', :project, 't', :bad, 1, 1)",
    ),
    (
        "claude_sessions",
        "status",
        "running",
        "INSERT INTO claude_sessions (id, project_id, status, started_at, updated_at) "
        "VALUES ('x', :project, :bad, 1, 1)",
    ),
    (
        "approval_requests",
        "status",
        "maybe",
        "INSERT INTO approval_requests (id, tool_name, status, created_at, updated_at) "
        "VALUES ('x', 'Bash', :bad, 1, 1)",
    ),
    (
        "approval_rules",
        "action",
        "permit",
        "INSERT INTO approval_rules (id, pattern, action, tool, created_at, updated_at) "
        "VALUES ('x', 'ls', :bad, 'Bash', 1, 1)",
    ),
    (
        "cycles",
        "status",
        "open",
        "INSERT INTO cycles (id, project_id, number, status, created_at, updated_at) "
        "VALUES ('x', :project, 1, :bad, 1, 1)",
    ),
    (
        "decisions",
        "status",
        "final",
        "INSERT INTO decisions (id, project_id, title, status, created_at, updated_at) "
        "VALUES ('x', :project, 't', :bad, 1, 1)",
    ),
]


@pytest.mark.parametrize(
    ("table", "column", "bad", "sql"), BAD_ROWS, ids=[f"{r[0]}.{r[1]}" for r in BAD_ROWS]
)
def test_enumerations_are_check_constraints(
    raw: sqlite3.Connection, ids: dict[str, str], table: str, column: str, bad: str, sql: str
) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        raw.execute(sql, {**ids, "bad": bad})
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        raw.execute(f"UPDATE {table} SET {column} = ?", (bad,))
    assert raw.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", (bad,)).fetchone()[0] == 0


def test_every_allowed_enum_value_is_accepted(raw: sqlite3.Connection, ids: dict[str, str]) -> None:
    for i, status in enumerate(schema.TASK_STATUSES):
        raw.execute(
            "INSERT INTO tasks (id, project_id, title, status, created_at, updated_at) "
            "VALUES (?, ?, 't', ?, 1, 1)",
            (f"s{i}", ids["project"], status),
        )
    for i, task_type in enumerate(schema.TASK_TYPES):
        raw.execute(
            "INSERT INTO tasks (id, project_id, title, type, created_at, updated_at) "
            "VALUES (?, ?, 't', ?, 1, 1)",
            (f"t{i}", ids["project"], task_type),
        )
    for i, action in enumerate(schema.RULE_ACTIONS):
        raw.execute(
            "INSERT INTO approval_rules (id, pattern, action, tool, created_at, updated_at) "
            "VALUES (?, ?, ?, 'Bash', 1, 1)",
            (f"r{i}", f"p{i}", action),
        )


def test_other_checks(raw: sqlite3.Connection, ids: dict[str, str]) -> None:
    bad = [
        "INSERT INTO projects (id, name, created_at, updated_at) VALUES ('x', '  ', 1, 1)",
        "INSERT INTO approval_requests (id, tool_name, tool_input, created_at, updated_at) "
        "VALUES ('x', 'Bash', 'not json', 1, 1)",
        "INSERT INTO settings (id, key, value, created_at, updated_at) VALUES ('x', 'k', 'not json', 1, 1)",
        f"INSERT INTO metrics (id, session_id, output_tokens, recorded_at, created_at) "
        f"VALUES ('x', '{ids['session']}', -5, 1, 1)",
    ]
    for sql in bad:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            raw.execute(sql)


def test_foreign_keys_are_enforced(raw: sqlite3.Connection, ids: dict[str, str]) -> None:
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        raw.execute(
            "INSERT INTO tasks (id, project_id, title, created_at, updated_at) "
            "VALUES ('x', 'missing', 't', 1, 1)"
        )
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY constraint failed"):
        raw.execute("DELETE FROM projects WHERE id = ?", (ids["project"],))


# -- the append-only audit log ---------------------------------------------------------------


def test_audit_log_is_append_only(
    service: DatabaseService, raw: sqlite3.Connection, ids: dict[str, str]
) -> None:
    count = raw.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    assert count == 7
    first = raw.execute("SELECT * FROM audit_log ORDER BY rowid LIMIT 1").fetchone()
    with pytest.raises(sqlite3.DatabaseError, match="append-only: rows cannot be updated"):
        raw.execute("UPDATE audit_log SET actor = 'someone else'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only: rows cannot be deleted"):
        raw.execute("DELETE FROM audit_log")
    # REPLACE deletes without firing DELETE triggers: refused by its own trigger.
    forged = (first[0], 0, "forger", "project", "x", "nothing", None, None)
    for verb in ("INSERT OR REPLACE", "REPLACE"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only: rows cannot be replaced"):
            raw.execute(f"{verb} INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", forged)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET actor = 'forger'",
            forged,
        )
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("INSERT OR IGNORE INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", forged)
    # Not through the service's own connection either.
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        service.connection.execute("DELETE FROM audit_log WHERE entity_id = ?", (ids["task"],))
    assert raw.execute("SELECT count(*) FROM audit_log").fetchone()[0] == count
    assert raw.execute("SELECT * FROM audit_log ORDER BY rowid LIMIT 1").fetchone() == first
    assert {r[0] for r in raw.execute("SELECT actor FROM audit_log")} == {"test"}


def test_audit_json_is_valid(service: DatabaseService, ids: dict[str, str]) -> None:
    service.move_task(ids["task"], "done")
    for before, after in service.connection.execute("SELECT before, after FROM audit_log"):
        for value in (before, after):
            assert value is None or isinstance(json.loads(value), dict)


# -- the spec's own SQL and query patterns -------------------------------------------------


def test_wal_checkpoint_truncate(service: DatabaseService, ids: dict[str, str]) -> None:
    """``PRAGMA wal_checkpoint(TRUNCATE);`` from the spec's Backup & Recovery section."""
    wal = Path(f"{service.path}-wal")
    assert wal.stat().st_size > 0
    busy, log_frames, checkpointed = service.connection.execute("PRAGMA wal_checkpoint(TRUNCATE);").fetchone()
    assert (busy, log_frames, checkpointed) == (0, 0, 0)
    assert wal.stat().st_size == 0
    assert service.path is not None
    copy = Path(f"{service.path}.backup")
    copy.write_bytes(service.path.read_bytes())  # the spec's manual backup: cp state.db state.db.backup
    with DatabaseService(copy) as restored:
        assert restored.get_task(ids["task"]) is not None


def test_tasks_by_status_pattern(service: DatabaseService) -> None:
    project = service.create_project("p")
    for i, status in enumerate(schema.TASK_STATUSES * 3):
        service.create_task(project.id, f"t{i}", status=status)
    # The spec: db.getTasks(projectId).filter(t => t.status === 'in_progress')
    spec_way = [t for t in service.get_tasks(project.id) if t.status == "in_progress"]
    service_way = service.get_tasks(project.id, "in_progress")
    sql_way = [
        r[0]
        for r in service.connection.execute(
            "SELECT id FROM tasks WHERE project_id = ? AND status = 'in_progress' ORDER BY created_at, rowid",
            (project.id,),
        )
    ]
    assert [t.id for t in spec_way] == [t.id for t in service_way] == sql_way
    assert len(sql_way) == 3
    plan = " ".join(
        r[3]
        for r in service.connection.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE project_id = ? AND status = ? ORDER BY created_at",
            (project.id, "in_progress"),
        )
    )
    assert "USING INDEX tasks_project_status" in plan


def test_project_cost_pattern(service: DatabaseService) -> None:
    project = service.create_project("p")
    other = service.create_project("q")
    for i in range(20):
        session = service.create_session(project.id if i % 4 else other.id)
        service.update_session(session.id, {"cost_usd": 0.01 * (i + 1)})
    service.record_metric(service.create_session(project.id).id, cost_usd=1.5)
    # The spec: getSessions(projectId).reduce((sum, s) => sum + s.cost_usd, 0)
    spec_way = sum(s.cost_usd for s in service.get_sessions(project.id))
    sql_way = service.connection.execute(
        "SELECT sum(cost_usd) FROM claude_sessions WHERE project_id = ?", (project.id,)
    ).fetchone()[0]
    assert service.get_project_cost(project.id) == pytest.approx(spec_way) == pytest.approx(sql_way)
    plan = " ".join(
        r[3]
        for r in service.connection.execute(
            "EXPLAIN QUERY PLAN "
            "SELECT coalesce(sum(cost_usd), 0.0) FROM claude_sessions WHERE project_id = ?",
            (project.id,),
        )
    )
    assert "COVERING INDEX claude_sessions_project_cost" in plan


def test_check_permission_rule_pattern(service: DatabaseService) -> None:
    """The spec: ``const rule = db.matchRule('Bash', 'npm test'); if (rule?.action === 'allow')``."""
    created = service.create_rule("npm test:*", "allow", "Bash")
    rule = service.match_rule("Bash", "npm test")
    assert rule == created and rule.action == "allow"
    assert service.match_rule("Bash", "ls -la") is None


def _spec_sql_blocks() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", SPEC.read_text(), flags=re.S)


def test_spec_create_tables_match_ours(service: DatabaseService) -> None:
    """Each CREATE TABLE in the spec names columns nerv has, with the same declared types."""
    blocks = [b for b in _spec_sql_blocks() if b.lstrip().startswith("CREATE TABLE")]
    assert {re.search(r"CREATE TABLE (\w+)", b).group(1) for b in blocks} == {  # type: ignore[union-attr]
        "projects",
        "tasks",
        "claude_sessions",
        "approval_rules",
    }
    spec = sqlite3.connect(":memory:")
    for block in blocks:
        spec.execute(block)
        table = re.search(r"CREATE TABLE (\w+)", block).group(1)  # type: ignore[union-attr]
        ours = {r[1]: r[2] for r in service.connection.execute(f"PRAGMA table_info({table})")}
        for row in spec.execute(f"PRAGMA table_info({table})"):
            assert ours.get(row[1]) == row[2], f"{table}.{row[1]}"
    spec.close()


def test_spec_sql_snippets_run(service: DatabaseService, ids: dict[str, str]) -> None:
    """Every non-DDL SQL snippet of the spec runs as written against a nerv database."""
    snippets = [b for b in _spec_sql_blocks() if not b.lstrip().startswith("CREATE TABLE")]
    assert snippets, "the spec lost its PRAGMA wal_checkpoint(TRUNCATE) snippet"
    for snippet in snippets:
        result: Any = service.connection.execute(snippet.strip()).fetchall()
        assert result is not None


def test_spec_shaped_inserts_work(raw: sqlite3.Connection) -> None:
    """A client writing only the spec's columns of projects and tasks gets the spec's defaults."""
    raw.execute("INSERT INTO projects (id, name, goal, created_at, updated_at) VALUES ('p', 'n', NULL, 1, 1)")
    raw.execute(
        "INSERT INTO tasks (id, project_id, cycle_id, title, description, created_at, updated_at) "
        "VALUES ('t', 'p', NULL, 'title', NULL, 1, 1)"
    )
    assert raw.execute("SELECT type, status FROM tasks WHERE id = 't'").fetchone() == (
        "implementation",
        "todo",
    )
