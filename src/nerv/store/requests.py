"""``approval_requests`` writes: the queue's lifecycle, shared by the hook and the service.

A queued hook writes its deadline (``expires_at``, epoch ms) with the request.
From that moment on the hook may answer Claude Code "deny" at any time, so no
decision is recorded at or after it: :func:`decide` refuses it (and marks the
request expired), whoever holds the write lock when the wait ends. The hook's
answer and the stored state therefore always agree.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from nerv.errors import NotFoundError, ValidationError
from nerv.ids import new_id, now_ms
from nerv.store import audit
from nerv.store.tx import Transaction

COLUMNS = (
    "id", "project_id", "session_id", "task_id", "tool_name", "tool_input", "cwd", "status", "reason",
    "decided_by", "decided_at", "created_at", "updated_at", "expires_at",
)
_INSERT = f"INSERT INTO approval_requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_REFERENCES = (
    ("project_id", "projects", "project"), ("session_id", "claude_sessions", "session"),
    ("task_id", "tasks", "task"),
)
# request status -> the audit action that records it
DECISION_ACTIONS = {"approved": "approve", "denied": "deny", "expired": "expire"}


class AlreadyDecidedError(ValidationError):
    """The request is not pending any more (exit code 2; the dashboard answers 409)."""


class RequestExpiredError(AlreadyDecidedError):
    """A decision came after the waiting hook had given up (and answered deny)."""


def create(
    conn: sqlite3.Connection,
    actor: str,
    tool_name: str,
    tool_input: Mapping[str, Any],
    *,
    project_id: str | None,
    session_id: str | None,
    task_id: str | None,
    cwd: str | None,
    expires_at: int | None = None,
) -> dict[str, Any]:
    """A pending request and its audit row; returns the row as written."""
    now = now_ms()
    values: dict[str, Any] = {
        "id": new_id(), "project_id": project_id, "session_id": session_id, "task_id": task_id,
        "tool_name": tool_name, "tool_input": json.dumps(dict(tool_input), sort_keys=True), "cwd": cwd,
        "status": "pending", "reason": None, "decided_by": None, "decided_at": None,
        "created_at": now, "updated_at": now, "expires_at": expires_at,
    }
    with Transaction(conn):
        try:
            conn.execute(_INSERT, tuple(values[c] for c in COLUMNS))
        except sqlite3.IntegrityError:
            for column, table, entity in _REFERENCES:
                value = values[column]
                if value is not None and conn.execute(
                    f"SELECT 1 FROM {table} WHERE id = ?", (value,)
                ).fetchone() is None:
                    raise NotFoundError(entity, str(value)) from None
            raise
        audit.write(conn, actor, "approval_request", values["id"], "create", None, values, at=now)
    return values


def state(conn: sqlite3.Connection, request_id: str) -> tuple[str, str | None, str | None]:
    """``(status, reason, decided_by)``; status ``missing`` if the row is gone."""
    row = conn.execute(
        "SELECT status, reason, decided_by FROM approval_requests WHERE id = ?", (request_id,)
    ).fetchone()
    if row is None:
        return ("missing", None, None)
    return (row[0], row[1], row[2])


def wait(
    conn: sqlite3.Connection, request_id: str, deadline: float, poll_s: float = 0.1, recheck_s: float = 2.0
) -> tuple[str, str | None, str | None]:
    """Wait until the request leaves ``pending`` or ``deadline`` (time.monotonic) passes.

    Sleeps ``poll_s`` between checks of ``PRAGMA data_version`` (which changes
    when another connection commits) and re-reads the row only then, plus every
    ``recheck_s`` as a safety net.  Returns the row's (status, reason, decided_by).
    """
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    current = state(conn, request_id)
    next_recheck = time.monotonic() + recheck_s
    while current[0] == "pending":
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(poll_s, deadline - now))
        seen = conn.execute("PRAGMA data_version").fetchone()[0]
        if seen != version or time.monotonic() >= next_recheck:
            version = seen
            next_recheck = time.monotonic() + recheck_s
            current = state(conn, request_id)
    return current


def _set_status(
    conn: sqlite3.Connection, actor: str, request_id: str, status: str, reason: str | None,
    decided_by: str, now: int,
) -> None:
    conn.execute(
        "UPDATE approval_requests SET status = ?, reason = ?, decided_by = ?, decided_at = ?, updated_at = ? "
        "WHERE id = ? AND status = 'pending'",
        (status, reason, decided_by, now, now, request_id),
    )
    audit.write(
        conn, actor, "approval_request", request_id, DECISION_ACTIONS[status],
        {"status": "pending", "reason": None, "decided_by": None, "decided_at": None},
        {"status": status, "reason": reason, "decided_by": decided_by, "decided_at": now}, at=now,
    )


def expire(conn: sqlite3.Connection, actor: str, request_id: str, reason: str) -> bool:
    """Mark a still-pending request expired (audited); False if it was decided first."""
    with Transaction(conn):
        row = conn.execute("SELECT status FROM approval_requests WHERE id = ?", (request_id,)).fetchone()
        if row is None or row[0] != "pending":
            return False
        _set_status(conn, actor, request_id, "expired", reason, actor, now_ms())
    return True


def decide(
    conn: sqlite3.Connection, actor: str, request_id: str, status: str, *, reason: str | None,
    decided_by: str,
) -> bool:
    """Record a person's decision on a pending request, inside the caller's transaction.

    Returns True when recorded. Returns False when the request's hook had
    already stopped waiting (``expires_at`` passed): the request is then
    marked expired instead (the caller commits that and reports
    :func:`expired_message`). An expired request raises RequestExpiredError,
    one already approved or denied AlreadyDecidedError.
    """
    if status not in DECISION_ACTIONS:
        raise ValidationError(f"invalid decision {status!r}: expected approved, denied or expired")
    with Transaction(conn):
        row = conn.execute(
            "SELECT status, expires_at FROM approval_requests WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError("approval_request", request_id)
        if row[0] == "expired":
            raise RequestExpiredError(expired_message(request_id))
        if row[0] != "pending":
            raise AlreadyDecidedError(f"request {request_id} is already {row[0]}")
        now = now_ms()
        if status != "expired" and row[1] is not None and now >= row[1]:
            _set_status(conn, actor, request_id, "expired", GAVE_UP, actor, now)
            return False
        _set_status(conn, actor, request_id, status, reason, decided_by, now)
    return True


GAVE_UP = "its hook stopped waiting and answered deny"


def expired_message(request_id: str) -> str:
    return (
        f"request {request_id} is already expired: its hook stopped waiting and the call was not run, "
        "so a decision now would reach nothing; the agent has to retry the call (a new request)"
    )


def pending_filed_by(conn: sqlite3.Connection, actor: str) -> list[str]:
    """Ids of the still-pending requests whose creation the audit log credits to ``actor``
    (nerv serve expires its own waiting calls when it stops)."""
    rows = conn.execute(
        "SELECT r.id FROM approval_requests r JOIN audit_log a ON a.entity_type = 'approval_request' "
        "AND a.entity_id = r.id AND a.action = 'create' WHERE r.status = 'pending' AND a.actor = ?",
        (actor,),
    ).fetchall()
    return [str(row[0]) for row in rows]
