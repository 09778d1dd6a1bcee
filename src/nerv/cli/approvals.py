"""nerv approvals ... (the queue of tool calls waiting for a person)"""

from __future__ import annotations

import json
import os
import time
from typing import Any

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


@click.group()
def approvals() -> None:
    """Tool calls waiting for a person (approval.mode = queue), and their history.

    A waiting nerv-hook notices a decision within a quarter of a second.
    """


def _subject(tool_name: str, tool_input: Any) -> str:
    """The one line that says what the call does: a command, a path, a URL..."""
    if isinstance(tool_input, dict):
        for key in ("command", "file_path", "notebook_path", "path", "url", "pattern", "query"):
            value = tool_input.get(key)
            if isinstance(value, str) and value:
                return value
    return json.dumps(tool_input, sort_keys=True)


def _age(ms: int) -> str:
    seconds = max(0, int(time.time() - ms / 1000))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _request_json(request: Any, patterns: list[str] | None = None) -> dict[str, Any]:
    out = {
        "id": request.id, "status": request.status, "tool_name": request.tool_name,
        "tool_input": request.tool_input, "cwd": request.cwd, "project_id": request.project_id,
        "session_id": request.session_id, "task_id": request.task_id, "reason": request.reason,
        "decided_by": request.decided_by, "decided_at": request.decided_at, "created_at": request.created_at,
        "expires_at": request.expires_at,
    }
    if patterns is not None:
        out["proposed_rules"] = patterns
    return out


def _resolve(app: AppContext, ident: str) -> str:
    from nerv.service.tables import REQUESTS

    return app.resolve(REQUESTS, ident)


def _proposals(app: AppContext, request: Any) -> list[str]:
    from nerv.permissions import MatchContext, propose_patterns

    root = None
    if request.cwd:
        repo = app.service().find_repo_for_path(request.cwd)
        root = repo.path if repo is not None else request.cwd
    tool_input = request.tool_input if isinstance(request.tool_input, dict) else {}
    return propose_patterns(request.tool_name, tool_input, MatchContext(cwd=request.cwd, project_root=root))


@approvals.command("list")
@click.option("--all", "all_", is_flag=True, help="Every request, not only the pending ones.")
@click.option("--project", metavar="ID", shell_complete=complete_id("project"), help="Only this project's.")
@json_option
@pass_app
def list_(app: AppContext, all_: bool, project: str | None, as_json: bool) -> None:
    """Pending requests (oldest first), or all of them with --all."""
    project_id = app.project_id(project) if project else None
    app.service().expire_orphaned_requests()  # a request whose hook is gone is not worth approving
    found = app.service().get_requests(None if all_ else "pending", project_id)
    if as_json:
        emit_json([_request_json(r) for r in found])
        return
    rows = [[r.id[:8], r.status, _age(r.created_at), r.tool_name,
             truncate(_subject(r.tool_name, r.tool_input), 60), sid(r.project_id)] for r in found]
    table(["id", "status", "age", "tool", "call", "project"], rows,
          empty="(no requests)" if all_ else "(no pending requests)")


@approvals.command("show")
@click.argument("request_id", metavar="ID", shell_complete=complete_id("approval_request"))
@json_option
@pass_app
def show(app: AppContext, request_id: str, as_json: bool) -> None:
    """One request, with the rules nerv proposes for it (narrowest first)."""
    from nerv.errors import NotFoundError

    ident = _resolve(app, request_id)
    request = app.service().get_request(ident)
    if request is None:
        raise NotFoundError("approval_request", ident)
    patterns = _proposals(app, request)
    if as_json:
        emit_json(_request_json(request, patterns))
        return
    fields([
        ("id", request.id), ("status", request.status), ("tool", request.tool_name),
        ("call", _subject(request.tool_name, request.tool_input)), ("cwd", request.cwd),
        ("project", request.project_id), ("session", request.session_id), ("task", request.task_id),
        ("created", fmt_time(request.created_at)),
        ("expires", fmt_time(request.expires_at) if request.expires_at else None),
        ("decided",
         f"{fmt_time(request.decided_at)} by {request.decided_by}" if request.decided_at else None),
        ("reason", request.reason),
    ])
    echo(style("input", bold=True))
    for line in json.dumps(request.tool_input, indent=2, sort_keys=True, ensure_ascii=False).splitlines():
        echo(f"  {visible(line)}")
    echo(style("proposed rules", bold=True) + "  (approve ID --always RULE / deny ID --never RULE)")
    for pattern in patterns or ["(none: write one with nerv rules add)"]:
        echo(f"  {visible(pattern)}")


def _refuse_agents() -> None:
    """A person decides, never the agent whose call waits: Claude Code sets CLAUDECODE=1
    in the shell its agent runs commands in."""
    from nerv import env
    from nerv.errors import ValidationError

    if os.environ.get(env.CLAUDECODE) == "1":
        raise ValidationError(
            "refused: CLAUDECODE=1 is set, so this runs inside a Claude Code agent; approving or denying "
            "a queued call is for a person (their own terminal, or the dashboard)"
        )


def _decide(app: AppContext, request_id: str, status: str, reason: str | None, rule: str | None,
            as_json: bool) -> None:
    _refuse_agents()
    service = app.service()
    ident = _resolve(app, request_id)
    service.expire_orphaned_requests()  # approving a call nobody waits for would let nothing through
    decided = service.decide_request(ident, status, reason=reason, add_rule=rule)
    if as_json:
        out = _request_json(decided)
        out["rule_added"] = rule
        emit_json(out)
        return
    verb = "approved" if status == "approved" else "denied"
    subject = truncate(_subject(decided.tool_name, decided.tool_input), 60)
    echo(f"{verb} {ident[:8]}: {visible(decided.tool_name)} {subject}")
    if rule:
        echo(f"rule: {'allow' if status == 'approved' else 'deny'} {visible(rule)}")


@approvals.command("approve")
@click.argument("request_id", metavar="ID", shell_complete=complete_id("approval_request"))
@click.option("--always", "rule", metavar="RULE", help='Also add an allow rule, e.g. "Bash(npm test:*)".')
@json_option
@pass_app
def approve(app: AppContext, request_id: str, rule: str | None, as_json: bool) -> None:
    """Let the waiting call run (and with --always, similar calls from now on)."""
    _decide(app, request_id, "approved", None, rule, as_json)


@approvals.command("deny")
@click.argument("request_id", metavar="ID", shell_complete=complete_id("approval_request"))
@click.option("--reason", help="Told to the agent.")
@click.option("--never", "rule", metavar="RULE", help='Also add a deny rule, e.g. "Bash(git push:*)".')
@json_option
@pass_app
def deny(app: AppContext, request_id: str, reason: str | None, rule: str | None, as_json: bool) -> None:
    """Refuse the waiting call (and with --never, similar calls from now on)."""
    _decide(app, request_id, "denied", reason, rule, as_json)


@approvals.command("expire")
@click.option("--older-than", "seconds", type=click.FloatRange(min=0), default=600.0, show_default=True,
              help="Age in seconds of the pending requests to expire.")
@json_option
@pass_app
def expire(app: AppContext, seconds: float, as_json: bool) -> None:
    """Expire pending requests no hook can still be waiting for (e.g. after a crash)."""
    done = app.service().expire_requests(int(seconds * 1000))
    if as_json:
        emit_json([_request_json(r) for r in done])
    else:
        echo(f"expired {len(done)} request(s)")
