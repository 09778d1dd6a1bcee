"""Helpers for the DatabaseService tests: audit bookkeeping and whole-database snapshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nerv import DatabaseService
from nerv.models import AuditEntry

TABLES = (
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


def snapshot(service: DatabaseService) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing changed."""
    conn = service.connection
    result = {}
    for table in TABLES:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
        result[table] = [tuple(r) for r in rows]
    return result


def audit_count(service: DatabaseService) -> int:
    return int(service.connection.execute("SELECT count(*) FROM audit_log").fetchone()[0])


@contextmanager
def one_audit_row(service: DatabaseService) -> Iterator[list[AuditEntry]]:
    """Assert that the block writes exactly one audit row; yields a list holding it afterwards."""
    before = audit_count(service)
    holder: list[AuditEntry] = []
    yield holder
    after = audit_count(service)
    assert after - before == 1, f"expected exactly one audit row, got {after - before}"
    holder.append(service.get_audit(newest_first=True, limit=1)[0])


@contextmanager
def nothing_changes(service: DatabaseService) -> Iterator[None]:
    """Assert that the block (which is expected to raise) leaves every table as it was."""
    before = snapshot(service)
    yield
    assert snapshot(service) == before
    assert not service.connection.in_transaction
