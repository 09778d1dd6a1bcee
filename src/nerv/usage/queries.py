"""The report SQL: usage rows (metrics, plus amounts recorded on sessions directly)
grouped in SQLite, turned into :class:`nerv.usage.report.ReportRow`."""

from __future__ import annotations

import sqlite3
from typing import Any

from nerv.usage.records import TokenUsage
from nerv.usage.report import ReportRow

GROUP_SQL = {
    "session": "s.id",
    "day": "date(u.t / 1000, 'unixepoch', 'localtime')",
    "month": "strftime('%Y-%m', u.t / 1000, 'unixepoch', 'localtime')",
    "project": "s.project_id",
    "task": "s.task_id",
    "model": "u.model",
}
EXTRA_SQL = {
    "session": ", s.claude_session_id AS claude_id, s.project_id AS project_id, s.task_id AS task_id, "
    "s.cwd AS cwd, s.started_at AS started_at, p.name AS project_name",
    "project": ", p.name AS project_name",
    "task": ", tk.title AS task_title, tk.project_id AS project_id",
}
_MAX_MS = 2**62


def usage_cte(since: int | None, until: int | None) -> tuple[str, list[Any]]:
    """``u``: one row per metric in range, plus one per session for amounts recorded on
    the session itself (its columns minus its metrics' sums), at the session's start."""
    lo = -_MAX_MS if since is None else since
    hi = _MAX_MS if until is None else until
    sql = """
WITH u AS (
  SELECT m.session_id AS sid, m.model AS model, m.input_tokens AS i, m.output_tokens AS o,
         m.cache_write_5m_tokens AS w5, m.cache_write_1h_tokens AS w1, m.cache_read_tokens AS r,
         m.cost_usd AS c, m.recorded_at AS t,
         EXISTS (SELECT 1 FROM unpriced_metrics x WHERE x.metric_id = m.id) AS unpriced, 1 AS n
  FROM metrics m WHERE m.recorded_at >= ? AND m.recorded_at < ?
  UNION ALL
  SELECT s.id, s.model, s.tokens_input - coalesce(a.i, 0), s.tokens_output - coalesce(a.o, 0),
         s.tokens_cache_write_5m - coalesce(a.w5, 0), s.tokens_cache_write_1h - coalesce(a.w1, 0),
         s.tokens_cache_read - coalesce(a.r, 0), s.cost_usd - coalesce(a.c, 0.0), s.started_at, 0, 0
  FROM claude_sessions s LEFT JOIN (
    SELECT session_id, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_5m_tokens) AS w5,
           sum(cache_write_1h_tokens) AS w1, sum(cache_read_tokens) AS r, sum(cost_usd) AS c
    FROM metrics GROUP BY session_id
  ) a ON a.session_id = s.id
  WHERE s.started_at >= ? AND s.started_at < ?
    AND (s.tokens_input != coalesce(a.i, 0) OR s.tokens_output != coalesce(a.o, 0)
         OR s.tokens_cache_write_5m != coalesce(a.w5, 0) OR s.tokens_cache_write_1h != coalesce(a.w1, 0)
         OR s.tokens_cache_read != coalesce(a.r, 0) OR abs(s.cost_usd - coalesce(a.c, 0.0)) > 1e-9)
)"""
    return sql, [lo, hi, lo, hi]


def report_row(by: str, row: sqlite3.Row) -> ReportRow:
    key = row["k"]
    models = sorted(set(row["models"].split(","))) if row["models"] else []
    extra: dict[str, Any] = {}
    label = "" if key is None else str(key)
    if by == "session":
        extra = {
            "nerv_session_id": key,
            "project_id": row["project_id"],
            "project_name": row["project_name"],
            "task_id": row["task_id"],
            "cwd": row["cwd"],
            "started_at": row["started_at"],
        }
        key = row["claude_id"]
        label = key or extra["nerv_session_id"]
    elif by == "project":
        extra = {"project_name": row["project_name"]}
        label = "(unassigned)" if key is None else row["project_name"] or str(key)
    elif by == "task":
        extra = {"task_title": row["task_title"], "project_id": row["project_id"]}
        label = "(no task)" if key is None else row["task_title"] or str(key)
    elif by == "model" and key is None:
        label = "(unknown)"
    return ReportRow(
        by=by,
        key=key,
        label=label,
        models=models,
        tokens=TokenUsage(int(row["i"]), int(row["o"]), int(row["w5"]), int(row["w1"]), int(row["r"])),
        cost_usd=float(row["cost"]),
        unpriced=int(row["unpriced"]),
        responses=int(row["n"]),
        sessions=int(row["sessions"]),
        first_at=row["first_at"],
        last_at=row["last_at"],
        extra=extra,
    )
