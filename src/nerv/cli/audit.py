"""nerv audit (the append-only log of every state change)"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import emit_json, fmt_time, json_option, sid, table, truncate

if TYPE_CHECKING:
    from nerv.models import AuditEntry

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
DEFAULT_LIMIT = 50


def parse_when(text: str, *, now: datetime | None = None) -> int:
    """A point in time as epoch ms: ISO date/datetime (local time unless it says otherwise),
    ``now``, ``today``, ``yesterday``, or an age such as ``30m``, ``2h``, ``7d``, ``2w``."""
    from nerv.errors import ValidationError

    now = now or datetime.now().astimezone()
    raw = text.strip()
    lowered = raw.lower()
    if lowered == "now":
        return int(now.timestamp() * 1000)
    if lowered in ("today", "yesterday"):
        day = now.date() - timedelta(days=1 if lowered == "yesterday" else 0)
        return int(datetime.combine(day, datetime.min.time()).astimezone().timestamp() * 1000)
    match = _RELATIVE.match(raw)
    if match:
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        return int((now - timedelta(seconds=seconds)).timestamp() * 1000)
    try:
        if len(raw) == 10:
            parsed = datetime.combine(date.fromisoformat(raw), datetime.min.time())
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


def summarize(entry: AuditEntry) -> str:
    """The change in one line: ``field: old → new`` for updates, key fields otherwise."""
    before, after = entry.before or {}, entry.after or {}
    if "key" in (after or before) and "value" in (after or before):  # a setting: its key and value
        key = (after or before)["key"]
        if before and after:
            return f"{key}: {_short(before.get('value'))} → {_short(after.get('value'))}"
        return f"{key} = {_short((after or before)['value'])}"
    if before and after:
        keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        return ", ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in keys)
    data = after or before
    for key in ("title", "name", "key", "path", "tool_name", "pattern"):
        if key in data:
            return f"{key}: {_short(data[key])}"
    return ", ".join(f"{k}: {_short(v)}" for k, v in sorted(data.items()))


def _short(value: Any) -> str:
    if value is None:
        return "-"
    return truncate(str(value), 24)


@click.command()
@click.option(
    "--entity", metavar="TYPE", help="Only this entity type (task, project, session, setting, ...)."
)
@click.option("--id", "ident", metavar="ID", help="Only this entity (a unique id prefix will do).")
@click.option("--since", metavar="TIME", help="From this time: ISO date/datetime, or an age like 2h, 7d.")
@click.option("--until", metavar="TIME", help="Before this time (same forms as --since).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="Show the latest N entries (0: all).",
)
@json_option
@pass_app
def audit(
    app: AppContext,
    entity: str | None,
    ident: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The append-only log of every state change (oldest first; the latest --limit entries)."""
    service = app.service()
    since_ms = parse_when(since) if since else None
    until_ms = parse_when(until) if until else None
    entity_id = service.resolve_audit_entity_id(ident, entity) if ident else None
    entries = service.get_audit(
        entity_type=entity,
        entity_id=entity_id,
        since=since_ms,
        until=until_ms,
        limit=limit or None,
        newest_first=True,
    )
    entries.reverse()
    if as_json:
        emit_json(entries)
        return
    table(
        ["time", "actor", "entity", "id", "action", "change"],
        [
            [
                fmt_time(e.at),
                truncate(e.actor, 14),
                e.entity_type,
                sid(e.entity_id),
                e.action,
                truncate(summarize(e), 48),
            ]
            for e in entries
        ],
        empty="no audit entries match",
    )
