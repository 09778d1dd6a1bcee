"""What Claude Code reports about itself: OTLP api_request / tool_decision events,
statusline session costs and plan-limit snapshots.

* An ``api_request`` event becomes a ``metrics`` row with external id
  ``otel:<request id>`` unless a transcript row for that request id is already
  held; a transcript row that arrives later replaces it (the
  ``metrics_replace_telemetry`` trigger), so a response is counted once.
* A ``tool_decision`` event becomes an audit row (``tool_decision``), so the
  audit shows decisions taken outside nerv's hook.
* The statusline's session cost is kept per session (``session_reports``);
  the plan-limit use (``rate_limit_snapshots``) gets a row when it changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, NamedTuple

from nerv.ids import new_id, now_ms
from nerv.store import audit
from nerv.store.tx import Transaction

OTEL_PREFIX = "otel:"
PERIODS = ("five_hour", "seven_day")

_INSERT_METRIC = (
    "INSERT INTO metrics (id, session_id, external_id, model, input_tokens, output_tokens, "
    "cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, cost_usd, recorded_at, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (external_id) DO NOTHING"
)
# The same expression as the metrics_request index, so the lookup uses it.
_HELD = (
    "SELECT 1 FROM metrics WHERE substr(external_id, instr(external_id, ':') + 1) = ? "
    "AND external_id != ? LIMIT 1"
)


class ApiRequest(NamedTuple):
    claude_session_id: str
    request_id: str
    model: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None  # None: no price known (flagged unpriced)
    at: int  # epoch ms


def record_api_request(conn: sqlite3.Connection, actor: str, event: ApiRequest) -> bool:
    """Add one response's usage; False when it is already counted (by either source)."""
    external = OTEL_PREFIX + event.request_id
    with Transaction(conn):
        if conn.execute(_HELD, (event.request_id, external)).fetchone() is not None:
            return False
        row = conn.execute(
            "SELECT id FROM claude_sessions WHERE claude_session_id = ?", (event.claude_session_id,)
        ).fetchone()
        if row is None:
            from nerv.store import sessions

            session_id = sessions.touch(
                conn, actor, "api_request", event.claude_session_id, project_id=None, task_id=None, cwd=None,
                transcript_path=None,
            )
        else:
            session_id = row[0]
        metric_id = new_id()
        added = conn.execute(
            _INSERT_METRIC,
            (metric_id, session_id, external, event.model, event.input_tokens, event.output_tokens,
             event.cache_read_tokens, event.cache_write_tokens, 0, event.cost_usd or 0.0, event.at, now_ms()),
        ).rowcount
        if added and event.cost_usd is None:
            conn.execute(
                "INSERT OR IGNORE INTO unpriced_metrics (metric_id, model) VALUES (?, ?)",
                (metric_id, event.model or ""),
            )
    return bool(added)


def record_tool_decision(
    conn: sqlite3.Connection, actor: str, claude_session_id: str, details: Mapping[str, Any], at: int
) -> str:
    """One audit row for a decision Claude Code took (``accept`` / ``reject`` ...)."""
    action = str(details.get("decision") or "decision")
    with Transaction(conn):
        return audit.write(
            conn, actor, "tool_decision", claude_session_id, action, None, dict(details), at=at
        )


def report_session(
    conn: sqlite3.Connection, claude_session_id: str, cost_usd: float, *, duration_ms: int | None,
    lines_added: int | None, lines_removed: int | None, model: str | None, cwd: str | None,
) -> None:
    """Keep the session cost Claude Code reports (one row per session, updated in place)."""
    now = now_ms()
    with Transaction(conn):
        conn.execute(
            "INSERT INTO session_reports (id, claude_session_id, cost_usd, duration_ms, lines_added, "
            "lines_removed, model, cwd, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (claude_session_id) DO UPDATE SET cost_usd = excluded.cost_usd, "
            "duration_ms = excluded.duration_ms, lines_added = excluded.lines_added, "
            "lines_removed = excluded.lines_removed, model = coalesce(excluded.model, model), "
            "cwd = coalesce(excluded.cwd, cwd), updated_at = excluded.updated_at "
            "WHERE cost_usd != excluded.cost_usd OR duration_ms IS NOT excluded.duration_ms",
            (new_id(), claude_session_id, cost_usd, duration_ms, lines_added, lines_removed, model, cwd, now,
             now),
        )


def snapshot_rate_limit(
    conn: sqlite3.Connection, period: str, used_percentage: float, resets_at: int | None,
    claude_session_id: str | None,
) -> bool:
    """A plan-limit snapshot, kept only when the window's figure changed; True if written."""
    if period not in PERIODS:
        raise ValueError(f"unknown rate-limit window {period!r}")
    with Transaction(conn):
        last = conn.execute(
            "SELECT used_percentage, resets_at FROM rate_limit_snapshots WHERE period = ? "
            "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
            (period,),
        ).fetchone()
        if last is not None and last[0] == used_percentage and last[1] == resets_at:
            return False
        conn.execute(
            "INSERT INTO rate_limit_snapshots (id, period, used_percentage, resets_at, claude_session_id, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
            (new_id(), period, used_percentage, resets_at, claude_session_id, now_ms()),
        )
    return True
