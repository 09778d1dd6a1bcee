"""The hook's contract with Claude Code: which events, which matchers, which timeouts.

``nerv hooks install`` registers exactly ``EVENTS``; the hook handles exactly
those (a test keeps the two equal), so installing and handling cannot drift.
"""

from __future__ import annotations

import math
from typing import Any

# Event -> the matcher it is registered with (tool events: "*"; others take none).
EVENTS: dict[str, str | None] = {
    "PreToolUse": "*",
    "PermissionRequest": "*",
    "PostToolUse": "*",
    "SessionStart": None,
    "UserPromptSubmit": None,
    "Stop": None,
    "SessionEnd": None,
}
# The events that only keep claude_sessions current (nothing is printed).
SESSION_EVENTS = frozenset({"SessionStart", "SessionEnd", "Stop", "PostToolUse", "UserPromptSubmit"})

# Claude Code kills a command hook after its settings entry's "timeout" -- 600 s when
# the entry names none -- and then lets the call through, so every answer, a queued
# wait included, must be written well before that.
CLAUDE_DEFAULT_TIMEOUT_S = 600.0
KILL_MARGIN_S = 10.0  # a queued wait ends this long before Claude Code's timeout
ANSWER_MARGIN_S = 2.0  # and the watchdog answers at the latest this long before it
# The hook's own deadline for everything but the queued wait: deciding a call takes
# milliseconds, so running this long means something is wrong; it then answers ask.
DECIDE_DEADLINE_S = 10.0

# What `nerv hooks install` writes as the entries' timeout: approval.timeout_seconds
# plus this margin, and never less than MIN_TIMEOUT_S.
MIN_TIMEOUT_S = 60
INSTALL_MARGIN_S = 30
DEFAULT_APPROVAL_TIMEOUT_S = 50.0  # as the approval.timeout_seconds setting's default


def install_timeout(approval_timeout: Any) -> int:
    """The "timeout" for the installed entries: a queued call is always answered before it."""
    seconds = (
        approval_timeout
        if isinstance(approval_timeout, int | float) and not isinstance(approval_timeout, bool)
        and approval_timeout > 0
        else DEFAULT_APPROVAL_TIMEOUT_S
    )
    return max(MIN_TIMEOUT_S, math.ceil(seconds) + INSTALL_MARGIN_S)


def claude_timeout(argv: list[str]) -> float:
    """The ``--timeout SECONDS`` that ``nerv hooks install`` writes next to Claude Code's own."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--timeout" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--timeout="):
            value = arg.split("=", 1)[1]
        if value is not None:
            try:
                seconds = float(value)
            except ValueError:
                return CLAUDE_DEFAULT_TIMEOUT_S
            return seconds if seconds > 0 and math.isfinite(seconds) else CLAUDE_DEFAULT_TIMEOUT_S
    return CLAUDE_DEFAULT_TIMEOUT_S
