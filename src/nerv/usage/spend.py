"""The SQL that sums spend (cost in integer nano-dollars) over a time range.

Its own small module because the statusline and the budget check run it on
every call and must stay cheap to import: :mod:`nerv.usage.queries` pulls in
the report types (dataclasses, inspect), this imports only the money format.
"""

from __future__ import annotations

from typing import Any

from nerv.usage.money import NANO_SQL

_NANO = NANO_SQL.format("cost_usd")


def spend_sql(since: int, until: int, project_id: str | None, *, by_day: bool) -> list[tuple[str, list[Any]]]:
    """Cost (integer nano-dollars) and unpriced count in ``[since, until)`` (per local day
    if ``by_day``): metrics by their time, plus what sessions started in range hold beyond
    their metrics."""
    day = "date({} / 1000, 'unixepoch', 'localtime')"
    metrics_key = day.format("m.recorded_at") if by_day else "''"
    session_key = day.format("s.started_at") if by_day else "''"
    scope = "" if project_id is None else " AND s.project_id = ?"
    extra = [] if project_id is None else [project_id]
    join = "" if project_id is None else "JOIN claude_sessions s ON s.id = m.session_id "
    metrics = (
        f"SELECT {metrics_key} AS k, sum({NANO_SQL.format('m.cost_usd')}), "
        f"count(x.metric_id) FROM metrics m {join}"
        "LEFT JOIN unpriced_metrics x ON x.metric_id = m.id "
        f"WHERE m.recorded_at >= ? AND m.recorded_at < ?{scope} GROUP BY k"
    )
    session_nano = NANO_SQL.format("s.cost_usd")
    residual = (
        f"SELECT {session_key} AS k, "
        f"sum({session_nano} - coalesce(a.c, 0)), 0 FROM claude_sessions s LEFT JOIN ("
        f"SELECT session_id, sum({_NANO}) AS c FROM metrics WHERE session_id IN "
        f"(SELECT id FROM claude_sessions s WHERE started_at >= ? AND started_at < ?{scope}) "
        "GROUP BY session_id"
        f") a ON a.session_id = s.id WHERE s.started_at >= ? AND s.started_at < ?{scope} "
        f"AND {session_nano} != coalesce(a.c, 0) GROUP BY k"
    )
    return [(metrics, [since, until, *extra]), (residual, [since, until, *extra, since, until, *extra])]
