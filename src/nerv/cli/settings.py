"""nerv settings ... (global or per-project key/value settings)"""

from __future__ import annotations

import json
from typing import Any

import click

from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, json_option, table, truncate, visible


@click.group()
def settings() -> None:
    """Get, set and unset settings (global or per project).

    Lookup order: NERV_<KEY> environment variable, the project's value, the
    global value, the built-in default.
    """


def _complete_key(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    from click.shell_completion import CompletionItem

    from nerv.service.settings import KNOWN

    return [CompletionItem(k, help=d.help) for k, d in KNOWN.items() if k.startswith(incomplete)]


project_option = click.option(
    "--project",
    metavar="ID",
    help="Project scope (default: global for set/unset, the current project for get/list).",
    shell_complete=complete_id("project"),
)
global_option = click.option(
    "--global", "global_", is_flag=True, help="Ignore project values: global scope only."
)


def _scope(app: AppContext, project: str | None, global_: bool) -> str | None:
    """The project a lookup is made for: --project, else the current one (if any), unless --global."""
    if global_:
        if project:
            raise click.UsageError("give either --project or --global")
        return None
    import os

    from nerv import env

    if project or os.environ.get(env.NERV_PROJECT_ID):
        return app.project_id(project)
    current = app.service().current_project()
    return None if current is None else current.id


def render_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@settings.command("get")
@click.argument("key", shell_complete=_complete_key)
@project_option
@global_option
@json_option
@pass_app
def get(app: AppContext, key: str, project: str | None, global_: bool, as_json: bool) -> None:
    """Print a setting's effective value."""
    from nerv.errors import NotFoundError

    project_id = _scope(app, project, global_)
    value, source = app.service().effective_setting(key, project_id)
    if source == "unset":
        from nerv.service.settings import suggest_key

        raise NotFoundError("setting", key + suggest_key(key))
    if as_json:
        emit_json({"key": key, "value": value, "source": source, "project_id": project_id})
    else:
        echo(visible(render_value(value)))


@settings.command("set", context_settings={"ignore_unknown_options": True})  # VALUE may be -3
@click.argument("key", shell_complete=_complete_key)
@click.argument("value")
@project_option
@json_option
@pass_app
def set_(app: AppContext, key: str, value: str, project: str | None, as_json: bool) -> None:
    """Store a value (valid JSON is taken as JSON: 5, true, null, [1, 2]; else as a string).

    Only known keys are accepted (`nerv settings list`), each with its own
    type and range; a near miss is answered with the key it probably meant.
    """
    from nerv.service.settings import parse_value

    project_id = app.project_id(project) if project else None
    stored = app.service().set_setting(key, parse_value(value), project_id)
    if stored.key == "approval.timeout_seconds":
        for note in hook_timeout_notes(stored.value):
            click.echo(f"nerv: note: {note}", err=True)
    if as_json:
        emit_json(stored)
    else:
        scope = f"project {stored.project_id[:8]}" if stored.project_id else "global"
        echo(f"{visible(stored.key)} = {visible(render_value(stored.value))} ({scope})")


def hook_timeout_notes(seconds: float) -> list[str]:
    """Why a queued call may wait less than ``seconds``: the installed hooks' own timeouts.

    Claude Code kills a hook after its entry's timeout, which `nerv hooks install`
    also passes to nerv-hook as ``--timeout``; the hook stops waiting a margin before
    that. So the installed entries (user settings and the current folder's project
    settings) cap the wait until `nerv hooks install` rewrites them.
    """
    import shlex

    from nerv.cli.hooks import inspect_file, project_settings, user_settings
    from nerv.hook import events

    notes = []
    for path in dict.fromkeys((user_settings(), project_settings("."))):
        entry = inspect_file(path)["events"].get("PreToolUse")
        if entry is None:
            continue
        try:
            argv = shlex.split(str(entry.get("command") or ""))
        except ValueError:
            argv = []
        claude_s = events.claude_timeout(argv)  # what the installed hook itself believes
        longest = max(0.0, claude_s - events.KILL_MARGIN_S)
        if seconds > longest:
            notes.append(
                f"nerv-hook in {path} has timeout {claude_s:g} s, so a queued call waits at most "
                f"{longest:g} s; run `nerv hooks install` again to apply {seconds:g} s"
            )
    return notes


@settings.command("unset")
@click.argument("key", shell_complete=_complete_key)
@project_option
@json_option
@pass_app
def unset(app: AppContext, key: str, project: str | None, as_json: bool) -> None:
    """Remove a stored value (the next scope in the lookup order then applies)."""
    project_id = app.project_id(project) if project else None
    app.service().unset_setting(key, project_id)
    if as_json:
        emit_json({"key": key, "project_id": project_id, "unset": True})
    else:
        echo(f"unset {key} ({'project ' + project_id[:8] if project_id else 'global'})")


@settings.command("list")
@project_option
@global_option
@json_option
@pass_app
def list_(app: AppContext, project: str | None, global_: bool, as_json: bool) -> None:
    """Known and stored keys with their effective value and where it comes from."""
    from nerv.service.settings import KNOWN

    service = app.service()
    project_id = _scope(app, project, global_)
    keys = set(KNOWN)
    keys.update(s.key for s in service.list_settings(None))
    if project_id is not None:
        keys.update(s.key for s in service.list_settings(project_id))
    rows = []
    for key in sorted(keys):
        value, source = service.effective_setting(key, project_id)
        known = KNOWN.get(key)
        rows.append({"key": key, "value": value, "source": source, "help": known.help if known else None})
    if as_json:
        emit_json(rows)
        return
    table(
        ["key", "value", "source", "description"],
        [
            [
                r["key"],
                truncate(render_value(r["value"]), 30),
                r["source"],
                truncate(r["help"] or "", 50),
            ]
            for r in rows
        ],
    )
