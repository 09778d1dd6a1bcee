"""Usage reports: row shapes, the JSON form, date bounds and a tiny terminal bar chart.

The aggregation itself is SQL in :mod:`nerv.usage.queries` (5-hour blocks: Python, in
:mod:`nerv.usage.blocks`). Days, weeks (Monday to Sunday) and months are local
calendar periods (SQLite's ``localtime`` and Python's agree: both use the C library's
time zone). Money is integer nano-dollars (:mod:`nerv.usage.money`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from nerv.errors import ValidationError
from nerv.usage.money import usd
from nerv.usage.records import TokenUsage

GROUPINGS = ("session", "day", "week", "month", "block", "project", "task", "model")
# The JSON key holding each grouping's value; --by session uses Claude Code's own session id.
GROUP_KEYS = {
    "session": "session_id",
    "day": "day",
    "week": "week",
    "month": "month",
    "block": "block",
    "project": "project_id",
    "task": "task_id",
    "model": "model",
}
# Groupings listed oldest first; the others most expensive first.
CHRONOLOGICAL = ("day", "week", "month", "block")
# --breakdown splits these rows by model (a model row has one model by definition).
BREAKDOWN_GROUPINGS = tuple(g for g in GROUPINGS if g != "model")
_DAYS_AGO = re.compile(r"^(\d{1,5})d$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SHORT_ID_LEN = 8


def tokens_json(usage: TokenUsage) -> dict[str, int]:
    return {
        "input": usage.input,
        "output": usage.output,
        "cache_write_5m": usage.cache_write_5m,
        "cache_write_1h": usage.cache_write_1h,
        "cache_read": usage.cache_read,
    }


def money_json(nano: int, prefix: str = "cost") -> dict[str, Any]:
    """``{prefix}_usd`` (a JSON number, exactly the decimal) and ``{prefix}_nanousd`` (the integer)."""
    return {f"{prefix}_usd": usd(nano), f"{prefix}_nanousd": nano}


@dataclass(frozen=True)
class ModelShare:
    """One model's part of a report row (``--breakdown``)."""

    model: str | None  # None: amounts recorded on a session without a model
    tokens: TokenUsage
    cost_nano: int
    unpriced: int
    responses: int

    @property
    def cost_usd(self) -> float:
        return usd(self.cost_nano)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tokens": tokens_json(self.tokens),
            "total_tokens": self.tokens.total,
            **money_json(self.cost_nano),
            "unpriced_responses": self.unpriced,
            "responses": self.responses,
        }


@dataclass(frozen=True)
class ReportRow:
    """One group of a usage report (``by == "total"``: the whole report)."""

    by: str
    key: str | None  # the group's value; None for "no project" / "no task" / an unknown model
    label: str  # the key as people read it
    models: list[str]
    tokens: TokenUsage
    cost_nano: int  # exact: integer nano-dollars; priced responses only (see ``unpriced``)
    unpriced: int  # responses whose model has no price (their cost is unknown, not $0)
    responses: int  # API responses (metrics rows)
    sessions: int
    first_at: int | None
    last_at: int | None
    extra: dict[str, Any] = field(default_factory=dict)
    breakdown: tuple[ModelShare, ...] | None = None  # per model, with --breakdown

    @property
    def cost_usd(self) -> float:
        return usd(self.cost_nano)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {} if self.by == "total" else {GROUP_KEYS[self.by]: self.key}
        data.update(
            {
                "models": self.models,
                "tokens": tokens_json(self.tokens),
                "total_tokens": self.tokens.total,
                **money_json(self.cost_nano),
                "unpriced_responses": self.unpriced,
                "responses": self.responses,
                "sessions": self.sessions,
                "first_at": self.first_at,
                "last_at": self.last_at,
            }
        )
        data.update(self.extra)
        if self.breakdown is not None:
            data["breakdown"] = [share.to_json() for share in self.breakdown]
        return data


@dataclass(frozen=True)
class UsageReport:
    """``nerv usage report``: the rows and their totals (``--json``: ``{by, rows, totals}``)."""

    by: str
    rows: list[ReportRow]
    totals: ReportRow

    def to_json(self) -> dict[str, Any]:
        return {"by": self.by, "rows": [r.to_json() for r in self.rows], "totals": self.totals.to_json()}


def short_ids(ids: list[str]) -> dict[str, str]:
    """Each id cut to the shortest prefix of at least 8 characters that no other id shares."""
    unique = sorted(set(ids))
    short: dict[str, str] = {}
    for i, ident in enumerate(unique):
        length = SHORT_ID_LEN
        for other in (unique[i - 1] if i else "", unique[i + 1] if i + 1 < len(unique) else ""):
            common = next((n for n, (a, b) in enumerate(zip(ident, other, strict=False)) if a != b), None)
            if common is None:
                common = min(len(ident), len(other))
            length = max(length, common + 1)
        short[ident] = ident[:length]
    return short


# -- dates --------------------------------------------------------------------------------


def day_start(day: date) -> datetime:
    """Local midnight starting ``day`` (naive: local time)."""
    return datetime.combine(day, time())


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds; a naive datetime is local time."""
    return int(moment.timestamp() * 1000)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_bound(text: str, *, end: bool, today: date | None = None) -> int:
    """A --since / --until value as epoch ms (local time).

    ``YYYY-MM-DD``, ``YYYY-MM``, ``today``, ``yesterday``, ``Nd`` (N days ago) name
    whole days or months: --since takes their start, --until their end, so
    ``--since 2026-02-01 --until 2026-02-01`` is that one day. A full ISO time
    (``2026-02-10T21:00``) is taken as it is.
    """
    value = text.strip().lower()
    today = today or date.today()
    first: date
    last: date
    if value in ("today", "yesterday") or _DAYS_AGO.match(value):
        ago = 0 if value == "today" else 1 if value == "yesterday" else int(value[:-1])
        first = last = today - timedelta(days=ago)
    elif _MONTH.match(value):
        try:
            first = date.fromisoformat(value + "-01")
        except ValueError:
            raise ValidationError(f"not a month: {text!r}") from None
        last = next_month(first) - timedelta(days=1)
    elif _DAY.match(value):
        try:
            first = last = date.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"not a date: {text!r}") from None
    else:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError(
                f"not a date: {text!r} (use YYYY-MM-DD, YYYY-MM, an ISO time, today, yesterday or Nd)"
            ) from None
        return to_ms(moment)
    return to_ms(day_start(last + timedelta(days=1))) if end else to_ms(day_start(first))


# -- terminal chart -------------------------------------------------------------------

_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: float, largest: float, width: int = 24) -> str:
    """A horizontal bar ``width`` cells long at ``largest``, drawn in eighths of a cell."""
    if largest <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, round(value / largest * width * 8))
    full, rest = divmod(min(eighths, width * 8), 8)
    return "█" * full + (_EIGHTHS[rest] if rest else "")


def human_count(n: int) -> str:
    """12 -> "12", 12345 -> "12.3k", 4567890 -> "4.57M"."""
    for size, suffix in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if abs(n) >= size * 0.9995:  # 999,999 is "1M", not "1e+03k"
            scaled = n / size
            return f"{scaled:.3g}{suffix}" if abs(scaled) < 999.5 else f"{scaled:.0f}{suffix}"
    return str(n)
