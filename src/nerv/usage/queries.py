"""The report SQL: usage rows (metrics, plus amounts recorded on sessions directly)
grouped in SQLite, turned into :class:`nerv.usage.report.ReportRow`."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # spend_sql is used where dataclass imports cost too much (hook, statusline)
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


_RESIDUAL = (
    "(s.tokens_input != coalesce(a.i, 0) OR s.tokens_output != coalesce(a.o, 0) "
    "OR s.tokens_cache_write_5m != coalesce(a.w5, 0) OR s.tokens_cache_write_1h != coalesce(a.w1, 0) "
    "OR s.tokens_cache_read != coalesce(a.r, 0) OR abs(s.cost_usd - coalesce(a.c, 0.0)) > 1e-9)"
)
_SUMS = (
    "sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_5m_tokens) AS w5, "
    "sum(cache_write_1h_tokens) AS w1, sum(cache_read_tokens) AS r, sum(cost_usd) AS c"
)


def usage_cte(since: int | None, until: int | None) -> tuple[str, list[Any]]:
    """``u``: one row per metric in range, plus one per session for amounts recorded on
    the session itself (its columns minus its metrics' sums), at the session's start.

    With a time range, only the sessions started in it have their metrics summed (the
    today / this month figures of status and budgets stay cheap on a large history)."""
    lo = -_MAX_MS if since is None else since
    hi = _MAX_MS if until is None else until
    bounded = since is not None or until is not None
    only = (
        "WHERE session_id IN (SELECT id FROM claude_sessions WHERE started_at >= ? AND started_at < ?) "
        if bounded
        else ""
    )
    sql = f"""
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
    SELECT session_id, {_SUMS} FROM metrics {only}GROUP BY session_id
  ) a ON a.session_id = s.id
  WHERE s.started_at >= ? AND s.started_at < ? AND {_RESIDUAL}
)"""
    return sql, [lo, hi, *([lo, hi] if bounded else []), lo, hi]


def by_session_sql(key: str, extras: str, where: str, order: str) -> str:
    """All-time report grouped by a session attribute (session, project, task): a session's
    own columns already hold its whole usage (metrics by trigger, plus amounts recorded on
    it directly), so metrics are only read once, per session, for models and counts."""
    return f"""
WITH a AS (
  SELECT m.session_id AS sid, group_concat(DISTINCT m.model) AS models, count(*) AS n,
         sum(EXISTS (SELECT 1 FROM unpriced_metrics x WHERE x.metric_id = m.id)) AS unpriced,
         min(m.recorded_at) AS first_at, max(m.recorded_at) AS last_at, {_SUMS}
  FROM metrics m GROUP BY m.session_id
),
per AS (
  SELECT s.id AS sid, {_RESIDUAL} AS resid FROM claude_sessions s LEFT JOIN a ON a.sid = s.id
)
SELECT {key} AS k,
       group_concat(CASE WHEN per.resid AND s.model IS NOT NULL
                         THEN coalesce(a.models || ',', '') || s.model ELSE a.models END) AS models,
       sum(s.tokens_input) AS i, sum(s.tokens_output) AS o, sum(s.tokens_cache_write_5m) AS w5,
       sum(s.tokens_cache_write_1h) AS w1, sum(s.tokens_cache_read) AS r, sum(s.cost_usd) AS cost,
       coalesce(sum(a.unpriced), 0) AS unpriced, coalesce(sum(a.n), 0) AS n, count(*) AS sessions,
       min(CASE WHEN per.resid THEN min(coalesce(a.first_at, s.started_at), s.started_at)
                ELSE a.first_at END) AS first_at,
       max(CASE WHEN per.resid THEN max(coalesce(a.last_at, s.started_at), s.started_at)
                ELSE a.last_at END) AS last_at{extras}
FROM claude_sessions s JOIN per ON per.sid = s.id LEFT JOIN a ON a.sid = s.id
LEFT JOIN projects p ON p.id = s.project_id LEFT JOIN tasks tk ON tk.id = s.task_id
WHERE ({where}) AND (a.sid IS NOT NULL OR per.resid)
GROUP BY k ORDER BY {order}"""


def spend_sql(since: int, until: int, project_id: str | None, *, by_day: bool) -> list[tuple[str, list[Any]]]:
    """Cost and unpriced count in ``[since, until)`` (per local day if ``by_day``): metrics
    by their time, plus what sessions started in range hold beyond their metrics."""
    day = "date({} / 1000, 'unixepoch', 'localtime')"
    metrics_key = day.format("m.recorded_at") if by_day else "''"
    session_key = day.format("s.started_at") if by_day else "''"
    scope = "" if project_id is None else " AND s.project_id = ?"
    extra = [] if project_id is None else [project_id]
    join = "" if project_id is None else "JOIN claude_sessions s ON s.id = m.session_id "
    metrics = (
        f"SELECT {metrics_key} AS k, sum(m.cost_usd), "
        f"count(x.metric_id) FROM metrics m {join}"
        "LEFT JOIN unpriced_metrics x ON x.metric_id = m.id "
        f"WHERE m.recorded_at >= ? AND m.recorded_at < ?{scope} GROUP BY k"
    )
    residual = (
        f"SELECT {session_key} AS k, "
        "sum(s.cost_usd - coalesce(a.c, 0.0)), 0 FROM claude_sessions s LEFT JOIN ("
        "SELECT session_id, sum(cost_usd) AS c FROM metrics WHERE session_id IN "
        f"(SELECT id FROM claude_sessions s WHERE started_at >= ? AND started_at < ?{scope}) "
        "GROUP BY session_id"
        f") a ON a.session_id = s.id WHERE s.started_at >= ? AND s.started_at < ?{scope} "
        "AND abs(s.cost_usd - coalesce(a.c, 0.0)) > 1e-9 GROUP BY k"
    )
    return [(metrics, [since, until, *extra]), (residual, [since, until, *extra, since, until, *extra])]


def report_row(by: str, row: sqlite3.Row) -> ReportRow:
    from nerv.usage.records import TokenUsage
    from nerv.usage.report import ReportRow

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
