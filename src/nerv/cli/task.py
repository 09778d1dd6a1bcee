"""nerv task ... (kanban tasks)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import (
    echo,
    emit_json,
    fields,
    fmt_time,
    json_option,
    sid,
    style,
    table,
    truncate,
    visible,
)
from nerv.db.schema import TASK_STATUSES, TASK_TYPES

if TYPE_CHECKING:
    from nerv.models import Task

STATUS_CHOICE = click.Choice(TASK_STATUSES)
TYPE_CHOICE = click.Choice(TASK_TYPES)
STATUS_LABELS = {
    "todo": "TODO",
    "in_progress": "IN PROGRESS",
    "interrupted": "INTERRUPTED",
    "review": "REVIEW",
    "done": "DONE",
}
BOARD_MIN_WIDTH = 50
BOARD_DEFAULT_WIDTH = 100
_SEP = " │ "


@click.group()
def task() -> None:
    """Kanban tasks: create, list, board, move, update."""


def _resolve_task(app: AppContext, ident: str) -> str:
    from nerv.service.tables import TASKS

    return app.resolve(TASKS, ident)


def _resolve_cycle(app: AppContext, ident: str, project_id: str) -> str:
    """A cycle id (prefix allowed) that belongs to ``project_id``."""
    from nerv.errors import ValidationError
    from nerv.service.tables import CYCLES

    cycle_id = app.resolve(CYCLES, ident)
    cycle = app.service().get_cycle(cycle_id)
    if cycle is not None and cycle.project_id != project_id:
        raise ValidationError(f"cycle {sid(cycle_id)} belongs to another project")
    return cycle_id


@task.command("create")
@click.argument("title")
@click.option(
    "--project",
    "project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--description", "-d", help="Longer description.")
@click.option("--type", "type_", type=TYPE_CHOICE, default="implementation", show_default=True)
@click.option("--status", type=STATUS_CHOICE, default="todo", show_default=True)
@click.option(
    "--cycle",
    metavar="ID",
    help="Development cycle the task belongs to.",
    shell_complete=complete_id("cycle"),
)
@json_option
@pass_app
def create(
    app: AppContext,
    title: str,
    project: str | None,
    description: str | None,
    type_: str,
    status: str,
    cycle: str | None,
    as_json: bool,
) -> None:
    """Create a task."""
    project_id = app.project_id(project)
    extra: dict[str, Any] = {"description": description, "type": type_, "status": status}
    if cycle is not None:
        extra["cycle_id"] = _resolve_cycle(app, cycle, project_id)
    created = app.service().create_task(project_id, title, **extra)
    if as_json:
        emit_json(created)
    else:
        echo(f"created task {sid(created.id)} [{created.status}] {visible(created.title)}")


@task.command("list")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--status", type=STATUS_CHOICE, help="Only tasks with this status.")
@json_option
@pass_app
def list_(app: AppContext, project: str | None, status: str | None, as_json: bool) -> None:
    """List a project's tasks, oldest first."""
    tasks = app.service().get_tasks(app.project_id(project), status=status)
    if as_json:
        emit_json(tasks)
        return
    table(
        ["id", "status", "type", "title", "updated"],
        [[sid(t.id), t.status, t.type, truncate(t.title, 60), fmt_time(t.updated_at)] for t in tasks],
        empty="no tasks" + (f" with status {status}" if status else "") + ": nerv task create TITLE",
    )


def board_width(given: int | None) -> int:
    """The board's width: --width, else the terminal's (COLUMNS honoured), else 100."""
    if given is not None:
        return max(given, BOARD_MIN_WIDTH)
    import shutil

    columns = shutil.get_terminal_size((BOARD_DEFAULT_WIDTH, 24)).columns
    return max(columns, BOARD_MIN_WIDTH)


def group_by_status(tasks: Sequence[Task]) -> dict[str, list[Task]]:
    columns: dict[str, list[Task]] = {status: [] for status in TASK_STATUSES}
    for t in tasks:
        columns.setdefault(t.status, []).append(t)
    return columns


def render_board(columns: Mapping[str, Sequence[Task]], width: int = BOARD_DEFAULT_WIDTH) -> list[str]:
    """Kanban columns side by side, every line at most ``width`` characters.

    Each card is two lines: the title (cut to the column) and, dimmed, the short
    id and the type (unless it is the default, implementation).
    """
    statuses = list(TASK_STATUSES)
    n = len(statuses)
    col = max((width - len(_SEP) * (n - 1)) // n, 6)

    def cell(text: str, indent: int = 0, **styling: Any) -> str:
        padded = (" " * indent + truncate(text, col - indent)).ljust(col)
        return style(padded, **styling) if styling else padded

    def join(cells: list[str]) -> str:
        return _SEP.join(cells).rstrip()

    lines = [
        join(
            [
                cell(f"{STATUS_LABELS.get(s, s.upper())} ({len(columns.get(s, []))})", bold=True)
                for s in statuses
            ]
        ),
        "─┼─".join("─" * col for _ in statuses),
    ]
    cards: list[list[tuple[str, str]]] = []
    for s in statuses:
        stack: list[tuple[str, str]] = []
        for t in columns.get(s, []):
            stack.append(("title", t.title))
            kind = "" if t.type == "implementation" else f" {t.type}"  # the default type is noise
            stack.append(("meta", f"{sid(t.id)}{kind}"))
        cards.append(stack)
    depth = max((len(stack) for stack in cards), default=0)
    for row in range(depth):
        cells = []
        for stack in cards:
            if row >= len(stack):
                cells.append(" " * col)
            elif stack[row][0] == "title":
                cells.append(cell(stack[row][1]))
            else:
                cells.append(cell(stack[row][1], indent=2, dim=True))
        lines.append(join(cells))
    if depth == 0:
        lines.append("(no tasks yet: nerv task create TITLE)")
    return lines


@task.command("board")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option(
    "--width", type=click.IntRange(min=BOARD_MIN_WIDTH), help="Board width (default: the terminal's)."
)
@json_option
@pass_app
def board(app: AppContext, project: str | None, width: int | None, as_json: bool) -> None:
    """The kanban board: one column per status."""
    service = app.service()
    project_id = app.project_id(project)
    columns = group_by_status(service.get_tasks(project_id))
    if as_json:
        emit_json(columns)
        return
    found = service.get_project(project_id)
    if found is not None:
        echo(style(f"{found.name} ({sid(found.id)})", bold=True))
    for line in render_board(columns, board_width(width)):
        echo(line)


@task.command("show")
@click.argument("ident", metavar="ID", shell_complete=complete_id("task"))
@json_option
@pass_app
def show(app: AppContext, ident: str, as_json: bool) -> None:
    """Show one task."""
    service = app.service()
    found = service.get_task(_resolve_task(app, ident))
    assert found is not None
    if as_json:
        emit_json(found)
        return
    project = service.get_project(found.project_id)
    cycle = service.get_cycle(found.cycle_id) if found.cycle_id else None
    fields(
        [
            ("id", found.id),
            ("title", found.title),
            ("status", found.status),
            ("type", found.type),
            ("project", f"{sid(found.project_id)} {project.name if project else ''}".strip()),
            ("cycle", f"#{cycle.number} ({sid(cycle.id)})" if cycle else None),
            ("description", found.description),
            ("created", fmt_time(found.created_at)),
            ("updated", fmt_time(found.updated_at)),
        ]
    )


@task.command("update")
@click.argument("ident", metavar="ID", shell_complete=complete_id("task"))
@click.option("--status", type=STATUS_CHOICE)
@click.option("--title")
@click.option("--description", "-d")
@click.option("--type", "type_", type=TYPE_CHOICE)
@click.option(
    "--cycle",
    metavar="ID",
    help="Cycle id; 'none' takes the task out of its cycle.",
    shell_complete=complete_id("cycle"),
)
@json_option
@pass_app
def update(
    app: AppContext,
    ident: str,
    status: str | None,
    title: str | None,
    description: str | None,
    type_: str | None,
    cycle: str | None,
    as_json: bool,
) -> None:
    """Change a task's fields."""
    service = app.service()
    task_id = _resolve_task(app, ident)
    updates: dict[str, Any] = {
        k: v
        for k, v in (("status", status), ("title", title), ("description", description), ("type", type_))
        if v is not None
    }
    if cycle is not None:
        if cycle.lower() in ("none", "-", ""):
            updates["cycle_id"] = None
        else:
            current = service.get_task(task_id)
            assert current is not None
            updates["cycle_id"] = _resolve_cycle(app, cycle, current.project_id)
    if not updates:
        raise click.UsageError("nothing to update: give --status, --title, --description, --type or --cycle")
    changed = service.update_task(task_id, updates)
    if as_json:
        emit_json(changed)
    else:
        echo(f"updated task {sid(changed.id)} [{changed.status}] {visible(changed.title)}")


@task.command("move")
@click.argument("ident", metavar="ID", shell_complete=complete_id("task"))
@click.argument("status", type=STATUS_CHOICE)
@json_option
@pass_app
def move(app: AppContext, ident: str, status: str, as_json: bool) -> None:
    """Move a task to another column of the board."""
    moved = app.service().move_task(_resolve_task(app, ident), status)
    if as_json:
        emit_json(moved)
    else:
        echo(f"moved task {sid(moved.id)} to {moved.status}: {visible(moved.title)}")


@task.command("delete")
@click.argument("ident", metavar="ID", shell_complete=complete_id("task"))
@json_option
@pass_app
def delete(app: AppContext, ident: str, as_json: bool) -> None:
    """Delete a task (refused while sessions or requests refer to it)."""
    task_id = _resolve_task(app, ident)
    app.service().delete_task(task_id)
    if as_json:
        emit_json({"deleted": task_id})
    else:
        echo(f"deleted task {sid(task_id)}")
