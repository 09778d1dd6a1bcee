"""``claude_sessions`` writes: the lifecycle the hook's events drive.

(Ingest's session writes are in :mod:`nerv.store.usage`; the service's manual
create / update go through :mod:`nerv.store.rows`.)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from nerv.ids import new_id, now_ms
from nerv.store import audit
from nerv.store.tx import Transaction

COLUMNS = (
    "id", "project_id", "task_id", "status", "started_at", "ended_at", "tokens_input", "tokens_output",
    "cost_usd", "claude_session_id", "tokens_cache_read", "tokens_cache_write_5m", "tokens_cache_write_1h",
    "model", "cwd", "transcript_path", "updated_at",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM claude_sessions WHERE claude_session_id = ?"
_INSERT = f"INSERT INTO claude_sessions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"

# The status a session takes on each event (Stop: the agent finished its turn and waits).
STATUS_ON_EVENT = {
    "SessionStart": "active", "UserPromptSubmit": "active", "PreToolUse": "active",
    "PostToolUse": "active", "PermissionRequest": "active", "Stop": "idle", "SessionEnd": "completed",
}


def touch(
    conn: sqlite3.Connection,
    actor: str,
    event: str,
    claude_session_id: str,
    *,
    project_id: str | None,
    task_id: str | None,
    cwd: str | None,
    transcript_path: str | None,
) -> str:
    """Create or update the claude_sessions row for ``claude_session_id`` on a hook event.

    Returns the row's id. Writes (and audits) only when something changes, so
    the per-tool-call events of a running session cost one SELECT.
    """
    status = STATUS_ON_EVENT.get(event, "active")
    row = conn.execute(_SELECT, (claude_session_id,)).fetchone()
    if row is not None:
        current = dict(zip(COLUMNS, row, strict=True))
        if not _changes(current, status, project_id, task_id, cwd, transcript_path):
            return str(current["id"])
    with Transaction(conn):
        now = now_ms()
        row = conn.execute(_SELECT, (claude_session_id,)).fetchone()  # again, under the write lock
        if row is None:
            values: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
            values.update({
                "id": new_id(), "project_id": project_id, "task_id": task_id, "status": status,
                "started_at": now, "ended_at": now if status == "completed" else None, "cost_usd": 0.0,
                "claude_session_id": claude_session_id, "model": None, "cwd": cwd,
                "transcript_path": transcript_path, "updated_at": now,
            })
            conn.execute(_INSERT, tuple(values.values()))
            audit.write(conn, actor, "session", values["id"], "create", None, values, at=now)
            return str(values["id"])
        current = dict(zip(COLUMNS, row, strict=True))
        changes = _changes(current, status, project_id, task_id, cwd, transcript_path)
        if changes:
            if changes.get("ended_at") == -1:
                changes["ended_at"] = now
            assignments = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(
                f"UPDATE claude_sessions SET {assignments}, updated_at = ? WHERE id = ?",
                (*changes.values(), now, current["id"]),
            )
            action = "end" if status == "completed" else "update"
            before = {k: current[k] for k in changes}
            audit.write(conn, actor, "session", current["id"], action, before, changes, at=now)
        return str(current["id"])


def _changes(
    current: dict[str, Any],
    status: str,
    project_id: str | None,
    task_id: str | None,
    cwd: str | None,
    transcript_path: str | None,
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if current["status"] != status and not (status == "idle" and current["status"] == "completed"):
        changes["status"] = status
    if status == "completed":
        if current["ended_at"] is None or "status" in changes:
            changes["ended_at"] = -1  # placeholder for "now", filled in under the lock
    elif current["ended_at"] is not None and status == "active":
        changes["ended_at"] = None  # a resumed session is open again
    for column, value in (
        ("project_id", project_id), ("task_id", task_id), ("cwd", cwd), ("transcript_path", transcript_path)
    ):
        if value is not None and current[column] is None:
            changes[column] = value
    return changes
