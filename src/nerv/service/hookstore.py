"""Lean database access for nerv-hook (and the rule lookups the service shares with it).

The full DatabaseService imports every aggregate, dataclasses, pathlib and the
migration code; the hook runs on every tool call and needs a handful of
statements.  This module is ``sqlite3`` plus nerv's tiny ``ids`` and
``db.version`` modules.  It writes rows exactly as the service does (same
columns, same audit-row shapes), in ``BEGIN IMMEDIATE`` transactions.

Opening an up-to-date database costs one ``PRAGMA user_version`` read.  A
missing file, an older schema or a mismatch with this module's version number
goes through the normal connect-and-migrate code (slow, rare).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from nerv import env
from nerv.db.version import SCHEMA_VERSION
from nerv.ids import new_id, now_ms

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from nerv.permissions import Decision, MatchContext, RuleSpec


class HookDatabaseError(Exception):
    """The database cannot be used by the hook (locked, corrupt, too new...)."""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "locked" in text or "busy" in text:
        return f"database is locked ({text})"
    return text


# -- opening ------------------------------------------------------------------------


def open_db(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to an up-to-date database at ``path``, created and migrated if needed."""
    try:
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            return _open_migrated(path, busy_timeout_ms)
        conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
    except HookDatabaseError:
        raise
    except (sqlite3.Error, OSError) as exc:
        raise HookDatabaseError(f"cannot open database {path}: {_describe(exc)}") from None
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version != SCHEMA_VERSION:
            from nerv.db.migrations import latest_version

            latest = latest_version()
            if version > latest:
                raise HookDatabaseError(
                    f"{path} has schema version {version}, newer than this nerv understands ({latest})")
            if version < latest:
                conn.close()
                return _open_migrated(path, busy_timeout_ms)
    except HookDatabaseError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise HookDatabaseError(f"cannot use database {path}: {_describe(exc)}") from None
    return conn


def _open_migrated(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """The slow path: nerv's own connect (creates the file 0600, WAL) and migrations."""
    from pathlib import Path

    from nerv.db.connection import connect
    from nerv.db.migrations import latest_version, migrate
    from nerv.errors import NervError

    try:
        conn = connect(Path(path), busy_timeout=busy_timeout_ms, max_version=latest_version())
    except NervError as exc:
        raise HookDatabaseError(str(exc)) from None
    try:
        migrate(conn, Path(path))
    except (NervError, sqlite3.Error) as exc:
        conn.close()
        raise HookDatabaseError(f"cannot migrate database {path}: {_describe(exc)}") from None
    conn.row_factory = None
    return conn


class _Write:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (ROLLBACK on error); lock failures become HookDatabaseError."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")  # as every nerv connection writes
            level = os.environ.get(env.NERV_SYNCHRONOUS, "NORMAL").strip().upper()
            if level not in ("OFF", "NORMAL", "FULL", "EXTRA"):
                level = "NORMAL"
            self.conn.execute(f"PRAGMA synchronous = {level}")
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise HookDatabaseError(f"cannot write: {_describe(exc)}") from None
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise HookDatabaseError(f"cannot commit: {_describe(error)}") from None
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def audit(conn: sqlite3.Connection, actor: str, entity_type: str, entity_id: str, action: str,
          before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, at: int | None = None) -> None:
    """One audit_log row, in the same shape as ServiceBase._audit."""
    conn.execute(
        "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id(), now_ms() if at is None else at, actor, entity_type, entity_id, action,
         None if before is None else json.dumps(before, sort_keys=True, default=str),
         None if after is None else json.dumps(after, sort_keys=True, default=str)),
    )


# -- lookups ------------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """As nerv.service.projects.normalize_path: absolute, ``~``, ``.`` and ``..`` resolved."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def enclosing_dirs(path: str) -> list[str]:
    """``path`` (normalised) and every folder above it, deepest first."""
    full = normalize_path(path)
    candidates = [full]
    while True:
        parent = os.path.dirname(full)
        if parent == full:
            return candidates
        candidates.append(parent)
        full = parent


def repo_for_path(conn: sqlite3.Connection, path: str) -> tuple[str, str] | None:
    """``(project_id, repo path)`` of the nearest registered repository enclosing ``path``."""
    candidates = enclosing_dirs(path)
    marks = ", ".join("?" * len(candidates))
    row = conn.execute(
        f"SELECT project_id, path FROM project_repos WHERE path IN ({marks}) "
        "ORDER BY length(path) DESC, created_at LIMIT 1", candidates).fetchone()
    return None if row is None else (row[0], row[1])


def exists(conn: sqlite3.Connection, table: str, ident: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is not None


def setting(conn: sqlite3.Connection, key: str, project_id: str | None, environ: Mapping[str, str],
            default: Any) -> Any:
    """A setting by the service's lookup order: NERV_<KEY>, the project's, the global one, default."""
    override = environ.get(env.setting_env_name(key))
    if override is not None:
        try:
            return json.loads(override)
        except ValueError:
            return override
    if project_id is not None:
        row = conn.execute("SELECT value FROM settings WHERE key = ? AND project_id = ?",
                           (key, project_id)).fetchone()
        if row is not None:
            return json.loads(row[0])
    row = conn.execute("SELECT value FROM settings WHERE key = ? AND project_id IS NULL", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


# -- rules --------------------------------------------------------------------------


def rule_rows(conn: sqlite3.Connection, keys: Iterable[str], project_id: str | None) -> list[tuple[Any, ...]]:
    """``(id, tool, pattern, action, note)`` of the enabled rules a call with these index keys could meet.

    Prefiltered in SQL by ``match_key`` (see nerv.permissions.candidate_key / call_keys)
    and by scope (global rules plus ``project_id``'s), oldest first: the matcher
    reports the earliest of several deciding rules.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    marks = ", ".join("?" * len(keys))
    scope = "(project_id IS NULL OR project_id = ?)" if project_id else "project_id IS NULL"
    params: list[Any] = [*keys, project_id] if project_id else keys
    return conn.execute(
        f"SELECT id, tool, pattern, action, note FROM approval_rules "
        f"WHERE enabled = 1 AND match_key IN ({marks}) AND {scope} ORDER BY created_at, rowid",
        params,
    ).fetchall()


def evaluate(conn: sqlite3.Connection, tool_name: str, tool_input: Mapping[str, Any],
             project_id: str | None, ctx: MatchContext | None = None) -> tuple[Decision, dict[str, str]]:
    """The matcher's decision for one call under the rules in force (deny > ask > allow),
    and the notes of the rules it names (id -> note).

    A stored rule the matcher refuses (written by another version, or by hand)
    is left out; if any was, the call is never allowed: its answer becomes ask.
    """
    from nerv.permissions import CompiledRules, Decision, RuleSpec, RuleSyntaxError, call_keys

    rows = rule_rows(conn, call_keys(tool_name, tool_input), project_id)
    specs = [RuleSpec(r[0], r[1], r[2] or None, r[3]) for r in rows]
    broken: list[RuleSpec] = []
    try:
        compiled = CompiledRules(specs)
    except RuleSyntaxError:
        good = []
        for spec in specs:
            try:
                CompiledRules([spec])
            except RuleSyntaxError:
                broken.append(spec)
            else:
                good.append(spec)
        compiled = CompiledRules(good)
    decision = compiled.evaluate(tool_name, tool_input, ctx)
    if broken and decision.action in (None, "allow"):
        shown = ", ".join(f"{s.id} ({_rule_text(s)})" for s in broken[:3])
        decision = Decision("ask", (), f"invalid stored rule(s) {shown}: fix or remove them", decision.parts)
    named = {r.id for r in decision.rules}
    return decision, {r[0]: r[4] for r in rows if r[0] in named and r[4]}


def _rule_text(spec: RuleSpec) -> str:
    return spec.tool if not spec.pattern else f"{spec.tool}({spec.pattern})"


# -- sessions -----------------------------------------------------------------------

_SESSION_COLUMNS = (
    "id", "project_id", "task_id", "status", "started_at", "ended_at", "tokens_input", "tokens_output",
    "cost_usd", "claude_session_id", "tokens_cache_read", "tokens_cache_write_5m", "tokens_cache_write_1h",
    "model", "cwd", "transcript_path", "updated_at",
)
# The status a session takes on each event (Stop: the agent finished its turn and waits).
SESSION_STATUS = {
    "SessionStart": "active", "UserPromptSubmit": "active", "PreToolUse": "active",
    "PostToolUse": "active", "PermissionRequest": "active", "Stop": "idle", "SessionEnd": "completed",
}


def touch_session(conn: sqlite3.Connection, actor: str, event: str, claude_session_id: str, *,
                  project_id: str | None, task_id: str | None, cwd: str | None,
                  transcript_path: str | None) -> str:
    """Create or update the claude_sessions row for ``claude_session_id``; returns its id.

    Writes (and audits) only when something changes, so the per-tool-call events
    of a running session cost one SELECT.
    """
    status = SESSION_STATUS.get(event, "active")
    row = conn.execute(
        f"SELECT {', '.join(_SESSION_COLUMNS)} FROM claude_sessions WHERE claude_session_id = ?",
        (claude_session_id,)).fetchone()
    if row is not None:
        current = dict(zip(_SESSION_COLUMNS, row, strict=True))
        changes = _session_changes(current, event, status, project_id, task_id, cwd, transcript_path)
        if not changes:
            return str(current["id"])
    with _Write(conn):
        now = now_ms()
        row = conn.execute(  # again, under the write lock: another hook may have been first
            f"SELECT {', '.join(_SESSION_COLUMNS)} FROM claude_sessions WHERE claude_session_id = ?",
            (claude_session_id,)).fetchone()
        if row is None:
            values: dict[str, Any] = dict.fromkeys(_SESSION_COLUMNS, 0)
            values.update({
                "id": new_id(), "project_id": project_id, "task_id": task_id, "status": status,
                "started_at": now, "ended_at": now if status == "completed" else None, "cost_usd": 0.0,
                "claude_session_id": claude_session_id, "model": None, "cwd": cwd,
                "transcript_path": transcript_path, "updated_at": now,
            })
            conn.execute(f"INSERT INTO claude_sessions ({', '.join(values)}) "
                         f"VALUES ({', '.join('?' * len(values))})", tuple(values.values()))
            audit(conn, actor, "session", values["id"], "create", None, values, at=now)
            return str(values["id"])
        current = dict(zip(_SESSION_COLUMNS, row, strict=True))
        changes = _session_changes(current, event, status, project_id, task_id, cwd, transcript_path)
        if changes:
            if "ended_at" in changes and changes["ended_at"] == -1:
                changes["ended_at"] = now
            assignments = ", ".join(f"{k} = ?" for k in changes)
            conn.execute(f"UPDATE claude_sessions SET {assignments}, updated_at = ? WHERE id = ?",
                         (*changes.values(), now, current["id"]))
            action = "end" if status == "completed" else "update"
            audit(conn, actor, "session", current["id"], action, {k: current[k] for k in changes},
                  changes, at=now)
        return str(current["id"])


def _session_changes(current: dict[str, Any], event: str, status: str, project_id: str | None,
                     task_id: str | None, cwd: str | None, transcript_path: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if current["status"] != status and not (status == "idle" and current["status"] == "completed"):
        changes["status"] = status
    if status == "completed":
        if current["ended_at"] is None or "status" in changes:
            changes["ended_at"] = -1  # placeholder for "now", filled in under the lock
    elif current["ended_at"] is not None and status == "active":
        changes["ended_at"] = None  # a resumed session is open again
    for column, value in (("project_id", project_id), ("task_id", task_id), ("cwd", cwd),
                          ("transcript_path", transcript_path)):
        if value is not None and current[column] is None:
            changes[column] = value
    return changes


def session_id_for(conn: sqlite3.Connection, claude_session_id: str) -> str | None:
    row = conn.execute("SELECT id FROM claude_sessions WHERE claude_session_id = ?",
                       (claude_session_id,)).fetchone()
    return None if row is None else str(row[0])


# -- approval requests --------------------------------------------------------------

_REQUEST_COLUMNS = (
    "id", "project_id", "session_id", "task_id", "tool_name", "tool_input", "cwd", "status", "reason",
    "decided_by", "decided_at", "created_at", "updated_at",
)


def create_request(conn: sqlite3.Connection, actor: str, tool_name: str, tool_input: Mapping[str, Any], *,
                   project_id: str | None, session_id: str | None, task_id: str | None,
                   cwd: str | None) -> str:
    """A pending approval_requests row (and its audit row), as ApprovalsMixin.create_request writes it."""
    now = now_ms()
    values: dict[str, Any] = {
        "id": new_id(), "project_id": project_id, "session_id": session_id, "task_id": task_id,
        "tool_name": tool_name, "tool_input": json.dumps(dict(tool_input), sort_keys=True), "cwd": cwd,
        "status": "pending", "reason": None, "decided_by": None, "decided_at": None,
        "created_at": now, "updated_at": now,
    }
    with _Write(conn):
        conn.execute(f"INSERT INTO approval_requests ({', '.join(_REQUEST_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))})",
                     tuple(values[c] for c in _REQUEST_COLUMNS))
        audit(conn, actor, "approval_request", values["id"], "create", None, values, at=now)
    return str(values["id"])


def request_state(conn: sqlite3.Connection, request_id: str) -> tuple[str, str | None, str | None]:
    row = conn.execute("SELECT status, reason, decided_by FROM approval_requests WHERE id = ?",
                       (request_id,)).fetchone()
    if row is None:
        return ("missing", None, None)
    return (row[0], row[1], row[2])


def wait_for_decision(conn: sqlite3.Connection, request_id: str, deadline: float,
                      poll_s: float = 0.1, recheck_s: float = 2.0) -> tuple[str, str | None, str | None]:
    """Wait until the request leaves ``pending`` or ``deadline`` (time.monotonic) passes.

    Sleeps ``poll_s`` between checks of ``PRAGMA data_version`` (which changes
    when another connection commits) and re-reads the row only then, plus every
    ``recheck_s`` as a safety net.  Returns the row's (status, reason, decided_by).
    """
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    state = request_state(conn, request_id)
    next_recheck = time.monotonic() + recheck_s
    while state[0] == "pending":
        now = time.monotonic()
        if now >= deadline:
            break
        time.sleep(min(poll_s, deadline - now))
        current = conn.execute("PRAGMA data_version").fetchone()[0]
        if current != version or time.monotonic() >= next_recheck:
            version = current
            next_recheck = time.monotonic() + recheck_s
            state = request_state(conn, request_id)
    return state


def expire_request(conn: sqlite3.Connection, actor: str, request_id: str, reason: str) -> bool:
    """Mark a still-pending request expired (audited); False if someone decided it first."""
    with _Write(conn):
        now = now_ms()
        changed = conn.execute(
            "UPDATE approval_requests SET status = 'expired', reason = ?, decided_by = ?, decided_at = ?, "
            "updated_at = ? WHERE id = ? AND status = 'pending'",
            (reason, actor, now, now, request_id)).rowcount
        if changed:
            audit(conn, actor, "approval_request", request_id, "expire",
                  {"status": "pending", "reason": None, "decided_by": None, "decided_at": None},
                  {"status": "expired", "reason": reason, "decided_by": actor, "decided_at": now}, at=now)
    return bool(changed)
