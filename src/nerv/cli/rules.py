"""nerv rules ... (permission rules in Claude Code's syntax)"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from nerv import env
from nerv.cli.context import AppContext, complete_id, pass_app
from nerv.cli.output import echo, emit_json, json_option, style, table, truncate, visible


@click.group()
def rules() -> None:
    """Permission rules in Claude Code's syntax: Bash(npm test:*), Read(~/.ssh/**), WebFetch(domain:x.com).

    Precedence is deny > ask > allow, whatever the order or specificity. A new
    database starts with nerv's default rules (deny sudo, rm -rf /, reading ~/.ssh...).
    """


project_option = click.option(
    "--project", metavar="ID", help="Scope the rule to this project (default: global).",
    shell_complete=complete_id("project"),
)


def _action(allow: bool, ask: bool, deny: bool) -> str:
    chosen = [name for name, flag in (("allow", allow), ("ask", ask), ("deny", deny)) if flag]
    if len(chosen) != 1:
        raise click.UsageError("give exactly one of --allow, --ask or --deny")
    return chosen[0]


def _scope(rule: Any) -> str:
    return "global" if rule.project_id is None else f"project {rule.project_id[:8]}"


def _rule_json(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id, "rule": rule.rule_text, "tool": rule.tool, "pattern": rule.pattern,
        "action": rule.action, "project_id": rule.project_id, "enabled": rule.enabled, "note": rule.note,
        "match_key": rule.match_key, "created_at": rule.created_at, "updated_at": rule.updated_at,
    }


def _color(action: str | None) -> str:
    text = action or "none"
    colour = {"allow": "green", "ask": "yellow", "deny": "red"}.get(action or "")
    return style(text, fg=colour, bold=True) if colour else text


@rules.command("add")
@click.argument("rule")
@click.option("--allow", is_flag=True, help="Allow matching calls.")
@click.option("--ask", is_flag=True, help="Ask the person before matching calls.")
@click.option("--deny", is_flag=True, help="Deny matching calls.")
@project_option
@click.option("--note", help="Why the rule exists (shown with a deny or ask).")
@click.option("--tool-name-unchecked", is_flag=True,
              help="Accept a tool name nerv does not know (an MCP tool glob, a tool newer than nerv).")
@json_option
@pass_app
def add(app: AppContext, rule: str, allow: bool, ask: bool, deny: bool, project: str | None, note: str | None,
        tool_name_unchecked: bool, as_json: bool) -> None:
    """Add RULE, e.g. "Bash(npm test:*)" --allow.

    Adding a rule that already exists (same rule, action and scope) changes
    nothing, says which rule holds it, and succeeds.
    """
    action = _action(allow, ask, deny)
    project_id = app.project_id(project) if project else None
    stored, created = app.service().add_rule_from_text(rule, action, project_id=project_id, note=note,
                                                       tool_name_unchecked=tool_name_unchecked)
    if as_json:
        emit_json({**_rule_json(stored), "created": created})
    elif created:
        echo(f"added {stored.id[:8]}: {action} {visible(stored.rule_text)} ({_scope(stored)})")
    else:
        state = "" if stored.enabled else ", disabled: nerv rules enable " + stored.id[:8]
        shown = visible(stored.rule_text)
        echo(f"already exists {stored.id[:8]}: {action} {shown} ({_scope(stored)}{state})")


@rules.command("list")
@click.option("--all", "all_", is_flag=True, help="Include disabled rules.")
@click.option("--project", metavar="ID", shell_complete=complete_id("project"),
              help="Only the rules in force for this project (global ones and its own).")
@json_option
@pass_app
def list_(app: AppContext, all_: bool, project: str | None, as_json: bool) -> None:
    """The rules (enabled ones unless --all), oldest first."""
    project_id = app.project_id(project) if project else None
    found = app.service().get_rules(project_id, include_disabled=all_)
    if as_json:
        emit_json([_rule_json(r) for r in found])
        return
    rows = []
    for r in found:
        rows.append([r.id[:8], _color(r.action), truncate(r.rule_text, 50), _scope(r),
                     "yes" if r.enabled else "no", truncate(r.note or "", 40)])
    table(["id", "action", "rule", "scope", "enabled", "note"], rows, empty="(no rules)")


def _resolve(app: AppContext, ident: str) -> str:
    from nerv.service.tables import RULES

    return app.resolve(RULES, ident)


@rules.command("remove")
@click.argument("rule_id", metavar="ID", shell_complete=complete_id("rule"))
@json_option
@pass_app
def remove(app: AppContext, rule_id: str, as_json: bool) -> None:
    """Delete a rule (the audit log keeps it)."""
    service = app.service()
    ident = _resolve(app, rule_id)
    rule = service.get_rule(ident)
    service.delete_rule(ident)
    if as_json:
        emit_json({"id": ident, "removed": True})
    else:
        echo(f"removed {ident[:8]}: {rule.action + ' ' + visible(rule.rule_text) if rule else ''}".rstrip())


def _set_enabled(app: AppContext, rule_id: str, enabled: bool, as_json: bool) -> None:
    rule = app.service().set_rule_enabled(_resolve(app, rule_id), enabled)
    if as_json:
        emit_json(_rule_json(rule))
    else:
        echo(f"{'enabled' if enabled else 'disabled'} {rule.id[:8]}: {rule.action} {visible(rule.rule_text)}")


@rules.command("enable")
@click.argument("rule_id", metavar="ID", shell_complete=complete_id("rule"))
@json_option
@pass_app
def enable(app: AppContext, rule_id: str, as_json: bool) -> None:
    """Enable a rule."""
    _set_enabled(app, rule_id, True, as_json)


@rules.command("disable")
@click.argument("rule_id", metavar="ID", shell_complete=complete_id("rule"))
@json_option
@pass_app
def disable(app: AppContext, rule_id: str, as_json: bool) -> None:
    """Disable a rule (kept, but no longer matched)."""
    _set_enabled(app, rule_id, False, as_json)


def tool_input_from(tool: str, value: str) -> dict[str, Any]:
    """INPUT of `rules test`: a JSON object, else the call's subject (command, path, URL...)."""
    from nerv.errors import ValidationError
    from nerv.permissions.matcher import input_for

    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"INPUT looks like JSON but is not valid: {exc}") from None
        if not isinstance(parsed, dict):
            raise ValidationError("INPUT JSON must be an object")
        return parsed
    return dict(input_for(tool, value))


def project_for_cwd(app: AppContext, cwd: str, given: str | None) -> tuple[str | None, str | None]:
    """(project id, repo path) for a call made in ``cwd``: --project / NERV_PROJECT_ID, else the repo."""
    from nerv import env

    service = app.service()
    repo = service.find_repo_for_path(cwd)
    if given or os.environ.get(env.NERV_PROJECT_ID):
        project_id = app.project_id(given)
        return project_id, repo.path if repo is not None and repo.project_id == project_id else None
    return (repo.project_id, repo.path) if repo is not None else (None, None)


def _decided_json(spec: Any, rule: Any) -> dict[str, Any]:
    return {"id": spec.id, "rule": spec.text, "action": spec.action,
            "note": rule.note if rule is not None else None,
            "project_id": rule.project_id if rule is not None else None}


@rules.command("test")
@click.argument("tool")
@click.argument("value", metavar="INPUT")
@click.option("--cwd", "cwd", metavar="DIR", help="The agent's working directory (default: here).")
@click.option("--project", metavar="ID", shell_complete=complete_id("project"),
              help="Project whose rules apply (default: the repository enclosing --cwd).")
@json_option
@pass_app
def test(app: AppContext, tool: str, value: str, cwd: str | None, project: str | None, as_json: bool) -> None:
    """What nerv decides for TOOL with INPUT, and which rule(s) decided.

    INPUT is a command for Bash, a path for file tools, a URL for WebFetch, or
    the tool input as a JSON object: nerv rules test Bash "npm test && git push".
    """
    from nerv.hook.run import DEFAULT_MODE

    service = app.service()
    where = os.path.abspath(os.path.expanduser(cwd)) if cwd else os.getcwd()
    project_id, repo_path = project_for_cwd(app, where, project)
    tool_input = tool_input_from(tool, value)
    root = os.environ.get(env.CLAUDE_PROJECT_DIR) or repo_path or where
    decision = service.evaluate_tool_call(tool, tool_input, project_id=project_id, cwd=where,
                                          project_root=root)
    stored = {r.id: service.get_rule(r.id) for r in decision.rules}
    command = tool_input.get("command")
    explained = _explain_bash(service, project_id, command, where, root) if tool == "Bash" and isinstance(
        command, str) else []
    mode = service.get_setting("approval.mode", project_id) or DEFAULT_MODE
    outcomes = {"defer": "no decision (Claude Code decides)", "ask": "ask", "queue": "queue for approval"}
    hook = decision.action or outcomes.get(str(mode), f"ask (invalid approval.mode {mode!r})")
    if as_json:
        emit_json({
            "tool": tool, "input": tool_input, "decision": decision.action, "reason": decision.reason,
            "rules": [_decided_json(r, stored.get(r.id)) for r in decision.rules],
            "parts": list(decision.parts), "project_id": project_id, "cwd": where,
            "approval_mode": mode, "hook": hook,
            "explain": [{"part": what, "decision": action, "by": by} for what, action, by in explained],
        })
        return
    echo(f"{_color(decision.action)}  {visible(decision.reason)}")
    for r in decision.rules:
        rule = stored.get(r.id)
        note = f"  ({visible(rule.note)})" if rule is not None and rule.note else ""
        scope = f" [{_scope(rule)}]" if rule is not None else ""
        echo(f"  {r.action:<5} {visible(r.text)}  {r.id[:8]}{scope}{note}")
    if explained:
        echo("parts:")
        for what, action, by in explained:
            echo(f"  {action or '-':<5} {visible(what)}  <- {visible(by)}")
    elif len(decision.parts) > 1:
        echo("parts:")
        for part in decision.parts:
            echo(f"  {visible(part)}")
    if decision.action is None:
        echo(f"no rule decides: the hook's approval.mode is {mode} -> {hook}")


def _explain_bash(service: Any, project_id: str | None, command: str, cwd: str,
                  root: str) -> list[tuple[str, str | None, str]]:
    """Each part of a Bash command with the rule (or check) that decided it, under the rules in force."""
    from nerv.permissions import CompiledRules, RuleSpec, RuleSyntaxError
    from nerv.permissions.model import MatchContext

    specs: list[RuleSpec] = []
    for rule in service.get_rules(project_id, include_disabled=False):
        if rule.project_id not in (None, project_id):
            continue
        spec = RuleSpec(rule.id, rule.tool, rule.pattern or None, rule.action)
        try:
            CompiledRules([spec])
        except RuleSyntaxError:
            continue  # the decision above already says an invalid stored rule makes it ask
        specs.append(spec)
    rows: list[tuple[str, str | None, str]] = CompiledRules(specs).explain_bash(
        command, MatchContext(cwd=cwd, project_root=root))
    return rows


def claude_settings_path() -> Path:
    return env.claude_user_settings()


@rules.command("import-claude")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@project_option
@json_option
@pass_app
def import_claude(app: AppContext, path: Path | None, project: str | None, as_json: bool) -> None:
    """Import the permissions.allow / ask / deny lists of a Claude Code settings file.

    PATH defaults to $CLAUDE_CONFIG_DIR/settings.json or ~/.claude/settings.json.
    Rules already stored are skipped, so importing twice changes nothing.
    """
    from nerv.errors import MissingFileError, ValidationError

    source = path or claude_settings_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingFileError("settings file", str(source)) from None
    except OSError as exc:
        raise ValidationError(f"cannot read {source}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ValidationError(f"{source} is not valid JSON: {exc}") from None
    permissions = data.get("permissions") if isinstance(data, dict) else None
    if permissions is None:
        permissions = {}
    if not isinstance(permissions, dict):
        raise ValidationError(f"{source}: 'permissions' is not an object")
    project_id = app.project_id(project) if project else None
    result = app.service().import_claude_rules(permissions, project_id=project_id,
                                               note=f"imported from {source}")
    if as_json:
        emit_json({"path": str(source), **result.to_json()})
        return
    echo(f"{source}: {len(result.added)} added, {len(result.skipped)} already present, "
         f"{len(result.invalid)} invalid")
    for rule in result.added:
        echo(f"  + {rule.action:<5} {visible(rule.rule_text)}")
    for line in result.invalid:
        echo(f"  ! {visible(line)}")


@rules.command("suggest")
@click.option("--min", "min_count", type=click.IntRange(min=1), default=3, show_default=True,
              help="Decisions needed before a pattern is suggested.")
@click.option("--project", metavar="ID", shell_complete=complete_id("project"),
              help="Only this project's approval history.")
@json_option
@pass_app
def suggest(app: AppContext, min_count: int, project: str | None, as_json: bool) -> None:
    """Rules worth adding, from the history of approved and denied requests."""
    project_id = app.project_id(project) if project else None
    found = app.service().suggest_rules(min_count, project_id)
    if as_json:
        emit_json([s.to_json() for s in found])
        return
    if not found:
        echo(f"(no suggestions: no pattern was decided the same way {min_count} times or more)")
        return
    table(["action", "rule", "approved", "denied", "add with"],
          [[_color(s.action), s.rule, s.approved, s.denied, f"nerv rules add '{s.rule}' --{s.action}"]
           for s in found])
