"""Every environment variable nerv reads, in one place.

Deliberately free of pathlib and other heavy imports: the hook imports this
on every tool call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

# -- nerv's own -----------------------------------------------------------------
NERV_HOME = "NERV_HOME"  # folder holding state.db, backups, logs (default ~/.nerv)
NERV_DB = "NERV_DB"  # explicit database file; beats NERV_HOME
NERV_PROJECT_ID = "NERV_PROJECT_ID"  # force the project for the hook / CLI
NERV_TASK_ID = "NERV_TASK_ID"  # force the task for the hook
NERV_ACTOR = "NERV_ACTOR"  # who is written into the audit log
NERV_SYNCHRONOUS = "NERV_SYNCHRONOUS"  # SQLite synchronous level: OFF, NORMAL, FULL, EXTRA
NERV_BUSY_TIMEOUT_MS = "NERV_BUSY_TIMEOUT_MS"  # how long a write waits for the lock
NERV_HOOK_BUSY_TIMEOUT_MS = "NERV_HOOK_BUSY_TIMEOUT_MS"  # the same for the hook (short: it then asks)
NERV_HOOK_DEADLINE_S = "NERV_HOOK_DEADLINE_S"  # the hook's own deadline for deciding (then it asks)
NERV_DEBUG = "NERV_DEBUG"  # print tracebacks of internal errors
# Settings may be overridden by NERV_<KEY> with dots turned into underscores,
# e.g. approval.mode -> NERV_APPROVAL_MODE (see nerv.service.settings).
SETTING_PREFIX = "NERV_"

# -- the world's ------------------------------------------------------------------
NO_COLOR = "NO_COLOR"
CLAUDE_CONFIG_DIR = "CLAUDE_CONFIG_DIR"  # Claude Code's own override of ~/.claude
CLAUDE_PROJECT_DIR = "CLAUDE_PROJECT_DIR"  # set by Claude Code for hooks: the project root
CLAUDECODE = "CLAUDECODE"  # "1" in the shell Claude Code runs its agent's commands in

DB_FILENAME = "state.db"


def nerv_home_str(environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(NERV_HOME)
    return os.path.expanduser(value) if value else os.path.join(os.path.expanduser("~"), ".nerv")


def default_db_path_str(environ: Mapping[str, str] = os.environ) -> str:
    value = environ.get(NERV_DB)
    return os.path.expanduser(value) if value else os.path.join(nerv_home_str(environ), DB_FILENAME)


def nerv_home(environ: Mapping[str, str] = os.environ) -> Path:
    from pathlib import Path

    return Path(nerv_home_str(environ))


def default_db_path(environ: Mapping[str, str] = os.environ) -> Path:
    from pathlib import Path

    return Path(default_db_path_str(environ))


def setting_env_name(key: str) -> str:
    return SETTING_PREFIX + key.upper().replace(".", "_").replace("-", "_")


def claude_user_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Claude Code's user folder: the first CLAUDE_CONFIG_DIR entry, else ~/.claude."""
    from pathlib import Path

    first = environ.get(CLAUDE_CONFIG_DIR, "").split(",")[0].split(os.pathsep)[0].strip()
    return Path(first).expanduser() if first else Path.home() / ".claude"


def claude_user_settings(environ: Mapping[str, str] = os.environ) -> Path:
    return claude_user_dir(environ) / "settings.json"
