"""Budgets that act, read the way the hook and the statusline can afford.

The service's :meth:`~nerv.service.usage.UsageMixin.budget_status` answers the
same question for the CLI and the dashboard; this module reads a connection
directly (no service imports) so nerv-hook can check budgets on a tool call.
Both sum spend with :func:`nerv.usage.spend.spend_sql` and grade it with
:func:`level_for` (defined here, used by :mod:`nerv.usage.budget`), so the
figures agree. No dataclasses here: ``dataclasses`` imports ``inspect``, which
costs a short-lived process milliseconds per start.

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
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from nerv.store import reads

ENFORCE_KEY = "budget.enforce"
ENFORCE_MODES = ("off", "ask", "deny")
PERIOD_KEYS = (("daily", "budget.daily_usd"), ("monthly", "budget.monthly_usd"))
DEFAULT_WARN_AT = (0.8, 1.0)


def level_for(fraction: float, warn_at: Iterable[float]) -> tuple[str, float | None]:
    """``(ok | warning | exceeded, the highest warn_at threshold reached)``."""
    reached = [t for t in warn_at if fraction >= t]
    threshold = max(reached) if reached else None
    if fraction >= 1.0:
        return "exceeded", threshold
    return ("warning" if reached else "ok"), threshold


def period_bounds(period: str, today: date) -> tuple[int, int]:
    """``[start, end)`` in epoch ms of today (daily) or this month (monthly), local time."""
    if period == "daily":
        first, end = today, today + timedelta(days=1)
    else:
        first = today.replace(day=1)
        end = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    return (int(datetime.combine(first, time()).timestamp() * 1000),
            int(datetime.combine(end, time()).timestamp() * 1000))


class Budget:
    """One configured budget and how much of it is spent."""

    __slots__ = ("key", "level", "limit_usd", "period", "project_id", "scope", "spent_usd", "threshold")

    def __init__(
        self, scope: str, project_id: str | None, period: str, key: str, limit_usd: float, spent_usd: float,
        level: str, threshold: float | None,
    ) -> None:
        self.scope = scope  # "global" or "project"
        self.project_id = project_id
        self.period = period  # "daily" or "monthly"
        self.key = key  # the setting that holds the limit
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        self.level = level  # ok, warning, exceeded
        self.threshold = threshold

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
    """USD spent in ``[since, until)`` (all usage, or one project's), as the reports sum it."""
    from nerv.usage.money import usd
    from nerv.usage.spend import spend_sql

    nano = 0
    for sql, params in spend_sql(since, until, project_id, by_day=False):
        for row in conn.execute(sql, params):
            nano += int(row[1] or 0)  # whole nano-dollars (nerv.usage.money)
    return usd(nano)


def budgets(
    conn: sqlite3.Connection, project_id: str | None, environ: Mapping[str, str] = os.environ,
    now: datetime | None = None,
) -> list[Budget]:
    """The configured budgets in force for a call in ``project_id`` and how much of each is spent."""
    today = (now or datetime.now()).date()
    bounds = {period: period_bounds(period, today) for period, _ in PERIOD_KEYS}
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
