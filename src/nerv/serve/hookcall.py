"""``POST /hooks/claude``: Claude Code's http hook, answered by nerv-hook's own code.

The server does not decide anything itself: it calls :func:`nerv.hook.run.run`,
the function the ``nerv-hook`` process calls, with the request body as the
hook's stdin and an environment that names the server's database. The answer
is therefore the same, byte for byte, as ``nerv-hook`` prints for the same
event and database (a shared-corpus test runs both).

What a command hook learns from its environment, an http hook sends as
headers (``nerv hooks install --http`` writes them, with Claude Code's
``allowedEnvVars`` interpolation): ``X-Claude-Project-Dir``,
``X-Nerv-Project-Id``, ``X-Nerv-Task-Id``. The hook entry's timeout comes as
``?timeout=SECONDS`` (the command hook's ``--timeout``), so a queued wait ends
before Claude Code gives up on the request.
"""

from __future__ import annotations

import math
import os
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from nerv import env
from nerv.hook import io as hookio
from nerv.hook import run as hookrun

# Who the audit log names for the http hook's writes (the command hook's default is "hook");
# nerv serve finds the calls it still holds by it when it stops.
ACTOR = "hook:serve"

# request header -> the environment variable the command hook reads
HEADER_ENV = {
    "X-Claude-Project-Dir": env.CLAUDE_PROJECT_DIR,
    "X-Nerv-Project-Id": env.NERV_PROJECT_ID,
    "X-Nerv-Task-Id": env.NERV_TASK_ID,
}


def environment(
    db_path: str, headers: Any, base: Mapping[str, str] = os.environ
) -> Mapping[str, str]:
    """The environment the hook code sees: the server's, the database, the request's headers."""
    overlay = {env.NERV_DB: db_path, env.NERV_ACTOR: ACTOR}
    for header, name in HEADER_ENV.items():
        value = headers.get(header)
        if value:  # Claude Code sends "" for a variable it was not allowed to read
            overlay[name] = value
    return ChainMap(overlay, dict(base))


def timeout_argv(raw: str | None) -> list[str]:
    """``?timeout=SECONDS`` as the command hook's ``--timeout`` argument (ignored when invalid)."""
    if raw is None:
        return []
    try:
        seconds = float(raw)
    except ValueError:
        return []
    return ["--timeout", f"{seconds:g}"] if seconds > 0 and math.isfinite(seconds) else []


def answer(raw: bytes, environ: Mapping[str, str], argv: list[str]) -> dict[str, Any] | None:
    """nerv-hook's answer to one event (None: it would print nothing).

    As in ``nerv-hook``'s ``main``: whatever escapes ``run`` answers ask, never allow.
    """
    try:
        return hookrun.run(raw, environ, argv)
    except Exception as exc:
        reason = f"nerv-hook internal error ({type(exc).__name__}: {exc})"
        hookio.log(reason, None, environ)
        return hookio.pretool_answer("ask", reason, system_message=reason)


def encode(result: dict[str, Any] | None) -> bytes:
    """The response body: the hook's stdout without its newline (empty: no opinion)."""
    return b"" if result is None else hookio.encode(result).encode("ascii")
