"""nerv session ... (agent sessions and their token/cost totals)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_cost, fmt_time, json_option, sid, table
from nerv.db.schema import SESSION_STATUSES

END_STATUSES = ("completed", "interrupted", "failed")


@click.group()
def session() -> None:
    """Agent sessions and their token/cost totals."""


def _resolve(app: AppContext, ident: str) -> str:
    from nerv.service.tables import SESSIONS

    return app.resolve(SESSIONS, ident)


@session.command("list")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--status", type=click.Choice(SESSION_STATUSES))
@json_option
@pass_app
def list_(app: AppContext, project: str | None, status: str | None, as_json: bool) -> None:
    """List a project's sessions, oldest first."""
    sessions = app.service().get_sessions(app.project_id(project), status=status)
    if as_json:
        emit_json(sessions)
        return
    table(
        ["id", "status", "task", "started", "ended", "tokens in", "tokens out", "cost"],
        [
            [
                sid(s.id),
                s.status,
                sid(s.task_id),
                fmt_time(s.started_at),
                fmt_time(s.ended_at),
                f"{s.tokens_input:,}",
                f"{s.tokens_output:,}",
                fmt_cost(s.cost_usd),
            ]
            for s in sessions
        ],
        empty="no sessions",
    )


@session.command("show")
@click.argument("ident", metavar="ID", shell_complete=complete_id("session"))
@json_option
@pass_app
def show(app: AppContext, ident: str, as_json: bool) -> None:
    """Show one session with its token and cost totals."""
    found = app.service().get_session(_resolve(app, ident))
    assert found is not None
    if as_json:
        emit_json(found)
        return
    fields(
        [
            ("id", found.id),
            ("status", found.status),
            ("project", found.project_id),
            ("task", found.task_id),
            ("claude session", found.claude_session_id),
            ("model", found.model),
            ("cwd", found.cwd),
            ("started", fmt_time(found.started_at)),
            ("ended", fmt_time(found.ended_at)),
            ("tokens in", f"{found.tokens_input:,}"),
            ("tokens out", f"{found.tokens_output:,}"),
            ("cache read", f"{found.tokens_cache_read:,}"),
            ("cache write", f"{found.tokens_cache_write_5m + found.tokens_cache_write_1h:,}"),
            ("cost", fmt_cost(found.cost_usd)),
        ]
    )


@session.command("create")
@click.option("--task", metavar="ID", help="Task the session works on.", shell_complete=complete_id("task"))
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the task's, else the current one).",
    shell_complete=complete_id("project"),
)
@json_option
@pass_app
def create(app: AppContext, task: str | None, project: str | None, as_json: bool) -> None:
    """Start a session by hand (the Claude Code hook does this for real runs)."""
    from nerv.errors import ValidationError
    from nerv.service.tables import TASKS

    service = app.service()
    task_id = app.resolve(TASKS, task) if task is not None else None
    found = service.get_task(task_id) if task_id is not None else None
    project_id = found.project_id if project is None and found is not None else app.project_id(project)
    if found is not None and found.project_id != project_id:
        raise ValidationError(f"task {sid(found.id)} belongs to another project")
    created = service.create_session(project_id, task_id)
    if as_json:
        emit_json(created)
    else:
        echo(f"started session {sid(created.id)}" + (f" on task {sid(task_id)}" if task_id else ""))


@session.command("end")
@click.argument("ident", metavar="ID", shell_complete=complete_id("session"))
@click.option("--status", type=click.Choice(END_STATUSES), default="completed", show_default=True)
@json_option
@pass_app
def end(app: AppContext, ident: str, status: str, as_json: bool) -> None:
    """End a session."""
    ended = app.service().end_session(_resolve(app, ident), status=status)
    if as_json:
        emit_json(ended)
    else:
        echo(f"ended session {sid(ended.id)} ({ended.status})")
