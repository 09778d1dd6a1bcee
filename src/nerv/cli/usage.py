"""nerv usage ... (Claude Code token usage and cost: ingest, report, assign, prices, budgets)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fmt_time, json_option, sid, style, table, truncate
from nerv.usage.report import GROUPINGS

if TYPE_CHECKING:
    from nerv.usage.budget import BudgetStatus
    from nerv.usage.ingest import IngestResult
    from nerv.usage.records import TokenUsage
    from nerv.usage.report import ReportRow, UsageReport

_CHART_WIDTH = 24


@click.group()
def usage() -> None:
    """Claude Code token usage and cost: ingest, report, assign, prices, budgets."""


def _warn(text: str) -> None:
    echo(style(f"warning: {text}", fg="yellow"), err=True)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# -- ingest ------------------------------------------------------------------------------


@usage.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but warnings.")
@json_option
@pass_app
def ingest(app: AppContext, paths: tuple[str, ...], quiet: bool, as_json: bool) -> None:
    """Read new usage from Claude Code transcripts and `claude -p` output.

    PATH may be a transcript, a folder (searched recursively) or stream-json
    output (NDJSON or a JSON array). With no PATH: every Claude Code projects
    folder (~/.claude/projects, ~/.config/claude/projects, $CLAUDE_CONFIG_DIR).
    Files already read are not read again; grown files are read from where
    the last run stopped.
    """
    result = app.service().ingest(list(paths) or None)
    if as_json:
        emit_json(_ingest_json(result))
    elif not quiet:
        _print_ingest(result)
    _ingest_warnings(result)


def _ingest_json(result: IngestResult) -> dict[str, Any]:
    from nerv.cli.output import to_data

    data: dict[str, Any] = to_data(result)
    data["changed"] = result.changed
    return data


def _print_ingest(r: IngestResult) -> None:
    echo(
        f"files: {r.files_seen} scanned, {r.files_read} read ({_size(r.bytes_read)}), "
        f"{r.files_unchanged} unchanged, {r.files_other} not usage data"
    )
    echo(
        f"responses: {r.responses_added} added, {r.responses_updated} updated "
        f"({r.responses_seen} unique in what was read); sessions: {r.sessions_created} new, "
        f"{r.sessions_assigned} assigned to a project"
    )
    skipped = f"skipped: {r.malformed_lines} malformed lines, {r.synthetic} synthetic messages"
    if r.covered_by_result:
        skipped += f", {r.covered_by_result} responses of sessions costed by a stream-json result"
    echo(skipped)
    if r.streams or r.replaced_by_result:
        echo(f"stream-json results: {r.streams} stored ({r.replaced_by_result} transcript rows replaced)")
    if r.repriced:
        echo(f"repriced: {r.repriced} responses that had no price")


def _ingest_warnings(r: IngestResult) -> None:
    for model, count in sorted(r.unknown_models.items()):
        _warn(
            f"unknown model {model!r} ({count} responses): no price, so its cost is NOT counted; "
            f'add one with: nerv settings set usage.prices \'{{"{model}": {{"input": 3, "output": 15}}}}\''
        )
    if r.unpriced_total:
        _warn(f"{r.unpriced_total} responses in the database have no price (nerv usage report --by model)")
    if r.streams_incomplete:
        _warn(
            f"{r.streams_incomplete} stream-json file(s) have no result event yet: nothing counted for them"
        )
    for error in r.errors:
        _warn(f"cannot read {error}")
    if r.bad_lines:
        more = r.malformed_lines - len(r.bad_lines)
        tail = f" and {more} more" if more > 0 else ""
        _warn(f"skipped malformed line(s) at {', '.join(r.bad_lines)}{tail}")


# -- report ------------------------------------------------------------------------------


@usage.command("report")
@click.option("--by", "by", type=click.Choice(GROUPINGS), default="day", show_default=True, help="Grouping.")
@click.option("--since", metavar="DATE", help="From this day (YYYY-MM-DD, YYYY-MM, today, yesterday, 7d).")
@click.option("--until", metavar="DATE", help="Up to and including this day.")
@click.option(
    "--project", metavar="ID", help="Only this project's sessions.", shell_complete=complete_id("project")
)
@click.option("--unassigned", is_flag=True, help="Only sessions without a project.")
@click.option("--breakdown", is_flag=True, help="Split each row by model.")
@json_option
@pass_app
def report(
    app: AppContext,
    by: str,
    since: str | None,
    until: str | None,
    project: str | None,
    unassigned: bool,
    breakdown: bool,
    as_json: bool,
) -> None:
    """Tokens and cost by session, day, week, month, 5-hour block, project, task or model.

    Blocks are Claude's 5-hour billing windows: a block starts at its first
    activity floored to the hour (UTC) and lasts 5 hours; the active one shows
    its burn rate and projected cost at its end.
    """
    from nerv.service.tables import PROJECTS
    from nerv.usage.report import BREAKDOWN_GROUPINGS, UsageReport, parse_bound

    if project and unassigned:
        raise click.UsageError("give --project or --unassigned, not both")
    if breakdown and by not in BREAKDOWN_GROUPINGS:
        raise click.UsageError(f"--breakdown splits rows by model; it does not apply to --by {by}")
    service = app.service()
    project_id = service.resolve_id(PROJECTS, project) if project else None
    lo = parse_bound(since, end=False) if since else None
    hi = parse_bound(until, end=True) if until else None
    rows = service.usage_report(
        by, since=lo, until=hi, project_id=project_id, unassigned=unassigned, breakdown=breakdown
    )
    if by == "block" and rows and lo is not None:  # whole blocks: the first may start before --since
        lo = min(lo, rows[0].extra["start_at"])
    totals = service.usage_totals(since=lo, until=hi, project_id=project_id, unassigned=unassigned)
    result = UsageReport(by, rows, totals)
    if as_json:
        emit_json(result.to_json())
        return
    _print_report(result)
    unpriced = result.totals.unpriced
    if unpriced:
        models = sorted({m for r in rows if r.unpriced for m in r.models})
        _warn(
            f"{unpriced} responses have no price (model {', '.join(models)}): "
            "costs marked + are lower bounds; set usage.prices, then run nerv usage ingest"
        )
    for status in service.budget_status(project_id):
        if status.level != "ok":
            _warn(status.describe())


def _models(models: list[str]) -> str:
    short = [m.removeprefix("claude-") for m in models]
    return truncate(", ".join(short), 40) or "-"


def _cwd(path: object, width: int = 32) -> str:
    """A session's folder, ``~`` for the home folder, cut from the left to ``width``."""
    import os

    if not isinstance(path, str) or not path:
        return "-"
    home = os.path.expanduser("~")
    if home not in ("", "~", os.sep) and (path == home or path.startswith(home + os.sep)):
        path = "~" + path[len(home) :]
    return path if len(path) <= width else "…" + path[-(width - 1) :]


_HEADS = {
    "session": ["session", "project", "cwd", "first", "last", "models"],
    "day": ["day", "sessions", "models"],
    "week": ["week of", "sessions", "models"],
    "month": ["month", "sessions", "models"],
    "block": ["block (5 h)", "sessions", "models"],
    "project": ["project", "sessions", "models"],
    "task": ["task", "sessions", "models"],
    "model": ["model", "sessions", "responses"],
}


def _first_cells(by: str, r: ReportRow) -> list[str]:
    if by == "session":
        return [
            str(r.extra.get("short_id") or r.label),
            truncate(str(r.extra.get("project_name") or "-"), 20),
            _cwd(r.extra.get("cwd")),
            fmt_time(r.first_at),
            fmt_time(r.last_at),
            _models(r.models),
        ]
    if by == "model":
        return [r.label, str(r.sessions), str(r.responses)]
    if by in ("project", "task"):
        return [
            truncate(f"{sid(r.key)} {r.label}" if r.key else r.label, 40),
            str(r.sessions),
            _models(r.models),
        ]
    return [r.label, str(r.sessions), _models(r.models)]


def _amounts(tokens: TokenUsage, cost_nano: int, unpriced: int) -> list[str]:
    from nerv.usage.money import fmt_usd
    from nerv.usage.report import human_count

    return [
        human_count(tokens.input),
        human_count(tokens.output),
        human_count(tokens.cache_write),
        human_count(tokens.cache_read),
        human_count(tokens.total),
        fmt_usd(cost_nano) + ("+" if unpriced else ""),
    ]


def _print_report(result: UsageReport) -> None:
    from nerv.usage.report import bar

    by, rows = result.by, result.rows
    if not rows:
        echo("no usage recorded (run nerv usage ingest)")
        return
    heads = _HEADS[by]
    largest = max(r.cost_nano for r in rows)
    body = []
    for r in rows:
        body.append(
            [
                *_first_cells(by, r),
                *_amounts(r.tokens, r.cost_nano, r.unpriced),
                bar(r.cost_nano, largest, _CHART_WIDTH),
            ]
        )
        for share in r.breakdown or ():
            name = "  └ " + (share.model or "(no model)").removeprefix("claude-")
            body.append(
                [name, *[""] * (len(heads) - 1), *_amounts(share.tokens, share.cost_nano, share.unpriced), ""]
            )
    t = result.totals
    body.append(["total", *[""] * (len(heads) - 1), *_amounts(t.tokens, t.cost_nano, t.unpriced), ""])
    table([*heads, "input", "output", "cache write", "cache read", "total tokens", "cost", ""], body)
    active = next((r for r in rows if r.extra.get("active")), None)
    if active is not None:
        echo(_active_block(active))


def _active_block(row: ReportRow) -> str:
    from nerv.usage.money import fmt_usd
    from nerv.usage.report import human_count

    end = fmt_time(row.extra["end_at"])
    burn, projected = row.extra.get("burn_rate"), row.extra.get("projected")
    if burn is None or projected is None:
        return f"active block ends {end}: too little activity yet for a burn rate"
    return (
        f"active block ends {end} ({projected['remaining_minutes']} min left): "
        f"burn rate {fmt_usd(burn['cost_nanousd_per_hour'])}/h, {burn['tokens_per_minute']:,.0f} tokens/min; "
        f"projected {fmt_usd(projected['cost_nanousd'])} and {human_count(projected['total_tokens'])} tokens "
        "at the end of the block"
    )


# -- assign ------------------------------------------------------------------------------


@usage.command("assign")
@click.argument("session", required=False)
@click.argument("project", required=False, shell_complete=complete_id("project"))
@click.option(
    "--auto", is_flag=True, help="Assign every unassigned session whose cwd is in a known repository."
)
@json_option
@pass_app
def assign(app: AppContext, session: str | None, project: str | None, auto: bool, as_json: bool) -> None:
    """Give SESSION (Claude Code's session id or nerv's, or a prefix) to PROJECT.

    PROJECT 'none' makes the session unassigned again.
    """
    service = app.service()
    if auto:
        if session or project:
            raise click.UsageError("--auto takes no SESSION or PROJECT")
        assigned = service.auto_assign_sessions()
        if as_json:
            emit_json(assigned)
        else:
            echo(f"assigned {len(assigned)} session(s)")
        return
    if not session or not project:
        raise click.UsageError("give SESSION and PROJECT (or --auto)")
    changed = service.assign_session(session, None if project.lower() == "none" else project)
    if as_json:
        emit_json(changed)
    else:
        name = changed.claude_session_id or changed.id
        echo(
            f"session {name} -> project {sid(changed.project_id)}"
            if changed.project_id
            else f"session {name} unassigned"
        )


# -- prices ------------------------------------------------------------------------------


@usage.command("prices")
@json_option
@pass_app
def prices(app: AppContext, as_json: bool) -> None:
    """The price table in force (USD per million tokens), with its date and overrides."""
    table_ = app.service().price_table()
    rows = table_.as_rows()
    if as_json:
        emit_json(
            {
                "effective_date": table_.effective_date.isoformat(),
                "source": table_.source,
                "unit": "USD per million tokens",
                "models": rows,
            }
        )
        return
    echo(f"prices effective {table_.effective_date.isoformat()}, USD per million tokens ({table_.source})")
    table(
        ["model", "input", "output", "cache write 5m", "cache write 1h", "cache read", "origin"],
        [
            [
                r["model"],
                _rate(r["input"]),
                _rate(r["output"]),
                _rate(r["cache_write_5m"]),
                _rate(r["cache_write_1h"]),
                _rate(r["cache_read"]),
                r["origin"],
            ]
            for r in rows
        ],
    )
    echo('override with: nerv settings set usage.prices \'{"MODEL": {"input": 3, "output": 15}}\'')


def _rate(value: Any) -> str:
    return f"{float(value):g}"


# -- budget ------------------------------------------------------------------------------


@usage.command("budget")
@click.option(
    "--project", metavar="ID", help="Also this project's own budgets.", shell_complete=complete_id("project")
)
@json_option
@pass_app
def budget(app: AppContext, project: str | None, as_json: bool) -> None:
    """Spending against the daily and monthly budgets, with the projected day they run out."""
    service = app.service()
    statuses = service.budget_status(project)
    if as_json:
        emit_json([s.to_json() for s in statuses])
        return
    if not statuses:
        echo(
            "no budget set: nerv settings set budget.monthly_usd 100 (or budget.daily_usd; --project for one)"
        )
        return
    for status in statuses:
        _print_budget(status)


def _print_budget(status: BudgetStatus) -> None:
    colour = {"ok": "green", "warning": "yellow", "exceeded": "red"}[status.level]
    echo(f"{style(status.level.upper().ljust(8), fg=colour)} {status.describe()}")


# -- reprice -----------------------------------------------------------------------------


@usage.command("reprice")
@click.option(
    "--all", "everything", is_flag=True, help="Recompute every transcript response, not only unpriced ones."
)
@json_option
@pass_app
def reprice(app: AppContext, everything: bool, as_json: bool) -> None:
    """Recompute costs with the price table in force (after changing usage.prices)."""
    changed = app.service().reprice(everything=everything)
    if as_json:
        emit_json({"repriced": changed})
    else:
        echo(f"repriced {changed} response(s)")


# Added by nerv serve's slice: comparing nerv's costs with Claude Code's own figures.
from nerv.cli.reconcile import reconcile  # noqa: E402

usage.add_command(reconcile)
