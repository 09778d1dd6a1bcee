"""The report SQL: usage rows (metrics, plus amounts recorded on sessions directly)
grouped in SQLite, turned into :class:`nerv.usage.report.ReportRow`.

Money is summed as integer nano-dollars: each stored REAL cost is rounded once
(:data:`nerv.usage.money.NANO_SQL`), so no sum drifts (:mod:`nerv.usage.money`).
The service runs these through its read function; nothing here writes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from nerv.errors import ValidationError
from nerv.usage.money import NANO_SQL
from nerv.usage.records import TokenUsage
from nerv.usage.report import (
    BREAKDOWN_GROUPINGS,
    CHRONOLOGICAL,
    GROUPINGS,
    ModelShare,
    ReportRow,
    short_ids,
)
from nerv.usage.spend import spend_sql as spend_sql  # re-exported: the spend sums live there

Read = Callable[[str, list[Any]], list[sqlite3.Row]]

_LOCAL = "{}, 'unixepoch', 'localtime'"
GROUP_SQL = {
    "session": "s.id",
    "day": f"date({_LOCAL.format('u.t / 1000')})",
    # The Monday on or before the day: back 6 days, then forward to the next Monday.
    "week": f"date({_LOCAL.format('u.t / 1000')}, '-6 days', 'weekday 1')",
    "month": f"strftime('%Y-%m', {_LOCAL.format('u.t / 1000')})",
    "project": "s.project_id",
    "task": "s.task_id",
    "model": "u.model",
    "total": "NULL",
}
EXTRA_SQL = {
    "session": ", s.claude_session_id AS claude_id, s.project_id AS project_id, s.task_id AS task_id, "
    "s.cwd AS cwd, s.started_at AS started_at, p.name AS project_name",
    "project": ", p.name AS project_name",
    "task": ", tk.title AS task_title, tk.project_id AS project_id",
}
_MAX_MS = 2**62
_NANO = NANO_SQL.format("cost_usd")

_RESIDUAL = (
    "(s.tokens_input != coalesce(a.i, 0) OR s.tokens_output != coalesce(a.o, 0) "
    "OR s.tokens_cache_write_5m != coalesce(a.w5, 0) OR s.tokens_cache_write_1h != coalesce(a.w1, 0) "
    f"OR s.tokens_cache_read != coalesce(a.r, 0) OR {NANO_SQL.format('s.cost_usd')} != coalesce(a.c, 0))"
)
_SUMS = (
    "sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_5m_tokens) AS w5, "
    f"sum(cache_write_1h_tokens) AS w1, sum(cache_read_tokens) AS r, sum({_NANO}) AS c"
)
_AGGREGATES = (
    "sum(u.i) AS i, sum(u.o) AS o, sum(u.w5) AS w5, sum(u.w1) AS w1, sum(u.r) AS r, "
    "sum(u.c) AS cost, sum(u.unpriced) AS unpriced, sum(u.n) AS n"
)
_JOINS = (
    "FROM u JOIN claude_sessions s ON s.id = u.sid "
    "LEFT JOIN projects p ON p.id = s.project_id LEFT JOIN tasks tk ON tk.id = s.task_id"
)


def usage_cte(since: int | None, until: int | None) -> tuple[str, list[Any]]:
    """``u``: one row per metric in range, plus one per session for amounts recorded on
    the session itself (its columns minus its metrics' sums), at the session's start.
    ``u.c`` is integer nano-dollars.

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
         {NANO_SQL.format("m.cost_usd")} AS c, m.recorded_at AS t,
         EXISTS (SELECT 1 FROM unpriced_metrics x WHERE x.metric_id = m.id) AS unpriced, 1 AS n
  FROM metrics m WHERE m.recorded_at >= ? AND m.recorded_at < ?
  UNION ALL
  SELECT s.id, s.model, s.tokens_input - coalesce(a.i, 0), s.tokens_output - coalesce(a.o, 0),
         s.tokens_cache_write_5m - coalesce(a.w5, 0), s.tokens_cache_write_1h - coalesce(a.w1, 0),
         s.tokens_cache_read - coalesce(a.r, 0), {NANO_SQL.format("s.cost_usd")} - coalesce(a.c, 0),
         s.started_at, 0, 0
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
       sum(s.tokens_cache_write_1h) AS w1, sum(s.tokens_cache_read) AS r,
       sum({NANO_SQL.format("s.cost_usd")}) AS cost,
       coalesce(sum(a.unpriced), 0) AS unpriced, coalesce(sum(a.n), 0) AS n, count(*) AS sessions,
       min(CASE WHEN per.resid THEN min(coalesce(a.first_at, s.started_at), s.started_at)
                ELSE a.first_at END) AS first_at,
       max(CASE WHEN per.resid THEN max(coalesce(a.last_at, s.started_at), s.started_at)
                ELSE a.last_at END) AS last_at{extras}
FROM claude_sessions s JOIN per ON per.sid = s.id LEFT JOIN a ON a.sid = s.id
LEFT JOIN projects p ON p.id = s.project_id LEFT JOIN tasks tk ON tk.id = s.task_id
WHERE ({where}) AND (a.sid IS NOT NULL OR per.resid)
GROUP BY k ORDER BY {order}"""


# -- building a report ---------------------------------------------------------------------


def scope_sql(project_id: str | None, unassigned: bool) -> tuple[str, list[Any]]:
    """The WHERE on ``s`` (claude_sessions) for --project / --unassigned / everything."""
    if unassigned:
        return "s.project_id IS NULL", []
    if project_id is not None:
        return "s.project_id = ?", [project_id]
    return "1", []


def _tokens(row: sqlite3.Row) -> TokenUsage:
    return TokenUsage(
        int(row["i"] or 0), int(row["o"] or 0), int(row["w5"] or 0), int(row["w1"] or 0), int(row["r"] or 0)
    )


def report_rows(
    read: Read,
    by: str,
    *,
    since: int | None,
    until: int | None,
    where: str,
    params: list[Any],
    breakdown: bool = False,
    now_ms: int = 0,
) -> list[ReportRow]:
    """The rows of a report grouped ``by`` (one of :data:`GROUPINGS`, or ``"total"``: one row)."""
    if by not in GROUPINGS and by != "total":
        raise ValidationError(f"cannot group usage by {by!r}: expected one of {', '.join(GROUPINGS)}")
    if breakdown and by not in BREAKDOWN_GROUPINGS:
        raise ValidationError(f"--breakdown splits rows by model; it does not apply to --by {by}")
    if by == "block":
        return _blocks(read, since, until, where, params, breakdown, now_ms)
    key = GROUP_SQL[by]
    extras = EXTRA_SQL.get(by, "")
    order = "k" if by in CHRONOLOGICAL else "cost DESC, first_at, k"
    if since is None and until is None and by in ("session", "project", "task", "total"):
        rows = read(by_session_sql(key, extras, where, order), params)
    else:
        cte, cte_params = usage_cte(since, until)
        rows = read(
            f"{cte} SELECT {key} AS k, group_concat(DISTINCT u.model) AS models, {_AGGREGATES}, "
            "count(DISTINCT u.sid) AS sessions, min(u.t) AS first_at, max(u.t) AS last_at"
            f"{extras} {_JOINS} WHERE {where} GROUP BY k ORDER BY {order}",
            [*cte_params, *params],
        )
    if by == "total" and not rows:
        return []
    result = [report_row(by, row) for row in rows]
    if by == "session":
        short = short_ids([r.key or str(r.extra["nerv_session_id"]) for r in result])
        for r in result:
            r.extra["short_id"] = short[r.key or str(r.extra["nerv_session_id"])]
    if breakdown:
        shares = _shares(read, key, since, until, where, params)
        result = [_with_breakdown(r, shares.get(_group_value(r), [])) for r in result]
    return result


def _group_value(row: ReportRow) -> Any:
    """The SQL group value of a row (a session row's key is Claude Code's id, not nerv's)."""
    return row.extra["nerv_session_id"] if row.by == "session" else row.key


def _with_breakdown(row: ReportRow, shares: list[ModelShare]) -> ReportRow:
    from dataclasses import replace

    return replace(row, breakdown=tuple(shares))


def _shares(
    read: Read, key: str, since: int | None, until: int | None, where: str, params: list[Any]
) -> dict[Any, list[ModelShare]]:
    """Each group's usage split by model, most expensive model first."""
    cte, cte_params = usage_cte(since, until)
    found: dict[Any, list[ModelShare]] = {}
    for row in read(
        f"{cte} SELECT {key} AS k, u.model AS model, {_AGGREGATES} {_JOINS} "
        f"WHERE {where} GROUP BY k, u.model ORDER BY k, cost DESC, u.model",
        [*cte_params, *params],
    ):
        found.setdefault(row["k"], []).append(
            ModelShare(row["model"], _tokens(row), int(row["cost"]), int(row["unpriced"]), int(row["n"]))
        )
    return found


def _blocks(
    read: Read,
    since: int | None,
    until: int | None,
    where: str,
    params: list[Any],
    breakdown: bool,
    now_ms: int,
) -> list[ReportRow]:
    from nerv.usage.blocks import HOUR_MS, UsageEvent, build_blocks

    # A block's start depends on the blocks before it, so they are built from the start of
    # the history; --since then keeps, whole, the blocks that end after it.
    cte, cte_params = usage_cte(None, until)
    # Pre-summed per session, model and clock hour (a block never splits an hour). Every
    # session is read: the windows are the account's; the scope only says what is counted.
    rows = read(
        f"{cte} SELECT u.t - u.t % {HOUR_MS} AS h, min(u.t) AS t, max(u.t) AS last, u.sid AS sid, "
        f"u.model AS model, ({where}) AS counted, {_AGGREGATES} {_JOINS} "
        "GROUP BY h, u.sid, u.model, counted ORDER BY h",
        [*cte_params, *params],
    )
    events = (
        UsageEvent(
            row["t"],
            row["sid"],
            row["model"],
            _tokens(row),
            int(row["cost"]),
            int(row["unpriced"]),
            int(row["n"]),
            row["last"],
            bool(row["counted"]),
        )
        for row in rows
    )
    blocks = build_blocks(events, now_ms, breakdown=breakdown)
    return blocks if since is None else [b for b in blocks if b.extra["end_at"] > since]


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
    elif by == "total":
        label = "total"
    return ReportRow(
        by=by,
        key=key,
        label=label,
        models=models,
        tokens=_tokens(row),
        cost_nano=int(row["cost"] or 0),
        unpriced=int(row["unpriced"] or 0),
        responses=int(row["n"] or 0),
        sessions=int(row["sessions"] or 0),
        first_at=row["first_at"],
        last_at=row["last_at"],
        extra=extra,
    )
