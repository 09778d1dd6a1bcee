"""Budgets: levels at the warn_at thresholds, the projected day a budget runs out, and the
service view (global and per-project limits from settings, spend from metrics)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from nerv import DatabaseService
from nerv.errors import ValidationError
from nerv.usage.budget import evaluate, level_for
from nerv.usage.report import to_ms

NOW = datetime(2026, 4, 10, 12, 0)  # April: 30 days; the 10th, noon (local time)
WARN = [0.8, 1.0]


def test_levels() -> None:
    assert level_for(0.5, WARN) == ("ok", None)
    assert level_for(0.8, WARN) == ("warning", 0.8)
    assert level_for(0.99, [0.5, 0.9]) == ("warning", 0.9)
    assert level_for(1.0, WARN) == ("exceeded", 1.0)
    assert level_for(1.2, [0.5]) == ("exceeded", 0.5)  # over the limit is exceeded whatever the list


def test_monthly_projection() -> None:
    # $50 by the 10th: $5/day on average, so $100 is reached at the end of day 100 / 5 = 20.
    status = evaluate(period="monthly", limit=100, spent=50, warn_at=WARN, now=NOW)
    assert (status.level, status.fraction, status.start) == ("ok", 0.5, date(2026, 4, 1))
    assert status.projected_exhaustion == date(2026, 4, 20) and status.exhausted_on is None
    # $85: warning; $8.5/day -> 100 / 8.5 = 11.8 -> the 12th.
    warned = evaluate(period="monthly", limit=100, spent=85, warn_at=WARN, now=NOW)
    assert (warned.level, warned.threshold, warned.projected_exhaustion) == (
        "warning",
        0.8,
        date(2026, 4, 12),
    )
    # $20 by the 10th: $2/day -> day 50, after April ends: no exhaustion this month.
    assert evaluate(period="monthly", limit=100, spent=20, warn_at=WARN, now=NOW).projected_exhaustion is None
    assert evaluate(period="monthly", limit=100, spent=0, warn_at=WARN, now=NOW).projected_exhaustion is None


def test_monthly_exceeded_reports_the_crossing_day() -> None:
    days = {date(2026, 4, 2): 40.0, date(2026, 4, 5): 50.0, date(2026, 4, 7): 30.0}  # 40, 90, 120
    status = evaluate(period="monthly", limit=100, spent=120, warn_at=WARN, now=NOW, daily_spend=days)
    assert status.level == "exceeded" and status.exhausted_on == date(2026, 4, 7)
    assert "exceeded on 2026-04-07" in status.describe()


def test_the_crossing_day_is_exact() -> None:
    # $0.20 + $0.70 + $0.10 is 0.9999999999999999 in floats: a float running total would
    # miss the $1 limit on the 3rd and only cross it on the 6th; in nano-dollars it is reached
    # on the 3rd.
    days = {date(2026, 4, d): v for d, v in ((1, 0.2), (2, 0.7), (3, 0.1), (6, 0.5))}
    assert 0.2 + 0.7 + 0.1 < 1.0
    status = evaluate(period="monthly", limit=1, spent=1.5, warn_at=WARN, now=NOW, daily_spend=days)
    assert status.exhausted_on == date(2026, 4, 3)


def test_daily_projection() -> None:
    # Noon: half the day gone. $10 so far is a $20/day pace: a $20 budget runs out today.
    assert (
        evaluate(period="daily", limit=20, spent=10, warn_at=WARN, now=NOW).projected_exhaustion == NOW.date()
    )
    assert evaluate(period="daily", limit=25, spent=10, warn_at=WARN, now=NOW).projected_exhaustion is None
    over = evaluate(period="daily", limit=5, spent=10, warn_at=WARN, now=NOW)
    assert over.exhausted_on == NOW.date() and over.level == "exceeded"
    # Ten past midnight: the pace is taken over at least the first hour, not extrapolated x144.
    early = datetime(2026, 4, 10, 0, 10)
    assert evaluate(period="daily", limit=20, spent=0.5, warn_at=WARN, now=early).projected_exhaustion is None


def _spend(
    service: DatabaseService, project_id: str | None, when: datetime, usd: float, model: str = "m"
) -> None:
    session = service.create_session(project_id)
    service.record_metric(session.id, cost_usd=usd, recorded_at=to_ms(when), model=model)


def test_budget_status_from_settings(service: DatabaseService) -> None:
    alpha = service.create_project("alpha")
    beta = service.create_project("beta")
    _spend(service, alpha.id, datetime(2026, 4, 10, 9), 30.0)  # today
    _spend(service, beta.id, datetime(2026, 4, 3, 9), 20.0)  # this month
    _spend(service, None, datetime(2026, 4, 10, 10), 5.0)  # today, unassigned
    _spend(service, alpha.id, datetime(2026, 3, 31, 23), 500.0)  # last month: not counted
    assert service.budget_status(now=NOW) == []  # nothing configured

    service.set_setting("budget.monthly_usd", 60)
    service.set_setting("budget.daily_usd", 100)
    service.set_setting("budget.monthly_usd", 40, project_id=alpha.id)
    service.set_setting("budget.warn_at", [0.5], project_id=alpha.id)

    [day, month] = service.budget_status(now=NOW)  # global: all usage
    assert (day.period, day.spent_usd, day.level) == ("daily", 35.0, "ok")
    assert (month.period, month.spent_usd, month.level, month.threshold) == ("monthly", 55.0, "warning", 0.8)
    assert month.projected_exhaustion == date(2026, 4, 11)  # $5.5/day -> 60 / 5.5 = 10.9 -> the 11th

    statuses = service.budget_status(alpha.id, now=NOW)
    assert [(s.scope, s.period) for s in statuses] == [
        ("global", "daily"),
        ("global", "monthly"),
        ("project", "monthly"),
    ]
    mine = statuses[-1]
    # alpha: $30 of $40 = 75%, past its own 50% threshold; no daily budget of its own (global not inherited).
    assert (mine.project_id, mine.spent_usd, mine.level, mine.threshold) == (alpha.id, 30.0, "warning", 0.5)
    assert mine.to_json()["projected_exhaustion"] == "2026-04-14"  # $3/day -> 40 / 3 = 13.3 -> the 14th
    assert len(service.budget_status(beta.id, now=NOW)) == 2  # beta has none of its own

    summary = service.usage_summary(now=NOW)
    assert (summary.today_usd, summary.month_usd, summary.unassigned_sessions) == (35.0, 55.0, 1)
    project_summary = service.usage_summary(alpha.id, now=NOW)
    assert (project_summary.today_usd, project_summary.month_usd) == (30.0, 30.0)
    assert project_summary.to_json()["budgets"][-1]["level"] == "warning"


def test_unpriced_usage_is_flagged_in_budgets(service: DatabaseService) -> None:
    session = service.create_session(None)
    metric = service.record_metric(session.id, recorded_at=to_ms(datetime(2026, 4, 10, 8)), model="claude-x")
    service.connection.execute("INSERT INTO unpriced_metrics VALUES (?, 'claude-x')", (metric.id,))
    service.set_setting("budget.daily_usd", 10)
    [status] = service.budget_status(now=NOW)
    assert status.unpriced == 1 and "unpriced" in status.describe()
    assert service.usage_summary(now=NOW).today_unpriced == 1


def test_bad_budget_values(service: DatabaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERV_BUDGET_MONTHLY_USD", "lots")  # env overrides skip the settings check
    with pytest.raises(ValidationError):
        service.budget_status(now=NOW)
    with pytest.raises(ValidationError):
        service.set_setting("budget.warn_at", [0])
