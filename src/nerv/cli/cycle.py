"""nerv cycle ... (numbered development cycles)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_time, json_option, sid, table, truncate
from nerv.db.schema import CYCLE_STATUSES


@click.group()
def cycle() -> None:
    """Numbered development cycles."""


def _resolve(app: AppContext, ident: str) -> str:
    from nerv.service.tables import CYCLES

    return app.resolve(CYCLES, ident)


@cycle.command("create")
@click.option("--goal", help="What this cycle should achieve.")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--status", type=click.Choice(("planned", "active")), default="active", show_default=True)
@json_option
@pass_app
def create(app: AppContext, goal: str | None, project: str | None, status: str, as_json: bool) -> None:
    """Open the project's next numbered cycle."""
    created = app.service().create_cycle(app.project_id(project), goal=goal, status=status)
    if as_json:
        emit_json(created)
    else:
        echo(f"created cycle #{created.number} {sid(created.id)} ({created.status})")


@cycle.command("list")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--status", type=click.Choice(CYCLE_STATUSES))
@json_option
@pass_app
def list_(app: AppContext, project: str | None, status: str | None, as_json: bool) -> None:
    """List a project's cycles by number."""
    cycles = app.service().get_cycles(app.project_id(project), status=status)
    if as_json:
        emit_json(cycles)
        return
    table(
        ["#", "id", "status", "goal", "started", "completed"],
        [
            [
                c.number,
                sid(c.id),
                c.status,
                truncate(c.goal or "", 40),
                fmt_time(c.started_at),
                fmt_time(c.completed_at),
            ]
            for c in cycles
        ],
        empty="no cycles: nerv cycle create --goal TEXT",
    )


@cycle.command("show")
@click.argument("ident", metavar="ID", shell_complete=complete_id("cycle"))
@json_option
@pass_app
def show(app: AppContext, ident: str, as_json: bool) -> None:
    """Show a cycle and its tasks."""
    service = app.service()
    found = service.get_cycle(_resolve(app, ident))
    assert found is not None
    if as_json:
        emit_json(found)
        return
    tasks = service.get_cycle_tasks(found.id)
    fields(
        [
            ("id", found.id),
            ("number", found.number),
            ("project", found.project_id),
            ("status", found.status),
            ("goal", found.goal),
            ("learnings", found.learnings),
            ("started", fmt_time(found.started_at)),
            ("completed", fmt_time(found.completed_at)),
            ("tasks", len(tasks)),
        ]
    )
    if tasks:
        echo()
        table(["id", "status", "title"], [[sid(t.id), t.status, truncate(t.title, 60)] for t in tasks])


@cycle.command("complete")
@click.argument("ident", metavar="ID", shell_complete=complete_id("cycle"))
@click.option("--learnings", help="What the cycle taught.")
@json_option
@pass_app
def complete(app: AppContext, ident: str, learnings: str | None, as_json: bool) -> None:
    """Close a cycle, optionally recording its learnings."""
    done = app.service().complete_cycle(_resolve(app, ident), learnings=learnings)
    if as_json:
        emit_json(done)
    else:
        echo(f"completed cycle #{done.number} {sid(done.id)}")


@cycle.command("delete")
@click.argument("ident", metavar="ID", shell_complete=complete_id("cycle"))
@json_option
@pass_app
def delete(app: AppContext, ident: str, as_json: bool) -> None:
    """Delete a cycle; its tasks and decisions stay, no longer in a cycle (the audit log keeps it)."""
    cycle_id = _resolve(app, ident)
    released = app.service().delete_cycle(cycle_id)
    if as_json:
        emit_json({"deleted": cycle_id, "released": released})
    else:
        kept = f"; its {len(released)} task(s) and decision(s) are kept" if released else ""
        echo(f"deleted cycle {sid(cycle_id)}{kept}")
