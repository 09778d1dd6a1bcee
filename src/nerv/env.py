"""Every environment variable nerv reads, in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

NERV_HOME = "NERV_HOME"  # folder holding state.db, backups, logs (default ~/.nerv)
NERV_DB = "NERV_DB"  # explicit database file; beats NERV_HOME
NERV_PROJECT_ID = "NERV_PROJECT_ID"  # force the project for the hook / CLI
NERV_TASK_ID = "NERV_TASK_ID"  # force the task for the hook
NERV_ACTOR = "NERV_ACTOR"  # who is written into the audit log
NERV_SYNCHRONOUS = "NERV_SYNCHRONOUS"  # SQLite synchronous level: OFF, NORMAL, FULL, EXTRA
NERV_BUSY_TIMEOUT_MS = "NERV_BUSY_TIMEOUT_MS"
NO_COLOR = "NO_COLOR"
# Settings may be overridden by NERV_<KEY> with dots turned into underscores,
# e.g. approval.mode -> NERV_APPROVAL_MODE (see nerv.service.settings).
SETTING_PREFIX = "NERV_"

DB_FILENAME = "state.db"


def nerv_home(environ: Mapping[str, str] = os.environ) -> Path:
    value = environ.get(NERV_HOME)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".nerv"


def default_db_path(environ: Mapping[str, str] = os.environ) -> Path:
    value = environ.get(NERV_DB)
    if value:
        return Path(value).expanduser()
    return nerv_home(environ) / DB_FILENAME


def setting_env_name(key: str) -> str:
    return SETTING_PREFIX + key.upper().replace(".", "_").replace("-", "_")
