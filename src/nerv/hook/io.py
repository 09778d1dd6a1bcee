"""What nerv-hook reads and writes besides the database: environment, payload, answers, log.

Standard library only (``json``, ``os``, ``time``), because Claude Code starts
the hook on every tool call. Paths are plain strings: ``pathlib`` costs a few
milliseconds to import and the hook needs none of it.

Answers follow Claude Code's hook contract (exit code 0, JSON on stdout):

* PreToolUse: ``hookSpecificOutput.permissionDecision`` = allow / deny / ask
  with ``permissionDecisionReason`` (current versions).  Allow and deny also
  carry the legacy top-level ``decision`` = approve / block and ``reason``
  that Claude Code versions before the ``hookSpecificOutput`` form honoured;
  current versions document them as deprecated aliases of allow / deny, so
  both readers see the same answer.  Ask has no legacy form: an old version
  ignores it and runs its own permission flow, which prompts.
* PermissionRequest: ``hookSpecificOutput.decision.behavior`` = allow / deny.
* Every other event: nothing on stdout.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from nerv import env
from nerv.env import NERV_ACTOR, NERV_HOOK_BUSY_TIMEOUT_MS

# How long the hook waits for a database lock before it gives up and asks.
DEFAULT_HOOK_BUSY_TIMEOUT_MS = 3000
LOG_FILENAME = "hook.log"
LOG_MAX_BYTES = 1_000_000  # then hook.log becomes hook.log.1 and a new one starts

HOOK_ACTOR = "hook"


nerv_home = env.nerv_home_str
db_path = env.default_db_path_str
setting_env_name = env.setting_env_name


def busy_timeout_ms(environ: Any = os.environ) -> int:
    raw = environ.get(NERV_HOOK_BUSY_TIMEOUT_MS)
    try:
        return max(0, int(raw)) if raw else DEFAULT_HOOK_BUSY_TIMEOUT_MS
    except ValueError:
        return DEFAULT_HOOK_BUSY_TIMEOUT_MS


def actor(environ: Any = os.environ) -> str:
    return environ.get(NERV_ACTOR) or HOOK_ACTOR


# -- payload ------------------------------------------------------------------------


class PayloadError(Exception):
    """The event on stdin cannot be used; the message says why, for the answer and the log."""


def parse_payload(raw: bytes | str) -> dict[str, Any]:
    """The hook event as a dict. Extra fields are kept, missing optional ones are fine."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError("hook input is not UTF-8") from None
    if not raw.strip():
        raise PayloadError("empty hook input on stdin")
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise PayloadError(f"hook input is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise PayloadError(f"hook input is a JSON {type(value).__name__}, not an object")
    return value


def text_field(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    return value if isinstance(value, str) and value else None


# -- answers ------------------------------------------------------------------------

_LEGACY = {"allow": "approve", "deny": "block"}


def pretool_answer(decision: str, reason: str, system_message: str | None = None) -> dict[str, Any]:
    """Claude Code's PreToolUse answer; see the module docstring for the legacy fields."""
    out: dict[str, Any] = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }
    }
    legacy = _LEGACY.get(decision)
    if legacy is not None:
        out["decision"] = legacy
        out["reason"] = reason
    if system_message:
        out["systemMessage"] = system_message
    return out


def permission_request_answer(decision: str, reason: str) -> dict[str, Any]:
    """PermissionRequest: allow or deny the dialog Claude Code is about to show."""
    body: dict[str, Any] = {"behavior": decision}
    if decision == "deny":
        body["message"] = reason
    return {"hookSpecificOutput": {"hookEventName": "PermissionRequest", "decision": body}}


def encode(answer: dict[str, Any]) -> str:
    """Pure ASCII JSON (non-ASCII text as \\u escapes): it can be written whatever
    stdout's encoding is (LC_ALL=C, PYTHONIOENCODING=ascii), and means the same."""
    return json.dumps(answer, ensure_ascii=True, separators=(",", ":"))


# -- log ----------------------------------------------------------------------------


def log(message: str, event: str | None = None, environ: Any = os.environ) -> None:
    """Append one line to ``$NERV_HOME/hook.log``; never raises."""
    try:
        home = nerv_home(environ)
        if not os.path.isdir(home):
            os.makedirs(home, mode=0o700, exist_ok=True)
        path = os.path.join(home, LOG_FILENAME)
        try:
            if os.stat(path).st_size > LOG_MAX_BYTES:
                os.replace(path, path + ".1")
        except OSError:
            pass
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = f"{stamp} pid={os.getpid()} event={event or '-'} {' '.join(message.split())}\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except Exception:
        pass
