"""Entities are dataclasses whose attributes are the column names; the spec's columns all exist."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

from nerv import DatabaseService
from nerv.models import (
    ApprovalRequest,
    AuditEntry,
    Cycle,
    Decision,
    Metric,
    Project,
    Repo,
    Rule,
    Session,
    Setting,
    Task,
)

MODELS = {
    "projects": Project,
    "project_repos": Repo,
    "cycles": Cycle,
    "tasks": Task,
    "claude_sessions": Session,
    "approval_rules": Rule,
    "approval_requests": ApprovalRequest,
    "decisions": Decision,
    "metrics": Metric,
    "audit_log": AuditEntry,
    "settings": Setting,
}

# The four tables the spec spells out, verbatim from tests/fixtures/spec/DATABASE.md.
SPEC_TABLES = """
CREATE TABLE projects (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  goal TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  cycle_id TEXT,
  title TEXT NOT NULL,
  description TEXT,
  type TEXT DEFAULT 'implementation',
  status TEXT DEFAULT 'todo',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (cycle_id) REFERENCES cycles(id)
);
CREATE TABLE claude_sessions (
  id TEXT PRIMARY KEY,
  project_id TEXT NOT NULL,
  task_id TEXT,
  status TEXT DEFAULT 'active',
  started_at INTEGER NOT NULL,
  ended_at INTEGER,
  tokens_input INTEGER DEFAULT 0,
  tokens_output INTEGER DEFAULT 0,
  cost_usd REAL DEFAULT 0,
  FOREIGN KEY (project_id) REFERENCES projects(id),
  FOREIGN KEY (task_id) REFERENCES tasks(id)
);
CREATE TABLE approval_rules (
  id TEXT PRIMARY KEY,
  pattern TEXT NOT NULL,
  action TEXT NOT NULL,  -- 'allow' or 'deny'
  tool TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
"""

SPEC_TABLE_LIST = (
    "projects",
    "project_repos",
    "tasks",
    "cycles",
    "claude_sessions",
    "approval_requests",
    "approval_rules",
    "decisions",
    "metrics",
    "audit_log",
    "settings",
)


def _columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, bool, str | None]]:
    """(name, declared type, not null, default) per column, in table order."""
    return [(r[1], r[2], bool(r[3]), r[4]) for r in conn.execute(f"PRAGMA table_info({table})")]


@pytest.mark.parametrize("table", sorted(MODELS))
def test_dataclass_attributes_are_the_column_names(service: DatabaseService, table: str) -> None:
    columns = [c[0] for c in _columns(service.connection, table)]
    assert [f.name for f in dataclasses.fields(MODELS[table])] == columns


def test_every_spec_table_exists(service: DatabaseService) -> None:
    tables = {r[0] for r in service.connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert set(SPEC_TABLE_LIST) <= tables


@pytest.mark.parametrize("table", ["projects", "tasks", "claude_sessions", "approval_rules"])
def test_spec_columns_exist_with_the_spec_types(service: DatabaseService, table: str) -> None:
    spec = sqlite3.connect(":memory:")
    spec.executescript(SPEC_TABLES)
    ours = {
        name: (decl, notnull, default) for name, decl, notnull, default in _columns(service.connection, table)
    }
    for name, decl, _notnull, default in _columns(spec, table):
        assert name in ours, f"{table}.{name} is missing"
        assert ours[name][0] == decl, f"{table}.{name} is {ours[name][0]}, the spec says {decl}"
        if default is not None:
            assert ours[name][2] == default, f"{table}.{name} default {ours[name][2]} != spec {default}"
    spec.close()


def test_spec_foreign_keys_exist(service: DatabaseService) -> None:
    def fks(table: str) -> set[tuple[str, str, str]]:
        return {(r[3], r[2], r[4]) for r in service.connection.execute(f"PRAGMA foreign_key_list({table})")}

    assert {("project_id", "projects", "id"), ("cycle_id", "cycles", "id")} <= fks("tasks")
    assert {("project_id", "projects", "id"), ("task_id", "tasks", "id")} <= fks("claude_sessions")


def test_timestamps_are_integer_epoch_milliseconds(service: DatabaseService) -> None:
    for table in MODELS:
        for name, decl, _, _ in _columns(service.connection, table):
            if name.endswith("_at") or name == "at":
                assert decl == "INTEGER", f"{table}.{name}"
    project = service.create_project("p")
    assert 1_600_000_000_000 < project.created_at < 10_000_000_000_000


def test_models_are_snapshots(service: DatabaseService) -> None:
    """Entities are plain slotted dataclasses (cheap to build by the thousand): changing
    one changes nothing in the database; writes go through the service."""
    project = service.create_project("p")
    project.name = "x"
    stored = service.get_project(project.id)
    assert stored is not None and stored.name == "p"
    with pytest.raises(AttributeError):
        project.nonexistent = 1  # type: ignore[attr-defined]
