"""Times as users write them, and local calendar days: one definition for every face.

``nerv status``, the usage reports, budgets and the dashboard all count "today"
and "this month" from :func:`local_midnight_ms`; ``nerv audit --since`` and the
dashboard's ``since`` / ``until`` parameters read :func:`parse_when`.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from nerv.errors import ValidationError

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def local_midnight_ms(day: date) -> int:
    """Epoch ms of local midnight starting ``day`` (right across DST changes: the zone's
    offset of that midnight, not of the moment the caller runs)."""
    return int(datetime.combine(day, time()).timestamp() * 1000)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_when(text: str, *, now: datetime | None = None) -> int:
    """A point in time as epoch ms: ISO date/datetime (local time unless it says otherwise),
    ``now``, ``today``, ``yesterday``, or an age such as ``30m``, ``2h``, ``7d``, ``2w``."""
    now = now or datetime.now().astimezone()
    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        return int(now.timestamp() * 1000)
    if lowered in ("today", "yesterday"):
        return local_midnight_ms(now.date() - timedelta(days=1 if lowered == "yesterday" else 0))
    match = _RELATIVE.match(raw)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        return int((now - timedelta(seconds=seconds)).timestamp() * 1000)
    try:
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), time())
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise ValidationError(
            f"invalid time {text!r}: expected an ISO date or datetime (2024-05-01, 2024-05-01T14:30) "
            "or an age like 30m, 2h, 7d, 2w"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return int(parsed.timestamp() * 1000)
