"""Deleting a project with everything in it: one transaction, one audit row per deleted row.

What to delete is decided here in SQL (the rows a project owns, directly or through its
tasks and sessions); whether to delete it at all (an empty project, or a confirmed
cascade) is the service's call.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from nerv.ids import now_ms
from nerv.store import audit
from nerv.store.tx import Transaction


@dataclass(frozen=True)
class Contents:
    """One kind of row a project owns: its label, table, audit entity (None: rows are not
    audited one by one) and the SELECT of its ids, where every ? is the project's id."""

    label: str
    table: str
    entity: str | None
    ids: str

    def params(self, project_id: str) -> tuple[str, ...]:
        return (project_id,) * self.ids.count("?")


_TASK_IDS = "SELECT id FROM tasks WHERE project_id = ?"
_SESSION_IDS = f"SELECT id FROM claude_sessions WHERE project_id = ? OR task_id IN ({_TASK_IDS})"
# In the order they are deleted: rows that refer to others before the rows they refer to.
PROJECT_CONTENTS = (
    Contents(
        "approval requests", "approval_requests", "approval_request",
        f"SELECT id FROM approval_requests WHERE project_id = ? OR task_id IN ({_TASK_IDS}) "
        f"OR session_id IN ({_SESSION_IDS})",
    ),
    Contents("metrics", "metrics", None, f"SELECT id FROM metrics WHERE session_id IN ({_SESSION_IDS})"),
    Contents("sessions", "claude_sessions", "session", _SESSION_IDS),
    Contents("decisions", "decisions", "decision", "SELECT id FROM decisions WHERE project_id = ?"),
    Contents("tasks", "tasks", "task", _TASK_IDS),
    Contents("cycles", "cycles", "cycle", "SELECT id FROM cycles WHERE project_id = ?"),
    Contents("repos", "project_repos", "repo", "SELECT id FROM project_repos WHERE project_id = ?"),
    Contents("settings", "settings", "setting", "SELECT id FROM settings WHERE project_id = ?"),
    Contents("rules", "approval_rules", "rule", "SELECT id FROM approval_rules WHERE project_id = ?"),
)


def contents(conn: sqlite3.Connection, project_id: str) -> dict[str, int]:
    """How many rows of each kind the project owns."""
    counts = {}
    for kind in PROJECT_CONTENTS:
        row = conn.execute(f"SELECT count(*) FROM ({kind.ids})", kind.params(project_id)).fetchone()
        counts[kind.label] = int(row[0])
    return counts


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    cursor = conn.cursor()
    cursor.row_factory = None
    cursor.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def delete_project(
    conn: sqlite3.Connection, actor: str, project_id: str, *, current_key: str
) -> dict[str, int]:
    """Delete the project and everything it owns; returns the counts of what went with it.

    The global ``current_key`` setting goes too when it names this project. Metrics are
    counted in the project's audit row instead of getting one each (they never do).
    """
    with Transaction(conn):
        [project] = _rows(conn, "SELECT * FROM projects WHERE id = ?", (project_id,))
        owned = contents(conn, project_id)
        now = now_ms()
        # superseded_by links the project's own decisions to each other: unhook them first
        # (each decision's audit row below keeps the link as it was).
        decisions = _rows(conn, "SELECT id, superseded_by FROM decisions WHERE project_id = ?", (project_id,))
        links = {row["id"]: row["superseded_by"] for row in decisions}
        conn.execute("UPDATE decisions SET superseded_by = NULL WHERE project_id = ?", (project_id,))
        for kind in PROJECT_CONTENTS:
            params = kind.params(project_id)
            if kind.entity is not None:
                for before in _rows(conn, f"SELECT * FROM {kind.table} WHERE id IN ({kind.ids})", params):
                    if kind.table == "settings":
                        before["value"] = json.loads(before["value"])
                    if kind.table == "decisions":
                        before["superseded_by"] = links.get(before["id"])
                    audit.write(conn, actor, kind.entity, before["id"], "delete", before, None, at=now)
            conn.execute(f"DELETE FROM {kind.table} WHERE id IN ({kind.ids})", params)
        for current in _rows(
            conn, "SELECT id, value FROM settings WHERE project_id IS NULL AND key = ?", (current_key,)
        ):
            if json.loads(current["value"]) == project_id:
                conn.execute("DELETE FROM settings WHERE id = ?", (current["id"],))
                audit.write(conn, actor, "setting", current["id"], "delete",
                            {"key": current_key, "project_id": None, "value": project_id}, None, at=now)
        conn.execute("DELETE FROM projects WHERE id = ?", (project_id,))
        gone = {label: n for label, n in owned.items() if n}
        if gone:
            project["deleted_with_it"] = gone
        audit.write(conn, actor, "project", project_id, "delete", project, None, at=now)
    return gone
