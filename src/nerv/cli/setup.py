"""nerv init | paths | status | demo | completion"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nerv import env
from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_cost, json_option, sid, style, visible

if TYPE_CHECKING:
    from nerv.service import DatabaseService

SHELLS = ("bash", "zsh", "fish")
DEMO_PROJECT = "nerv demo"


# -- init -------------------------------------------------------------------------------


@click.command()
@json_option
@pass_app
def init(app: AppContext, as_json: bool) -> None:
    """Create (or migrate) the database and show where it lives."""
    from nerv.db.migrations import current_version, latest_version

    path = app.path
    existed = path.exists() and path.stat().st_size > 0
    service = app.service()
    data = {
        "path": str(service.path),
        "created": not existed,
        "schema_version": current_version(service.connection),
        "latest_schema_version": latest_version(),
        "applied_migrations": list(service.applied_migrations),
    }
    if as_json:
        emit_json(data)
        return
    verb = "created" if not existed else ("migrated" if data["applied_migrations"] else "up to date:")
    echo(f"{verb} {data['path']} (schema version {data['schema_version']})")


# -- paths --------------------------------------------------------------------------------


def claude_settings_paths(cwd: Path | None = None) -> dict[str, Path]:
    """Claude Code's settings files: the user's and the current folder's (shared and local)."""
    cwd = cwd or Path.cwd()
    return {
        "claude_user_settings": env.claude_user_settings(),
        "claude_project_settings": cwd / ".claude" / "settings.json",
        "claude_local_settings": cwd / ".claude" / "settings.local.json",
    }


def collect_paths(app: AppContext) -> dict[str, Path]:
    from nerv import env

    home = env.nerv_home()
    return {
        "home": home,
        "db": app.path,
        "backups": home / "backups",
        **claude_settings_paths(),
    }


@click.command()
@json_option
@pass_app
def paths(app: AppContext, as_json: bool) -> None:
    """Show the files and folders nerv uses (nothing is created)."""
    found = collect_paths(app)
    if as_json:
        emit_json({k: str(v) for k, v in found.items()})
        return
    labels = {
        "home": "nerv home",
        "db": "database",
        "backups": "backups",
        "claude_user_settings": "claude user settings",
        "claude_project_settings": "claude project settings",
        "claude_local_settings": "claude local settings",
    }
    fields(
        (labels[k], f"{v}" + ("" if v.exists() else style("  (missing)", dim=True))) for k, v in found.items()
    )


# -- status -------------------------------------------------------------------------------


def build_status(
    service: DatabaseService, project_id: str | None, now: datetime | None = None
) -> dict[str, Any]:
    """Everything `nerv status` shows, as data (rendered by render_status, printed as --json).

    ``warnings`` is a list of one-line strings; budget checks append to it.
    """
    from nerv.db.schema import TASK_STATUSES

    now = now or datetime.now().astimezone()
    project = service.get_project(project_id) if project_id else None
    data: dict[str, Any] = {
        "db": str(service.path),
        "project": None,
        "tasks": dict.fromkeys(TASK_STATUSES, 0),
        "tasks_total": 0,
        "active_sessions": 0,
        "cost_usd": {"today": 0.0, "month": 0.0, "total": 0.0},
        "pending_approvals": {"project": 0, "all": service.count_requests("pending")},
        "warnings": [],
    }
    # Usage budgets (nerv usage budget): warn once a budget.warn_at threshold is reached.
    local_now = now.astimezone().replace(tzinfo=None)
    for budget in service.budget_status(project.id if project else None, now=local_now):
        if budget.level != "ok":
            data["warnings"].append(budget.describe())
    if project is None:
        return data
    data["project"] = {"id": project.id, "name": project.name, "goal": project.goal}
    data["tasks"] = service.count_tasks_by_status(project.id)
    data["tasks_total"] = sum(data["tasks"].values())
    data["active_sessions"] = len(service.get_sessions(project.id, status="active"))
    summary = service.usage_summary(project.id, now=local_now)  # today / month as the dashboard counts them
    data["cost_usd"] = {
        "today": summary.today_usd,
        "month": summary.month_usd,
        "total": service.get_project_cost(project.id),
    }
    data["pending_approvals"]["project"] = service.count_requests("pending", project_id=project.id)
    return data


def render_status(data: dict[str, Any]) -> None:
    project = data["project"]
    if project is None:
        echo("no project yet: nerv project create NAME (or try nerv demo)")
    else:
        echo(
            style(f"{project['name']} ({sid(project['id'])})", bold=True)
            + (f": {visible(project['goal'])}" if project["goal"] else "")
        )
        tasks = data["tasks"]
        cost = data["cost_usd"]
        approvals = data["pending_approvals"]
        fields(
            [
                ("tasks", f"{data['tasks_total']} total: " + ", ".join(f"{k} {v}" for k, v in tasks.items())),
                ("active sessions", data["active_sessions"]),
                (
                    "cost (this project)",
                    f"today {fmt_cost(cost['today'])}, this month {fmt_cost(cost['month'])}, "
                    f"total {fmt_cost(cost['total'])}",
                ),
                ("pending approvals", f"{approvals['project']} (all projects: {approvals['all']})"),
            ]
        )
    for warning in data["warnings"]:
        echo(style(f"warning: {warning}", fg="yellow"))


def status_project(app: AppContext, given: str | None) -> str | None:
    """--project / NERV_PROJECT_ID / the current project; None when there is no project at all."""
    from nerv import env

    if given or os.environ.get(env.NERV_PROJECT_ID):
        return app.project_id(given)
    current = app.service().current_project()
    return None if current is None else current.id


@click.command()
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@json_option
@pass_app
def status(app: AppContext, project: str | None, as_json: bool) -> None:
    """Summary of the current project: tasks, sessions, cost, pending approvals."""
    data = build_status(app.service(), status_project(app, project))
    data["db"] = str(app.path)  # the file asked for, even before it exists
    if as_json:
        emit_json(data)
    else:
        render_status(data)


# -- demo ---------------------------------------------------------------------------------

DEMO_TASKS: tuple[tuple[str, str, str], ...] = (
    ("Sketch the data model", "research", "done"),
    ("Write the schema migrations", "implementation", "done"),
    ("Build the command line", "implementation", "in_progress"),
    ("Hook into Claude Code permissions", "implementation", "interrupted"),
    ("Add shell completion", "implementation", "review"),
    ("Write the README", "docs", "todo"),
    ("Benchmark the status query", "test", "todo"),
)
DEMO_DECISION = (
    "Keep all state in one SQLite file (WAL mode)",
    "The CLI, the hook and the web view all write the same state from separate processes.",
    "One SQLite database in WAL mode with BEGIN IMMEDIATE writes and a busy timeout.",
    "A server process; JSON files per entity.",
    "No daemon to run; writers queue on the lock instead of failing.",
)


def ensure_demo(service: DatabaseService) -> dict[str, Any]:
    """Create whatever part of the demo project is missing; running it again changes nothing."""
    from nerv import env

    created = False
    project = next((p for p in service.get_projects() if p.name == DEMO_PROJECT), None)
    if project is None:
        project = service.create_project(DEMO_PROJECT, goal="Show what nerv keeps track of")
        created = True
    repos = service.get_repos(project.id)
    if not repos:
        repos = [service.add_repo(project.id, str(env.nerv_home() / "demo" / "nerv-demo"), name="nerv-demo")]
    cycles = service.get_cycles(project.id)
    cycle = cycles[0] if cycles else service.create_cycle(project.id, goal="A first usable version")
    titles = {t.title for t in service.get_tasks(project.id)}
    for title, type_, status_ in DEMO_TASKS:
        if title not in titles:
            service.create_task(project.id, title, type=type_, status=status_, cycle_id=cycle.id)
    title, context, decision, alternatives, consequences = DEMO_DECISION
    decisions = [d for d in service.get_decisions(project.id) if d.title == title]
    if not decisions:
        decisions = [
            service.create_decision(
                project.id,
                title,
                context=context,
                decision=decision,
                alternatives=alternatives,
                consequences=consequences,
                status="accepted",
                cycle_id=cycle.id,
            )
        ]
    return {
        "created": created,
        "project": project,
        "repo": repos[0],
        "cycle": cycle,
        "decision": decisions[0],
        "tasks": service.get_tasks(project.id),
    }


def remove_demo(service: DatabaseService) -> list[tuple[str, dict[str, int]]]:
    """Delete every "nerv demo" project and everything in it; (project id, what went with it) each."""
    return [
        (project.id, service.delete_project(project.id, cascade=True))
        for project in service.get_projects()
        if project.name == DEMO_PROJECT
    ]


@click.command()
@click.option("--width", type=click.IntRange(min=50), help="Board width (default: the terminal's).")
@click.option("--remove", is_flag=True, help='Delete the "nerv demo" project and everything in it.')
@json_option
@pass_app
def demo(app: AppContext, width: int | None, remove: bool, as_json: bool) -> None:
    """Create (or reuse) the "nerv demo" project with tasks, and print its board.

    --remove deletes it again, with its repo entry, cycle, tasks and decision, in
    one audited transaction (nothing else in the database is touched).
    """
    from nerv.cli.task import board_width, group_by_status, render_board

    if remove:
        removed = remove_demo(app.service())
        if as_json:
            emit_json({"removed": [{"deleted": pid, "with": gone} for pid, gone in removed]})
        elif not removed:
            echo("no demo project to remove")
        for pid, gone in [] if as_json else removed:
            echo(f"removed demo project {sid(pid)} with {', '.join(f'{n} {k}' for k, n in gone.items())}")
        return
    result = ensure_demo(app.service())
    board = group_by_status(result["tasks"])
    if as_json:
        emit_json({**{k: v for k, v in result.items() if k != "tasks"}, "board": board})
        return
    project = result["project"]
    verb = "created" if result["created"] else "using existing"
    echo(f"{verb} demo project {sid(project.id)} in {app.path}")
    echo()
    echo(style(f"{project.name} — cycle #{result['cycle'].number}: {result['cycle'].goal}", bold=True))
    for line in render_board(board, board_width(width)):
        echo(line)
    echo()
    echo(f"next: nerv task board --project {sid(project.id)}   nerv status --project {sid(project.id)}")
    echo("when done with it: nerv demo --remove")


# -- completion ---------------------------------------------------------------------------


@click.command()
@click.argument("shell", required=False, type=click.Choice(SHELLS))
def completion(shell: str | None) -> None:
    """Print the shell completion script (default: for $SHELL).

    \b
    bash:  eval "$(nerv completion bash)"        (in ~/.bashrc)
    zsh:   eval "$(nerv completion zsh)"         (in ~/.zshrc)
    fish:  nerv completion fish > ~/.config/fish/completions/nerv.fish
    """
    from click.shell_completion import get_completion_class

    from nerv.cli.main import cli

    if shell is None:
        guess = os.path.basename(os.environ.get("SHELL", ""))
        shell = guess if guess in SHELLS else "bash"
    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "nerv", "_NERV_COMPLETE").source())
