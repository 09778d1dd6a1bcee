"""nerv audit (the append-only log of every state change)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import emit_json, fmt_time, json_option, sid, table, truncate
from nerv.when import parse_when

if TYPE_CHECKING:
    from nerv.models import AuditEntry

DEFAULT_LIMIT = 50


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
