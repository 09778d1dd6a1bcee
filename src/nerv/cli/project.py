"""nerv project ..."""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_cost, fmt_time, json_option, sid, table, visible


@click.group()
def project() -> None:
    """Create, list, show and choose projects."""


@project.command("create")
@click.argument("name")
@click.option("--goal", help="What the project is for.")
@json_option
@pass_app
def create(app: AppContext, name: str, goal: str | None, as_json: bool) -> None:
    """Create a project."""
    created = app.service().create_project(name, goal=goal)
    if as_json:
        emit_json(created)
    else:
        echo(f"created project {sid(created.id)} {visible(created.name)}")


@project.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List projects, oldest first (* marks the current one)."""
    service = app.service()
    projects = service.get_projects()
    if as_json:
        emit_json(projects)
        return
    current = service.current_project()
    table(
        ["", "id", "name", "goal", "created"],
        [
            [
                "*" if current and p.id == current.id else "",
                sid(p.id),
                p.name,
                p.goal or "",
                fmt_time(p.created_at),
            ]
            for p in projects
        ],
        empty="no projects yet: nerv project create NAME",
    )


@project.command("show")
@click.argument("ident", required=False)
@json_option
@pass_app
def show(app: AppContext, ident: str | None, as_json: bool) -> None:
    """Show a project (default: the current one)."""
    service = app.service()
    project_id = app.project_id(ident)
    found = service.get_project(project_id)
    assert found is not None
    if as_json:
        emit_json(found)
        return
    counts = service.count_tasks_by_status(project_id)
    fields(
        [
            ("id", found.id),
            ("name", found.name),
            ("goal", found.goal),
            ("created", fmt_time(found.created_at)),
            ("tasks", ", ".join(f"{k} {v}" for k, v in counts.items())),
            ("repos", ", ".join(r.path for r in service.get_repos(project_id)) or "-"),
            ("cost", fmt_cost(service.get_project_cost(project_id))),
        ]
    )


@project.command("use")
@click.argument("ident")
@json_option
@pass_app
def use(app: AppContext, ident: str, as_json: bool) -> None:
    """Make a project the current one."""
    chosen = app.service().use_project(app.project_id(ident))
    if as_json:
        emit_json(chosen)
    else:
        echo(f"current project: {sid(chosen.id)} {visible(chosen.name)}")


@project.command("update")
@click.argument("ident")
@click.option("--name")
@click.option("--goal")
@json_option
@pass_app
def update(app: AppContext, ident: str, name: str | None, goal: str | None, as_json: bool) -> None:
    """Rename a project or change its goal."""
    updates = {k: v for k, v in (("name", name), ("goal", goal)) if v is not None}
    if not updates:
        raise click.UsageError("nothing to update: give --name and/or --goal")
    changed = app.service().update_project(app.project_id(ident), updates)
    if as_json:
        emit_json(changed)
    else:
        echo(f"updated project {sid(changed.id)} {visible(changed.name)}")


@project.command("delete")
@click.argument("ident", metavar="ID")
@click.option("--cascade", is_flag=True, help="Also delete everything in it (tasks, sessions, cycles, ...).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (for scripts).")
@json_option
@pass_app
def delete(app: AppContext, ident: str, cascade: bool, yes: bool, as_json: bool) -> None:
    """Delete a project (by default only one with no tasks, sessions, cycles or decisions).

    With --cascade the project and everything in it go in one audited
    transaction, after a confirmation (--yes skips it; without a terminal to
    ask on, --yes is required). The audit log keeps every deleted row.
    """
    from nerv.service.tables import PROJECTS

    service = app.service()
    project_id = app.resolve(PROJECTS, ident)
    if cascade:
        found = service.get_project(project_id)
        assert found is not None
        contents = {k: n for k, n in service.project_contents(project_id).items() if n}
        what = ", ".join(f"{n} {label}" for label, n in contents.items()) or "nothing else"
        confirm_or_refuse(f"delete project {sid(project_id)} {found.name!r} and {what}", yes)
    gone = service.delete_project(project_id, cascade=cascade)
    if as_json:
        emit_json({"deleted": project_id, "with": gone})
    elif gone:
        echo(f"deleted project {sid(project_id)} with {', '.join(f'{n} {k}' for k, n in gone.items())}")
    else:
        echo(f"deleted project {sid(project_id)}")


def confirm_or_refuse(action: str, yes: bool) -> None:
    """Ask "ACTION?" on the terminal unless --yes; no terminal and no --yes is a refusal."""
    import sys

    from nerv.errors import NervError, ValidationError

    if yes:
        return
    if not sys.stdin.isatty():
        raise ValidationError(f"not confirmed: would {action}; pass --yes to confirm without a terminal")
    if not click.confirm(f"{action[0].upper()}{action[1:]}?", default=False, err=True):
        raise NervError("not confirmed: nothing was deleted")
