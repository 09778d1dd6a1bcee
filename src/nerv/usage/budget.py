"""Budget arithmetic: how much of a daily or monthly budget is spent, the warning
level at the configured thresholds, and when it runs out at the current pace.

Pure functions; :meth:`nerv.service.usage.UsageMixin.budget_status` feeds them
the spend from the database and the limits from the settings
``budget.daily_usd``, ``budget.monthly_usd`` and ``budget.warn_at``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from nerv.usage.enforce import level_for
from nerv.usage.money import fmt_usd, to_nano
from nerv.usage.report import day_start, next_month

PERIODS = ("daily", "monthly")
LEVELS = ("ok", "warning", "exceeded")
_MIN_DAY_FRACTION = 1 / 24  # extrapolate a day's pace from at least its first hour


@dataclass(frozen=True)
class BudgetStatus:
    scope: str  # "global" (all usage) or "project" (one project's usage)
    project_id: str | None
    period: str  # "daily" or "monthly"
    start: date  # first day of the period
    limit_usd: float
    spent_usd: float
    fraction: float  # spent / limit
    level: str  # ok, warning (a warn_at threshold reached), exceeded (spent >= limit)
    threshold: float | None  # the highest warn_at fraction reached
    projected_exhaustion: date | None  # at the current pace, the day spending reaches the limit
    exhausted_on: date | None  # the day it did reach it (when exceeded)
    unpriced: int  # responses in the period without a price: spent_usd is a lower bound then

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "project_id": self.project_id,
            "period": self.period,
            "start": self.start.isoformat(),
            "limit_usd": self.limit_usd,
            "spent_usd": self.spent_usd,
            "fraction": self.fraction,
            "level": self.level,
            "threshold": self.threshold,
            "projected_exhaustion": _iso(self.projected_exhaustion),
            "exhausted_on": _iso(self.exhausted_on),
            "unpriced_responses": self.unpriced,
        }

    def describe(self) -> str:
        """One line for people, saying whose spending it counts, e.g. ``monthly budget (all
        projects): $42.00 of $100.00 (42%), at this pace runs out 2026-02-25``."""
        whose = " (all projects)" if self.scope == "global" else f" (project {self.project_id})"
        spent, limit = fmt_usd(to_nano(self.spent_usd)), fmt_usd(to_nano(self.limit_usd))
        text = f"{self.period} budget{whose}: {spent} of {limit} ({self.fraction:.0%})"
        if self.exhausted_on is not None:
            text += f", exceeded on {self.exhausted_on.isoformat()}"
        elif self.projected_exhaustion is not None:
            when = "today" if self.period == "daily" else self.projected_exhaustion.isoformat()
            text += f", at this pace runs out {when}"
        if self.unpriced:
            text += f" (+{self.unpriced} unpriced responses)"
        return text


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()




def evaluate(
    *,
    period: str,
    limit: float,
    spent: float,
    warn_at: Iterable[float],
    now: datetime,
    daily_spend: Mapping[date, float] | None = None,
    scope: str = "global",
    project_id: str | None = None,
    unpriced: int = 0,
) -> BudgetStatus:
    """Status of one budget at ``now`` (naive local time).

    Monthly: the pace is the month's average daily spend (``spent / day of
    month``, today counted whole); the projected day is the first whose end
    reaches the limit at that pace, or None when the month ends first. Once
    exceeded, ``exhausted_on`` is the day the running total (``daily_spend``)
    crossed the limit. Daily: the pace is today's spend per elapsed hour
    (from the first hour on); the projection is today or None.
    """
    if period not in PERIODS:
        raise ValueError(f"unknown budget period {period!r}")
    today = now.date()
    fraction = spent / limit if limit > 0 else math.inf
    level, threshold = level_for(fraction, warn_at)
    projected: date | None = None
    exhausted: date | None = None
    if period == "daily":
        start = today
        if spent >= limit:
            exhausted = today
        else:
            elapsed = (now - day_start(today)).total_seconds() / 86400
            if spent / max(elapsed, _MIN_DAY_FRACTION) >= limit:
                projected = today
    else:
        start = today.replace(day=1)
        if spent >= limit:
            running = 0  # nano-dollars: a float running sum can stop a hair short of the limit
            for day in sorted(daily_spend or {}):
                running += to_nano((daily_spend or {})[day])
                if running >= to_nano(limit):
                    exhausted = day
                    break
            exhausted = exhausted or today
        elif spent > 0:
            pace = spent / today.day
            day_number = math.ceil(limit / pace)
            last_day = (next_month(start) - timedelta(days=1)).day
            if day_number <= last_day:
                projected = start.replace(day=max(day_number, today.day))
    return BudgetStatus(
        scope=scope,
        project_id=project_id,
        period=period,
        start=start,
        limit_usd=float(limit),
        spent_usd=spent,
        fraction=fraction,
        level=level,
        threshold=threshold,
        projected_exhaustion=projected,
        exhausted_on=exhausted,
        unpriced=unpriced,
    )
