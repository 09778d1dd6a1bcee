"""Budgets that act, read the way the hook and the statusline can afford.

The service's :meth:`~nerv.service.usage.UsageMixin.budget_status` answers the
same question for the CLI and the dashboard; this module reads a connection
directly (no service imports) so nerv-hook can check budgets on a tool call.
Both sum spend with :func:`nerv.usage.queries.spend_sql` and grade it with
:func:`nerv.usage.budget.level_for`, so the figures agree.

``budget.enforce`` (``off`` | ``ask`` | ``deny``; the project's setting, else
the global one) says what happens once a daily or monthly budget is exceeded:
PreToolUse answers ask / deny naming the budget, UserPromptSubmit blocks new
prompts with how to raise it. Budgets are the global ones (all usage) and a
project's own (settings set for that project).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nerv.store import reads

ENFORCE_KEY = "budget.enforce"
ENFORCE_MODES = ("off", "ask", "deny")
PERIOD_KEYS = (("daily", "budget.daily_usd"), ("monthly", "budget.monthly_usd"))
DEFAULT_WARN_AT = (0.8, 1.0)


@dataclass(frozen=True)
class Budget:
    scope: str  # "global" or "project"
    project_id: str | None
    period: str  # "daily" or "monthly"
    key: str  # the setting that holds the limit
    limit_usd: float
    spent_usd: float
    level: str  # ok, warning, exceeded
    threshold: float | None

    @property
    def fraction(self) -> float:
        return self.spent_usd / self.limit_usd

    def name(self) -> str:
        whose = "" if self.scope == "global" else f" of project {self.project_id}"
        return f"the {self.period} budget{whose} (${self.spent_usd:,.2f} of ${self.limit_usd:,.2f})"

    def how_to_raise(self) -> str:
        where = "" if self.scope == "global" else f" --project {self.project_id}"
        return f"nerv settings set {self.key} AMOUNT{where}"


def _own_setting(conn: sqlite3.Connection, key: str, project_id: str) -> Any:
    row = conn.execute(
        "SELECT value FROM settings WHERE key = ? AND project_id = ?", (key, project_id)
    ).fetchone()
    return None if row is None else json.loads(row[0])


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def spent(conn: sqlite3.Connection, since: int, until: int, project_id: str | None) -> float:
    from nerv.usage.queries import spend_sql

    total = 0.0
    for sql, params in spend_sql(since, until, project_id, by_day=False):
        for row in conn.execute(sql, params):
            total += float(row[1] or 0.0)
    return total


def budgets(
    conn: sqlite3.Connection, project_id: str | None, environ: Mapping[str, str] = os.environ,
    now: datetime | None = None,
) -> list[Budget]:
    """The configured budgets in force for a call in ``project_id`` and how much of each is spent."""
    from nerv.usage.budget import level_for
    from nerv.usage.report import day_start, month_start, next_month, to_ms

    today = (now or datetime.now()).date()
    bounds = {
        "daily": (to_ms(day_start(today)), to_ms(day_start(today + timedelta(days=1)))),
        "monthly": (to_ms(day_start(month_start(today))), to_ms(day_start(next_month(today)))),
    }
    out: list[Budget] = []
    scopes: list[tuple[str, str | None]] = [("global", None)]
    if project_id is not None:
        scopes.append(("project", project_id))
    for scope, pid in scopes:
        warn_at = reads.setting(conn, "budget.warn_at", pid, environ, list(DEFAULT_WARN_AT))
        if not isinstance(warn_at, list) or not all(_positive(x) for x in warn_at):
            warn_at = list(DEFAULT_WARN_AT)
        for period, key in PERIOD_KEYS:
            if pid is None:
                limit = reads.setting(conn, key, None, environ, None)
            else:
                limit = _own_setting(conn, key, pid)
            if not _positive(limit):
                continue
            spend = spent(conn, *bounds[period], pid)
            level, threshold = level_for(spend / float(limit), warn_at)
            out.append(Budget(scope, pid, period, key, float(limit), spend, level, threshold))
    return out


def enforce_mode(conn: sqlite3.Connection, project_id: str | None, environ: Mapping[str, str]) -> str:
    """``budget.enforce``; an unknown value counts as ``ask`` (never silently off)."""
    mode = reads.setting(conn, ENFORCE_KEY, project_id, environ, "off")
    mode = mode.strip() if isinstance(mode, str) else mode
    return mode if mode in ENFORCE_MODES else "ask"


def exceeded(
    conn: sqlite3.Connection, project_id: str | None, environ: Mapping[str, str] = os.environ,
    now: datetime | None = None,
) -> tuple[str, Budget] | None:
    """``(mode, the first exceeded budget)`` when budget.enforce acts on one, else None.

    Costs one settings read when enforcement is off.
    """
    mode = enforce_mode(conn, project_id, environ)
    if mode == "off":
        return None
    for budget in budgets(conn, project_id, environ, now):
        if budget.level == "exceeded":
            return mode, budget
    return None
