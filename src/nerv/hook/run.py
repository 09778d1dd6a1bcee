"""nerv-hook: the Claude Code hook (``nerv-hook`` console script, or ``python -m nerv.hook``).

Reads one hook event as JSON on stdin and answers on stdout (exit code 0):

* ``PreToolUse``: the permission rules decide (deny > ask > allow); with no rule,
  the ``approval.mode`` setting: ``defer`` prints nothing (Claude Code's own
  rules and prompt apply), ``ask`` forces the prompt, ``queue`` files a pending
  approval request and waits for ``nerv approvals approve|deny`` (or the
  dashboard) until ``approval.timeout_seconds``, then denies and marks the
  request expired.  The request carries the wait's end (``expires_at``): no
  decision is recorded after it, so the answer and the stored state agree.
  The wait always ends ``KILL_MARGIN_S`` before the Claude Code hook timeout
  given as ``--timeout SECONDS`` (``nerv hooks install`` writes both), because
  Claude Code lets a call through when it kills a hook.
  Once a daily or monthly budget is exceeded, ``budget.enforce`` (off / ask /
  deny) turns any answer but a rule's deny into ask or deny naming the budget.
* ``PermissionRequest``: a deny or allow rule answers the dialog; otherwise
  nothing is printed and the dialog is shown.
* ``SessionStart`` / ``UserPromptSubmit`` / ``PostToolUse`` / ``Stop`` /
  ``SessionEnd``: keep ``claude_sessions`` current (and audited); Stop and
  SessionEnd also ingest the transcript's usage.  Nothing is printed, except
  that UserPromptSubmit blocks a new prompt over an enforced budget.

Fail-safe: whatever goes wrong on a PreToolUse call (unreadable or invalid
input, no tool name, a missing, locked or corrupt database, a bug, its own
deadline passing) answers ``ask`` with the reason, never allow and never
silence, and is logged to ``$NERV_HOME/hook.log``.  The hook never creates a
database.  Imports: the standard library and nerv's small modules only (the
rules matcher is loaded only for tool calls).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from nerv import env
from nerv.errors import NervError
from nerv.hook import events
from nerv.hook import io as hookio

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Mapping

    from nerv.hook.watchdog import Watchdog
    from nerv.permissions import Decision

APPROVAL_MODES = ("defer", "ask", "queue")
DEFAULT_MODE = "defer"
DEFAULT_TIMEOUT_S = events.DEFAULT_APPROVAL_TIMEOUT_S
# Bookkeeping tools with no effect outside the conversation, which Claude Code never
# asks about: in queue mode they are left to Claude Code instead of waiting for a person.
NEVER_QUEUED = frozenset({"TodoWrite", "TodoRead", "ExitPlanMode", "BashOutput", "KillShell", "KillBash"})
POLL_S = 0.1


class _Interrupted(Exception):
    """SIGTERM / SIGINT while waiting in the queue."""


class Context:
    """What one hook run knows about where it runs."""

    def __init__(
        self, payload: dict[str, Any], environ: Mapping[str, str], argv: list[str],
        watchdog: Watchdog | None = None,
    ) -> None:
        self.payload = payload
        self.environ = environ
        self.argv = argv
        self.watchdog = watchdog
        self.started = time.monotonic()
        self.event = hookio.text_field(payload, "hook_event_name") or ""
        self.claude_session_id = hookio.text_field(payload, "session_id")
        self.cwd = hookio.text_field(payload, "cwd") or os.getcwd()
        self.transcript_path = hookio.text_field(payload, "transcript_path")
        self.actor = hookio.actor(environ)
        self.project_id: str | None = None
        self.project_root: str | None = None
        self.task_id: str | None = None

    def resolve_project(self, conn: sqlite3.Connection) -> None:
        """The project whose rules apply, first found of: NERV_PROJECT_ID (an existing
        project), the repository enclosing the payload's cwd, the one enclosing
        CLAUDE_PROJECT_DIR, the project of this Claude Code session's row.

        The cwd alone is not enough: an agent that ``cd``s out of its repository
        must still meet its project's rules.
        """
        from nerv.store import reads

        forced = self.environ.get(env.NERV_PROJECT_ID)
        if forced:
            if reads.exists(conn, "projects", forced):
                self.project_id = forced
            else:
                hookio.log(f"{env.NERV_PROJECT_ID}={forced!r} is not a project; ignored", self.event)
        project_dir = self.environ.get(env.CLAUDE_PROJECT_DIR)
        for where in (self.cwd, project_dir):
            if not where:
                continue
            found = reads.repo_for_path(conn, where)
            if found is None:
                continue
            if self.project_id is None:
                self.project_id = found[0]
            if found[0] == self.project_id:
                self.project_root = found[1]
                break
        if self.project_id is None and self.claude_session_id:
            self.project_id = reads.session_project(conn, self.claude_session_id)
        task = self.environ.get(env.NERV_TASK_ID)
        if task:
            if reads.exists(conn, "tasks", task):
                self.task_id = task
            else:
                hookio.log(f"{env.NERV_TASK_ID}={task!r} is not a task; ignored", self.event)


# -- entry point ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Run the hook on stdin / stdout; always exit code 0 (the answer is in the JSON).

    As a process (``argv`` None) the hook arms its watchdog: past its deadline it
    answers ask and exits, whatever it was doing. (In-process callers, the tests,
    pass ``argv`` and get no watchdog: it would end their process.)
    """
    args = sys.argv[1:] if argv is None else argv
    environ = os.environ
    watchdog = _arm_watchdog(environ, args) if argv is None else None
    try:
        answer = run(_read_stdin(), environ, args, watchdog)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            reason = "nerv-hook was interrupted"
        else:
            reason = f"nerv-hook internal error ({type(exc).__name__}: {exc})"
        hookio.log(reason, None, environ)
        answer = _ask(reason)
    if watchdog is not None and not watchdog.claim():
        return 0  # the watchdog answered (and is ending the process)
    if answer is not None:
        try:
            sys.stdout.write(hookio.encode(answer) + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
    return 0


def _deadline_s(environ: Mapping[str, str]) -> float:
    raw = environ.get(env.NERV_HOOK_DEADLINE_S)  # overrides events.DECIDE_DEADLINE_S
    try:
        value = float(raw) if raw else events.DECIDE_DEADLINE_S
    except ValueError:
        value = events.DECIDE_DEADLINE_S
    return value if value > 0 else events.DECIDE_DEADLINE_S


def _arm_watchdog(environ: Mapping[str, str], argv: list[str]) -> Watchdog:
    from nerv.hook.watchdog import Watchdog

    seconds = min(_deadline_s(environ), _latest_s(argv))

    def last_words() -> bytes:
        reason = f"nerv-hook ran past its {seconds:g} s deadline; asking instead"
        hookio.log(reason, None, environ)
        return (hookio.encode(_ask(reason)) + "\n").encode("ascii")

    return Watchdog(seconds, last_words)


def _latest_s(argv: list[str]) -> float:
    """Seconds from start by which the hook must have answered, whatever it does."""
    return max(0.5, events.claude_timeout(argv) - events.ANSWER_MARGIN_S)


def _read_stdin() -> bytes | str | None:
    try:
        stream = getattr(sys.stdin, "buffer", sys.stdin)  # tests swap in text streams
        data: bytes | str = stream.read()
        return data
    except (OSError, ValueError, AttributeError):
        return None


def run(
    raw: bytes | str | None, environ: Mapping[str, str], argv: list[str], watchdog: Watchdog | None = None
) -> dict[str, Any] | None:
    """The answer to print for one event (None: print nothing)."""
    if raw is None:
        return _fail("cannot read the hook input from stdin", None, environ)
    try:
        payload = hookio.parse_payload(raw)
    except hookio.PayloadError as exc:
        return _fail(str(exc), None, environ)
    ctx = Context(payload, environ, argv, watchdog)
    event = ctx.event
    if not event and "tool_name" in payload:
        event = ctx.event = "PreToolUse"  # a payload from a version that did not name its event
    if watchdog is not None and event != "PreToolUse":
        watchdog.speak = False  # only a PreToolUse answer fails safe to ask; others print nothing
    if event == "PreToolUse":
        return _guarded(pre_tool_use, ctx)
    if event == "PermissionRequest":
        try:
            return permission_request(ctx)
        except Exception as exc:
            hookio.log(f"PermissionRequest not decided: {type(exc).__name__}: {exc}", event, environ)
            return None
    if event in events.SESSION_EVENTS:
        try:
            session_event(ctx)
        except Exception as exc:
            hookio.log(f"session not recorded: {type(exc).__name__}: {exc}", event, environ)
        return prompt_budget(ctx) if event == "UserPromptSubmit" else None
    if not event:
        return _fail("hook input names no hook_event_name and no tool_name", None, environ)
    return None  # an event nerv does not handle (Notification, PreCompact...): no opinion


def _guarded(
    handler: Callable[[Context], dict[str, Any] | None], ctx: Context
) -> dict[str, Any] | None:
    import sqlite3

    try:
        return handler(ctx)
    except (NervError, hookio.PayloadError) as exc:
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
    from nerv.store.open import open_existing

    conn = open_existing(hookio.db_path(ctx.environ), hookio.busy_timeout_ms(ctx.environ), ctx.environ)
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


def _decide(
    ctx: Context, conn: sqlite3.Connection, tool_name: str, tool_input: dict[str, Any]
) -> tuple[Decision, dict[str, str]]:
    from nerv.permissions import MatchContext
    from nerv.store import reads

    root = ctx.environ.get(env.CLAUDE_PROJECT_DIR) or ctx.project_root or ctx.cwd
    match = MatchContext(cwd=ctx.cwd, project_root=root)
    return reads.evaluate(conn, tool_name, tool_input, ctx.project_id, match)


def _reason(decision: Decision, notes: dict[str, str]) -> str:
    """The matcher's reason, with the deciding rule's note (why the rule exists) when it has one."""
    note = notes.get(decision.rules[0].id) if decision.rules else None
    return f"nerv: {decision.reason}" + (f" ({note})" if note and decision.action != "allow" else "")


def pre_tool_use(ctx: Context) -> dict[str, Any] | None:
    tool_name, tool_input = _tool_call(ctx)
    conn = _connect(ctx)
    try:
        decision, notes = _decide(ctx, conn, tool_name, tool_input)
        if decision.action != "deny":
            over = _over_budget(ctx, conn)
            if over is not None and not (over[0] == "ask" and decision.action == "ask"):
                return hookio.pretool_answer(over[0], over[1])
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
    from nerv.store import reads

    mode = reads.setting(conn, "approval.mode", ctx.project_id, ctx.environ, DEFAULT_MODE)
    return mode.strip() if isinstance(mode, str) else mode


def _wait_seconds(ctx: Context, conn: sqlite3.Connection) -> float:
    """approval.timeout_seconds, capped to end KILL_MARGIN_S before Claude Code kills the hook."""
    from nerv.store import reads

    value = reads.setting(conn, "approval.timeout_seconds", ctx.project_id, ctx.environ, DEFAULT_TIMEOUT_S)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        hookio.log(f"approval.timeout_seconds {value!r} is not a positive number; using {DEFAULT_TIMEOUT_S}",
                   ctx.event, ctx.environ)
        value = DEFAULT_TIMEOUT_S
    budget = events.claude_timeout(ctx.argv) - events.KILL_MARGIN_S
    return float(max(0.0, min(float(value), budget)))


def _queue(
    ctx: Context, conn: sqlite3.Connection, tool_name: str, tool_input: dict[str, Any]
) -> dict[str, Any]:
    from nerv.ids import now_ms
    from nerv.store import requests, sessions

    wait = _wait_seconds(ctx, conn)
    session_id = None
    if ctx.claude_session_id:
        session_id = sessions.touch(
            conn, ctx.actor, "PreToolUse", ctx.claude_session_id, project_id=ctx.project_id,
            task_id=ctx.task_id, cwd=ctx.cwd, transcript_path=ctx.transcript_path)
    started = time.monotonic()
    deadline = started + wait
    if ctx.watchdog is not None:  # the wait, then one busy timeout for the lock to expire it
        ctx.watchdog.extend_to(min(deadline + hookio.busy_timeout_ms(ctx.environ) / 1000 + 1.0,
                                   ctx.started + _latest_s(ctx.argv)))
    row = requests.create(
        conn, ctx.actor, tool_name, tool_input, project_id=ctx.project_id, session_id=session_id,
        task_id=ctx.task_id, cwd=ctx.cwd, expires_at=now_ms() + int(wait * 1000))
    request_id = str(row["id"])
    expires_at = int(row["expires_at"])
    restore = _trap_signals()
    try:
        status, reason, by = requests.wait(conn, request_id, deadline, poll_s=POLL_S)
    except _Interrupted:
        _expire(ctx, conn, request_id, "the hook was stopped before a decision")
        raise
    finally:
        restore()
    why = f"no decision within {wait:g} s"
    if status == "pending":
        status, reason, by = _give_up(ctx, conn, request_id, expires_at, why)
    short = request_id[:8]
    if status == "approved":
        return hookio.pretool_answer("allow", f"nerv: approved by {by or 'someone'} (request {short})")
    if status == "denied":
        because = f": {reason}" if reason else ""
        return hookio.pretool_answer("deny", f"nerv: denied by {by or 'someone'}{because} (request {short})")
    if status in ("pending", "expired"):
        return hookio.pretool_answer(
            "deny", f"nerv: {why}; request {short} expired and the call was not run. Ask the user to "
                    "decide in the approval queue (nerv approvals list, or the dashboard) and then "
                    "retry the call: a retry files a new request")
    return hookio.pretool_answer(
        "deny", f"nerv: request {short} is {status}{': ' + reason if reason else ''}; "
                "not run. Retry once the user has decided")


def _give_up(
    ctx: Context, conn: sqlite3.Connection, request_id: str, expires_at: int, why: str
) -> tuple[str, str | None, str | None]:
    """The wait ended without a decision: the state to answer from.

    No decision can be recorded from ``expires_at`` on (the store refuses it),
    so once the clock has passed it, "pending" is final: mark it expired if
    the write lock comes within the hook's busy timeout, answer deny either
    way (a request left pending is expired by the next reader). A decision
    committed before ``expires_at`` is read back and answered.
    """
    from nerv.ids import now_ms
    from nerv.store import requests

    late = expires_at - now_ms()
    if late > 0:  # the monotonic wait ended a hair before the wall-clock deadline
        time.sleep(min(late, 1000) / 1000)
    _expire(ctx, conn, request_id, why)
    return requests.state(conn, request_id)


def _expire(ctx: Context, conn: sqlite3.Connection, request_id: str, why: str) -> bool:
    from nerv.store import requests

    try:
        return requests.expire(conn, ctx.actor, request_id, why)
    except Exception as exc:
        hookio.log(f"could not mark request {request_id} expired (no decision can be recorded "
                   f"for it any more): {exc}", ctx.event, ctx.environ)
        return False


def _trap_signals() -> Callable[[], None]:
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


# -- budgets --------------------------------------------------------------------------


def _over_budget(ctx: Context, conn: sqlite3.Connection) -> tuple[str, str] | None:
    """``(ask | deny, reason)`` when budget.enforce acts on an exceeded budget (a deny rule
    still wins, and so does a rule's ask over a budget's ask)."""
    from nerv.store import reads

    if reads.setting(conn, "budget.enforce", ctx.project_id, ctx.environ, "off") == "off":
        return None  # the common case: one settings read, and the budget code is not even loaded
    from nerv.usage.enforce import exceeded

    found = exceeded(conn, ctx.project_id, ctx.environ)
    if found is None:
        return None
    mode, budget = found
    return mode, (f"nerv: {budget.name()} is exceeded and budget.enforce is {mode}; "
                  f"raise it with `{budget.how_to_raise()}`")


def prompt_budget(ctx: Context) -> dict[str, Any] | None:
    """UserPromptSubmit: block a new prompt once budget.enforce acts on an exceeded budget."""
    try:
        conn = _connect(ctx)
        try:
            over = _over_budget(ctx, conn)
        finally:
            conn.close()
    except Exception as exc:  # a prompt is not a tool call: a failed check does not block it
        hookio.log(f"budget not checked: {type(exc).__name__}: {exc}", ctx.event, ctx.environ)
        return None
    if over is None:
        return None
    return {"decision": "block", "reason": over[1]}


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
        return hookio.permission_request_answer(str(decision.action), _reason(decision, notes))
    return None


# -- session events -------------------------------------------------------------------


def session_event(ctx: Context) -> None:
    from nerv.store import sessions

    if not ctx.claude_session_id:
        hookio.log("event without session_id; nothing recorded", ctx.event, ctx.environ)
        return
    conn = _connect(ctx)
    try:
        sessions.touch(conn, ctx.actor, ctx.event, ctx.claude_session_id, project_id=ctx.project_id,
                       task_id=ctx.task_id, cwd=ctx.cwd, transcript_path=ctx.transcript_path)
    finally:
        conn.close()
    if ctx.event in ("Stop", "SessionEnd") and ctx.transcript_path:
        _ingest(ctx)


def _ingest(ctx: Context) -> None:
    """Read the transcript's new usage through the service (parsing and prices need it)."""
    if not ctx.transcript_path or not os.path.isfile(ctx.transcript_path):
        return
    if ctx.watchdog is not None:  # a long transcript may take a while; stop before Claude Code's kill
        ctx.watchdog.extend_to(ctx.started + _latest_s(ctx.argv))
    try:
        from nerv.service import DatabaseService

        with DatabaseService(hookio.db_path(ctx.environ), actor=ctx.actor,
                             busy_timeout=hookio.busy_timeout_ms(ctx.environ)) as service:
            result = service.ingest_transcript(ctx.transcript_path, claude_session_id=ctx.claude_session_id)
            if result.errors:
                hookio.log(f"usage ingest: {result.errors[:3]}", ctx.event, ctx.environ)
    except Exception as exc:
        hookio.log(f"usage ingest failed: {type(exc).__name__}: {exc}", ctx.event, ctx.environ)
