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
@click.argument("ident")
@json_option
@pass_app
def delete(app: AppContext, ident: str, as_json: bool) -> None:
    """Delete a project that has no tasks, sessions, cycles or decisions."""
    project_id = app.project_id(ident)
    app.service().delete_project(project_id)
    if as_json:
        emit_json({"deleted": project_id})
    else:
        echo(f"deleted project {sid(project_id)}")
