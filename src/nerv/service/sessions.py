"""Agent sessions (Claude Code runs) and their token/cost metrics."""

from __future__ import annotations

from typing import Any

from nerv.ids import now_ms
from nerv.models import Metric, Session
from nerv.service.base import ServiceBase
from nerv.service.tables import METRICS, SESSIONS
from nerv.store import sessions as store_sessions


class SessionsMixin(ServiceBase):
    def create_session(self, project_id: str | None, task_id: str | None = None, **fields: Any) -> Session:
        values: dict[str, Any] = {
            "project_id": project_id,
            "task_id": task_id,
            "status": "active",
            "started_at": now_ms(),
            "tokens_input": 0,
            "tokens_output": 0,
            "cost_usd": 0.0,
            "tokens_cache_read": 0,
            "tokens_cache_write_5m": 0,
            "tokens_cache_write_1h": 0,
        }
        values.update(fields)
        return self._insert(SESSIONS, values)

    def update_session(self, id: str, updates: dict[str, Any]) -> Session:
        return self._update(SESSIONS, id, updates)

    def get_session(self, id: str) -> Session | None:
        return self._get(SESSIONS, id)

    def get_session_by_claude_id(self, claude_session_id: str) -> Session | None:
        row = self._read_one(
            "SELECT * FROM claude_sessions WHERE claude_session_id = ?", (claude_session_id,)
        )
        return None if row is None else Session(**row)

    def get_sessions(self, project_id: str | None, status: str | None = None) -> list[Session]:
        """Sessions of a project (``None``: the unassigned ones), oldest first."""
        clauses = ["project_id IS ?"]
        params: list[Any] = [project_id]
        if status is not None:
            self._check(SESSIONS, {"status": status})
            clauses.append("status = ?")
            params.append(status)
        return self._select(SESSIONS, f"WHERE {' AND '.join(clauses)} ORDER BY started_at, rowid", params)

    def get_task_sessions(self, task_id: str) -> list[Session]:
        """Sessions that worked on a task, oldest first (index claude_sessions_task)."""
        return self._select(SESSIONS, "WHERE task_id = ? ORDER BY started_at, rowid", (task_id,))

    def touch_claude_session(
        self,
        event: str,
        claude_session_id: str,
        *,
        project_id: str | None = None,
        task_id: str | None = None,
        cwd: str | None = None,
        transcript_path: str | None = None,
    ) -> Session:
        """What nerv-hook records for a Claude Code event (SessionStart, Stop, SessionEnd...):
        the session's row created or brought up to date, by the same code the hook runs."""
        ident = store_sessions.touch(
            self._conn, self.actor, event, claude_session_id, project_id=project_id, task_id=task_id,
            cwd=cwd, transcript_path=transcript_path,
        )
        return self._require(SESSIONS, ident)

    def end_session(self, id: str, status: str = "completed") -> Session:
        return self._update(SESSIONS, id, {"status": status, "ended_at": now_ms()}, action="end")

    def get_project_cost(self, project_id: str) -> float:
        """Total cost of a project's sessions: one read of the trigger-kept total.

        Ingested usage is included: metrics roll up into their session's
        columns, and sessions into project_costs, by trigger.
        """
        row = self._read_one("SELECT cost_nanousd FROM project_costs WHERE project_id = ?", (project_id,))
        return int(row[0]) / 1e9 if row else 0.0

    # -- metrics ---------------------------------------------------------------------

    def record_metric(self, session_id: str, **fields: Any) -> Metric:
        """One token/cost row for a session; its totals follow by trigger."""
        values: dict[str, Any] = {
            "session_id": session_id,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cache_write_5m_tokens": 0,
            "cache_write_1h_tokens": 0,
            "cost_usd": 0.0,
            "recorded_at": now_ms(),
        }
        values.update(fields)
        return self._insert(METRICS, values)

    def get_metrics(self, session_id: str) -> list[Metric]:
        rows = self._read(
            "SELECT * FROM metrics WHERE session_id = ? ORDER BY recorded_at, rowid", (session_id,)
        )
        return [Metric(**r) for r in rows]
