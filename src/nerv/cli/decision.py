"""nerv decision ... (architecture decision records)"""

from __future__ import annotations

from typing import Any

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_time, json_option, sid, table, truncate, visible
from nerv.db.schema import DECISION_STATUSES

STATUS_CHOICE = click.Choice(DECISION_STATUSES)
TEXT_FIELDS = ("context", "decision", "alternatives", "consequences")


@click.group()
def decision() -> None:
    """Architecture decision records (ADRs)."""


def _resolve(app: AppContext, ident: str) -> str:
    from nerv.service.tables import DECISIONS

    return app.resolve(DECISIONS, ident)


def _cycle_id(app: AppContext, ident: str, project_id: str) -> str | None:
    from nerv.errors import ValidationError
    from nerv.service.tables import CYCLES

    if ident.lower() in ("none", "-", ""):
        return None
    cycle_id = app.resolve(CYCLES, ident)
    found = app.service().get_cycle(cycle_id)
    if found is not None and found.project_id != project_id:
        raise ValidationError(f"cycle {sid(cycle_id)} belongs to another project")
    return cycle_id


def _text_options(func: Any) -> Any:
    """--context, --decision, --alternatives, --consequences (parameters ``<name>_text``)."""
    for name in reversed(TEXT_FIELDS):
        func = click.option(f"--{name}", f"{name}_text", metavar="TEXT", help=f"The record's {name}.")(func)
    return func


def _texts(
    context_text: str | None,
    decision_text: str | None,
    alternatives_text: str | None,
    consequences_text: str | None,
) -> dict[str, Any]:
    given = zip(TEXT_FIELDS, (context_text, decision_text, alternatives_text, consequences_text), strict=True)
    return {name: value for name, value in given if value is not None}


@decision.command("create")
@click.argument("title")
@_text_options
@click.option(
    "--cycle", metavar="ID", help="Cycle the decision was made in.", shell_complete=complete_id("cycle")
)
@click.option("--status", type=STATUS_CHOICE, default="proposed", show_default=True)
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@json_option
@pass_app
def create(
    app: AppContext,
    title: str,
    context_text: str | None,
    decision_text: str | None,
    alternatives_text: str | None,
    consequences_text: str | None,
    cycle: str | None,
    status: str,
    project: str | None,
    as_json: bool,
) -> None:
    """Record a decision."""
    project_id = app.project_id(project)
    extra = _texts(context_text, decision_text, alternatives_text, consequences_text)
    extra["status"] = status
    if cycle is not None:
        extra["cycle_id"] = _cycle_id(app, cycle, project_id)
    created = app.service().create_decision(project_id, title, **extra)
    if as_json:
        emit_json(created)
    else:
        echo(f"recorded decision {sid(created.id)} [{created.status}] {visible(created.title)}")


@decision.command("list")
@click.option(
    "--project",
    metavar="ID",
    help="Project (default: the current one).",
    shell_complete=complete_id("project"),
)
@click.option("--status", type=STATUS_CHOICE)
@json_option
@pass_app
def list_(app: AppContext, project: str | None, status: str | None, as_json: bool) -> None:
    """List a project's decisions, oldest first."""
    decisions = app.service().get_decisions(app.project_id(project), status=status)
    if as_json:
        emit_json(decisions)
        return
    table(
        ["id", "status", "title", "superseded by", "created"],
        [
            [
                sid(d.id),
                d.status,
                truncate(d.title, 50),
                sid(d.superseded_by) if d.superseded_by else "",
                fmt_time(d.created_at),
            ]
            for d in decisions
        ],
        empty="no decisions: nerv decision create TITLE",
    )


@decision.command("show")
@click.argument("ident", metavar="ID", shell_complete=complete_id("decision"))
@json_option
@pass_app
def show(app: AppContext, ident: str, as_json: bool) -> None:
    """Show one decision record."""
    found = app.service().get_decision(_resolve(app, ident))
    assert found is not None
    if as_json:
        emit_json(found)
        return
    fields(
        [
            ("id", found.id),
            ("title", found.title),
            ("status", found.status),
            ("project", found.project_id),
            ("cycle", found.cycle_id),
            ("context", found.context),
            ("decision", found.decision),
            ("alternatives", found.alternatives),
            ("consequences", found.consequences),
            ("superseded by", found.superseded_by),
            ("created", fmt_time(found.created_at)),
            ("updated", fmt_time(found.updated_at)),
        ]
    )


@decision.command("update")
@click.argument("ident", metavar="ID", shell_complete=complete_id("decision"))
@click.option("--title")
@_text_options
@click.option(
    "--cycle", metavar="ID", help="Cycle id; 'none' clears it.", shell_complete=complete_id("cycle")
)
@click.option(
    "--status",
    type=click.Choice(("proposed", "accepted")),
    help="Use `decision supersede` to supersede a decision.",
)
@json_option
@pass_app
def update(
    app: AppContext,
    ident: str,
    title: str | None,
    context_text: str | None,
    decision_text: str | None,
    alternatives_text: str | None,
    consequences_text: str | None,
    cycle: str | None,
    status: str | None,
    as_json: bool,
) -> None:
    """Change a decision's fields."""
    service = app.service()
    decision_id = _resolve(app, ident)
    updates = _texts(context_text, decision_text, alternatives_text, consequences_text)
    if title is not None:
        updates["title"] = title
    if status is not None:
        updates["status"] = status
    if cycle is not None:
        current = service.get_decision(decision_id)
        assert current is not None
        updates["cycle_id"] = _cycle_id(app, cycle, current.project_id)
    if not updates:
        raise click.UsageError("nothing to update: give --title, --status, --cycle or a text field")
    changed = service.update_decision(decision_id, updates)
    if as_json:
        emit_json(changed)
    else:
        echo(f"updated decision {sid(changed.id)} [{changed.status}] {visible(changed.title)}")


@decision.command("supersede")
@click.argument("ident", metavar="ID", shell_complete=complete_id("decision"))
@click.option(
    "--by",
    "by",
    metavar="ID",
    required=True,
    help="The decision that replaces this one.",
    shell_complete=complete_id("decision"),
)
@json_option
@pass_app
def supersede(app: AppContext, ident: str, by: str, as_json: bool) -> None:
    """Mark a decision as superseded by another one."""
    old = app.service().supersede_decision(_resolve(app, ident), _resolve(app, by))
    if as_json:
        emit_json(old)
    else:
        echo(f"decision {sid(old.id)} superseded by {sid(old.superseded_by)}")


@decision.command("delete")
@click.argument("ident", metavar="ID", shell_complete=complete_id("decision"))
@json_option
@pass_app
def delete(app: AppContext, ident: str, as_json: bool) -> None:
    """Delete a decision (to retire one, `supersede` keeps the record); the audit log keeps it."""
    decision_id = _resolve(app, ident)
    app.service().delete_decision(decision_id)
    if as_json:
        emit_json({"deleted": decision_id})
    else:
        echo(f"deleted decision {sid(decision_id)}")
