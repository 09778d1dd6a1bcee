"""nerv-hook: the Claude Code hook (``nerv-hook`` console script, or ``python -m nerv.hook``).

Reads one hook event as JSON on stdin and answers on stdout (exit code 0):

* ``PreToolUse``: the permission rules decide (deny > ask > allow); with no rule,
  the ``approval.mode`` setting: ``defer`` prints nothing (Claude Code's own
  rules and prompt apply), ``ask`` forces the prompt, ``queue`` files a pending
  approval request and waits for ``nerv approvals approve|deny`` (or the
  dashboard) until ``approval.timeout_seconds``, then denies and marks the
  request expired.  The wait always ends ``KILL_MARGIN_S`` before the Claude
  Code hook timeout given as ``--timeout SECONDS`` (``nerv hooks install``
  writes both), because Claude Code lets a call through when it kills a hook.
* ``PermissionRequest``: a deny or allow rule answers the dialog; otherwise
  nothing is printed and the dialog is shown.
* ``SessionStart`` / ``UserPromptSubmit`` / ``PostToolUse`` / ``Stop`` /
  ``SessionEnd``: keep ``claude_sessions`` current (and audited); Stop and
  SessionEnd also ingest the transcript's usage.  Nothing is printed.

Fail-safe: whatever goes wrong on a PreToolUse call (unreadable or invalid
input, no tool name, a locked or corrupt database, a bug) answers ``ask`` with
the reason, never allow and never silence, and is logged to
``$NERV_HOME/hook.log``.  Imports: the standard library and nerv's small
modules only (the rules matcher is loaded only for tool calls).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from nerv import env, hookio

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

APPROVAL_MODES = ("defer", "ask", "queue")
DEFAULT_MODE = "defer"
DEFAULT_TIMEOUT_S = 50.0  # as the approval.timeout_seconds setting's default
SESSION_EVENTS = frozenset({"SessionStart", "SessionEnd", "Stop", "PostToolUse", "UserPromptSubmit"})
# Bookkeeping tools with no effect outside the conversation, which Claude Code never
# asks about: in queue mode they are left to Claude Code instead of waiting for a person.
NEVER_QUEUED = frozenset({"TodoWrite", "TodoRead", "ExitPlanMode", "BashOutput", "KillShell", "KillBash"})
POLL_S = 0.1


class _Interrupted(Exception):
    """SIGTERM / SIGINT while waiting in the queue."""


class Context:
    """What one hook run knows about where it runs."""

    def __init__(self, payload: dict[str, Any], environ: Mapping[str, str], argv: list[str]) -> None:
        self.payload = payload
        self.environ = environ
        self.argv = argv
        self.event = hookio.text_field(payload, "hook_event_name") or ""
        self.claude_session_id = hookio.text_field(payload, "session_id")
        self.cwd = hookio.text_field(payload, "cwd") or os.getcwd()
        self.transcript_path = hookio.text_field(payload, "transcript_path")
        self.actor = hookio.actor(environ)
        self.project_id: str | None = None
        self.project_root: str | None = None
        self.task_id: str | None = None

    def resolve_project(self, conn: sqlite3.Connection) -> None:
        """NERV_PROJECT_ID / NERV_TASK_ID if they name existing rows, else the repo enclosing cwd."""
        from nerv.service import hookstore

        forced = self.environ.get(env.NERV_PROJECT_ID)
        if forced:
            if hookstore.exists(conn, "projects", forced):
                self.project_id = forced
            else:
                hookio.log(f"{env.NERV_PROJECT_ID}={forced!r} is not a project; ignored", self.event)
        found = hookstore.repo_for_path(conn, self.cwd)
        if found is not None:
            if self.project_id is None:
                self.project_id = found[0]
            if found[0] == self.project_id:
                self.project_root = found[1]
        task = self.environ.get(env.NERV_TASK_ID)
        if task:
            if hookstore.exists(conn, "tasks", task):
                self.task_id = task
            else:
                hookio.log(f"{env.NERV_TASK_ID}={task!r} is not a task; ignored", self.event)


# -- entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the hook on stdin / stdout; always exit code 0 (the answer is in the JSON)."""
    args = sys.argv[1:] if argv is None else argv
    environ = os.environ
    try:
        answer = run(_read_stdin(), environ, args)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            reason = "nerv-hook was interrupted"
        else:
            reason = f"nerv-hook internal error ({type(exc).__name__}: {exc})"
        hookio.log(reason, None, environ)
        answer = _ask(reason)
    if answer is not None:
        try:
            sys.stdout.write(hookio.encode(answer) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
    return 0


def _read_stdin() -> bytes | str | None:
    try:
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        data: bytes | str = stream.read()
        return data
    except (OSError, ValueError, AttributeError):
        return None


def run(raw: bytes | str | None, environ: Mapping[str, str], argv: list[str]) -> dict[str, Any] | None:
    """The answer to print for one event (None: print nothing)."""
    if raw is None:
        return _fail("cannot read the hook input from stdin", None, environ)
    try:
        payload = hookio.parse_payload(raw)
    except hookio.PayloadError as exc:
        return _fail(str(exc), None, environ)
    ctx = Context(payload, environ, argv)
    event = ctx.event
    if not event and "tool_name" in payload:
        event = ctx.event = "PreToolUse"  # a payload from a version that did not name its event
    if event == "PreToolUse":
        return _guarded(pre_tool_use, ctx)
    if event == "PermissionRequest":
        try:
            return permission_request(ctx)
        except Exception as exc:
            hookio.log(f"PermissionRequest not decided: {type(exc).__name__}: {exc}", event, environ)
            return None
    if event in SESSION_EVENTS:
        try:
            session_event(ctx)
        except Exception as exc:
            hookio.log(f"session not recorded: {type(exc).__name__}: {exc}", event, environ)
        return None
    if not event:
        return _fail("hook input names no hook_event_name and no tool_name", None, environ)
    return None  # an event nerv does not handle (Notification, PreCompact...): no opinion


def _guarded(handler: Any, ctx: Context) -> dict[str, Any] | None:
    import sqlite3

    from nerv.service.hookstore import HookDatabaseError

    try:
        result: dict[str, Any] | None = handler(ctx)
        return result
    except (HookDatabaseError, hookio.PayloadError) as exc:
        return _fail(str(exc), ctx.event, ctx.environ)
    except sqlite3.Error as exc:
        return _fail(f"database error ({exc})", ctx.event, ctx.environ)
    except _Interrupted:
        return _fail("nerv-hook was stopped while waiting", ctx.event, ctx.environ)
    except Exception as exc:
        return _fail(f"internal error ({type(exc).__name__}: {exc})", ctx.event, ctx.environ)


def _ask(reason: str) -> dict[str, Any]:
    return hookio.pretool_answer("ask", reason, system_message=reason)


def _fail(reason: str, event: str | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """Fail safe: log, and ask the person (never allow, never stay silent)."""
    hookio.log(reason, event, environ)
    return _ask(f"nerv-hook could not decide: {reason}; asking instead")


def _connect(ctx: Context) -> sqlite3.Connection:
    from nerv.service import hookstore

    conn = hookstore.open_db(hookio.db_path(ctx.environ), hookio.busy_timeout_ms(ctx.environ))
    try:
        ctx.resolve_project(conn)
    except BaseException:
        conn.close()
        raise
    return conn


# -- PreToolUse -----------------------------------------------------------------------


def _tool_call(ctx: Context) -> tuple[str, dict[str, Any]]:
    tool_name = ctx.payload.get("tool_name")
    if not isinstance(tool_name, str) or not tool_name.strip():
        raise hookio.PayloadError("hook input has no tool_name")
    tool_input = ctx.payload.get("tool_input", {})
    if tool_input is None:
        tool_input = {}
    if not isinstance(tool_input, dict):
        raise hookio.PayloadError(f"tool_input is a JSON {type(tool_input).__name__}, not an object")
    return tool_name, tool_input


def _decide(ctx: Context, conn: sqlite3.Connection, tool_name: str, tool_input: dict[str, Any]) -> Any:
    from nerv.permissions import MatchContext
    from nerv.service import hookstore

    root = ctx.environ.get(env.CLAUDE_PROJECT_DIR) or ctx.project_root or ctx.cwd
    match = MatchContext(cwd=ctx.cwd, project_root=root)
    return hookstore.evaluate(conn, tool_name, tool_input, ctx.project_id, match)


def _reason(decision: Any, notes: dict[str, str]) -> str:
    """The matcher's reason, with the deciding rule's note (why the rule exists) when it has one."""
    note = notes.get(decision.rules[0].id) if decision.rules else None
    return f"nerv: {decision.reason}" + (f" ({note})" if note and decision.action != "allow" else "")


def pre_tool_use(ctx: Context) -> dict[str, Any] | None:
    tool_name, tool_input = _tool_call(ctx)
    conn = _connect(ctx)
    try:
        decision, notes = _decide(ctx, conn, tool_name, tool_input)
        if decision.action is not None:
            return hookio.pretool_answer(decision.action, _reason(decision, notes))
        mode = _approval_mode(ctx, conn)
        if mode == "defer":
            return None
        if mode == "ask":
            reason = f"nerv: no rule matches ({decision.reason}); approval.mode is ask"
            return hookio.pretool_answer("ask", reason)
        if mode == "queue":
            return None if tool_name in NEVER_QUEUED else _queue(ctx, conn, tool_name, tool_input)
        hookio.log(f"approval.mode {mode!r} is not one of {', '.join(APPROVAL_MODES)}",
                   ctx.event, ctx.environ)
        return _ask(f"nerv: no rule matches; approval.mode {mode!r} is invalid, so asking")
    finally:
        conn.close()


def _approval_mode(ctx: Context, conn: sqlite3.Connection) -> Any:
    """approval.mode: NERV_APPROVAL_MODE, then the project's setting, the global one, ``defer``."""
    from nerv.service import hookstore

    mode = hookstore.setting(conn, "approval.mode", ctx.project_id, ctx.environ, DEFAULT_MODE)
    return mode.strip() if isinstance(mode, str) else mode


def _wait_seconds(ctx: Context, conn: sqlite3.Connection) -> float:
    """approval.timeout_seconds, capped to end KILL_MARGIN_S before Claude Code kills the hook."""
    from nerv.service import hookstore

    value = hookstore.setting(conn, "approval.timeout_seconds", ctx.project_id, ctx.environ,
                              DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        hookio.log(f"approval.timeout_seconds {value!r} is not a positive number; using {DEFAULT_TIMEOUT_S}",
                   ctx.event, ctx.environ)
        value = DEFAULT_TIMEOUT_S
    budget = hookio.claude_timeout(ctx.argv) - hookio.KILL_MARGIN_S
    return float(max(0.0, min(float(value), budget)))


def _queue(ctx: Context, conn: sqlite3.Connection, tool_name: str,
           tool_input: dict[str, Any]) -> dict[str, Any]:
    from nerv.service import hookstore

    wait = _wait_seconds(ctx, conn)
    session_id = None
    if ctx.claude_session_id:
        session_id = hookstore.touch_session(
            conn, ctx.actor, "PreToolUse", ctx.claude_session_id, project_id=ctx.project_id,
            task_id=ctx.task_id, cwd=ctx.cwd, transcript_path=ctx.transcript_path)
    request_id = hookstore.create_request(
        conn, ctx.actor, tool_name, tool_input, project_id=ctx.project_id, session_id=session_id,
        task_id=ctx.task_id, cwd=ctx.cwd)
    deadline = time.monotonic() + wait
    restore = _trap_signals()
    try:
        status, reason, by = hookstore.wait_for_decision(conn, request_id, deadline, poll_s=POLL_S)
    except _Interrupted:
        _expire(ctx, conn, request_id, "the hook was stopped before a decision")
        raise
    finally:
        restore()
    if status == "pending":
        why = f"no decision within {wait:g} s"
        if not _expire(ctx, conn, request_id, why):
            status, reason, by = hookstore.request_state(conn, request_id)  # decided at the last moment
    short = request_id[:8]
    if status == "approved":
        return hookio.pretool_answer("allow", f"nerv: approved by {by or 'someone'} (request {short})")
    if status == "denied":
        because = f": {reason}" if reason else ""
        return hookio.pretool_answer("deny", f"nerv: denied by {by or 'someone'}{because} (request {short})")
    if status == "pending":
        why = f"no decision within {wait:g} s"
        return hookio.pretool_answer(
            "deny", f"nerv: {why}; request {short} expired. Ask the user to approve it "
                    f"(nerv approvals approve {short}) and retry")
    return hookio.pretool_answer(
        "deny", f"nerv: request {short} is {status}{': ' + reason if reason else ''}; "
                "not run. Retry once the user has decided")


def _expire(ctx: Context, conn: sqlite3.Connection, request_id: str, why: str) -> bool:
    from nerv.service import hookstore

    try:
        return hookstore.expire_request(conn, ctx.actor, request_id, why)
    except Exception as exc:
        hookio.log(f"could not mark request {request_id} expired: {exc}", ctx.event, ctx.environ)
        return True


def _trap_signals() -> Any:
    """While waiting, SIGTERM / SIGINT end the wait (the request is expired, the answer denied)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise _Interrupted

    saved: list[tuple[int, Any]] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            saved.append((sig, signal.signal(sig, stop)))
        except (ValueError, OSError):  # not the main thread (in-process tests)
            continue

    def restore() -> None:
        for sig, handler in saved:
            signal.signal(sig, handler)

    return restore


# -- PermissionRequest ----------------------------------------------------------------


def permission_request(ctx: Context) -> dict[str, Any] | None:
    """Answer Claude Code's permission dialog from the rules; no rule: show the dialog."""
    try:
        tool_name, tool_input = _tool_call(ctx)
    except Exception as exc:
        hookio.log(str(exc), ctx.event, ctx.environ)
        return None
    conn = _connect(ctx)
    try:
        decision, notes = _decide(ctx, conn, tool_name, tool_input)
    finally:
        conn.close()
    if decision.action in ("allow", "deny"):
        return hookio.permission_request_answer(decision.action, _reason(decision, notes))
    return None


# -- session events -------------------------------------------------------------------


def session_event(ctx: Context) -> None:
    from nerv.service import hookstore

    if not ctx.claude_session_id:
        hookio.log("event without session_id; nothing recorded", ctx.event, ctx.environ)
        return
    conn = _connect(ctx)
    try:
        hookstore.touch_session(conn, ctx.actor, ctx.event, ctx.claude_session_id, project_id=ctx.project_id,
                                task_id=ctx.task_id, cwd=ctx.cwd, transcript_path=ctx.transcript_path)
    finally:
        conn.close()
    if ctx.event in ("Stop", "SessionEnd") and ctx.transcript_path:
        _ingest(ctx)


def _ingest(ctx: Context) -> None:
    """Read the transcript's new usage (the service's ingest_transcript, when it has one)."""
    if not ctx.transcript_path or not os.path.isfile(ctx.transcript_path):
        return
    try:
        from nerv.service import DatabaseService

        with DatabaseService(hookio.db_path(ctx.environ), actor=ctx.actor,
                             busy_timeout=hookio.busy_timeout_ms(ctx.environ)) as service:
            ingest = getattr(service, "ingest_transcript", None)
            if ingest is not None:
                result = ingest(ctx.transcript_path, claude_session_id=ctx.claude_session_id)
                errors = getattr(result, "errors", None)
                if errors:
                    hookio.log(f"usage ingest: {errors[:3]}", ctx.event, ctx.environ)
    except Exception as exc:
        hookio.log(f"usage ingest failed: {type(exc).__name__}: {exc}", ctx.event, ctx.environ)


if __name__ == "__main__":
    sys.exit(main())
