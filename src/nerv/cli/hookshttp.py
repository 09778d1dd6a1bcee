"""``nerv hooks install --http``: Claude Code's http hooks pointing at ``nerv serve``.

* One ``type: "http"`` handler per event nerv handles (plus Notification, which
  tells the dashboard a session waits for a permission), with the bearer
  token in a header; written only to the user's own settings (never a project
  file that could be committed), and that file is made private (0600).
* Claude Code lets a call through when an http hook cannot be reached, so
  every global deny rule Claude Code's syntax can express is mirrored into its
  own ``permissions.deny``: a stopped server never opens what nerv denies. Where
  the installed Claude Code has ``onFailure: "block"`` (2.1.295 and later),
  PreToolUse uses it too.
* ``--otel``: the user-level ``env`` settings that send Claude Code's
  telemetry (OTLP/HTTP JSON) to the server.

What nerv added besides its handlers -- mirrored deny entries, env keys -- is
recorded in ``$NERV_HOME/claude-settings-added.json``, so uninstall removes
exactly those and nothing the user wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from nerv import env
from nerv.hook.events import EVENTS

HOOK_PATH = "/hooks/claude"
HTTP_EVENTS: dict[str, str | None] = {**EVENTS, "Notification": None}
ON_FAILURE_SINCE = (2, 1, 295)  # the first Claude Code with onFailure: "block"
HEADER_VARS = {
    "X-Claude-Project-Dir": env.CLAUDE_PROJECT_DIR,
    "X-Nerv-Project-Id": env.NERV_PROJECT_ID,
    "X-Nerv-Task-Id": env.NERV_TASK_ID,
}
RECORD_FILENAME = "claude-settings-added.json"


def is_nerv_http(handler: Any) -> bool:
    if not isinstance(handler, dict) or handler.get("type") != "http":
        return False
    url = handler.get("url")
    return isinstance(url, str) and urlsplit(url).path == HOOK_PATH


def claude_version() -> tuple[int, ...] | None:
    """The installed Claude Code's version (``claude --version``), or None."""
    exe = shutil.which("claude")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10, check=False)
        out = proc.stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else None


def fail_closed(choice: str) -> bool:
    if choice == "auto":
        version = claude_version()
        return version is not None and version >= ON_FAILURE_SINCE
    return choice == "block"


def handler(base_url: str, token: str, timeout: int, event: str, block: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": "http",
        "url": f"{base_url.rstrip('/')}{HOOK_PATH}?timeout={timeout}",
        "headers": {"Authorization": f"Bearer {token}", **{h: f"${{{v}}}" for h, v in HEADER_VARS.items()}},
        "allowedEnvVars": list(HEADER_VARS.values()),
        "timeout": timeout,
    }
    if block and event == "PreToolUse":
        entry["onFailure"] = "block"
    return entry


def install_http_into(
    data: dict[str, Any], base_url: str, token: str, timeout: int, block: bool, is_nerv: Any
) -> list[str]:
    """Put nerv's http handler on every event (replacing nerv's command or http handlers)."""
    from nerv.errors import ValidationError

    hooks_obj = data.setdefault("hooks", {})
    if not isinstance(hooks_obj, dict):
        raise ValidationError("'hooks' is not an object; left untouched")
    changed: list[str] = []
    for event, matcher in HTTP_EVENTS.items():
        groups = hooks_obj.get(event) or []
        if not isinstance(groups, list):
            raise ValidationError(f"hooks.{event} is not a list; left untouched")
        wanted = handler(base_url, token, timeout, event, block)
        existing = [h for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list)
                    for h in g["hooks"] if is_nerv(h)]
        if existing == [wanted]:
            continue
        kept_groups = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                kept = [h for h in group["hooks"] if not is_nerv(h)]
                if group["hooks"] and not kept:
                    continue
                group["hooks"] = kept
            kept_groups.append(group)
        entry: dict[str, Any] = {"matcher": matcher} if matcher is not None else {}
        entry["hooks"] = [wanted]
        hooks_obj[event] = [*kept_groups, entry]
        changed.append(event)
    return changed


def remove_http_from(data: dict[str, Any]) -> None:
    """Drop nerv's http handlers (a command install replaces them)."""
    hooks_obj = data.get("hooks")
    if not isinstance(hooks_obj, dict):
        return
    for event in list(hooks_obj):
        groups = hooks_obj[event]
        if not isinstance(groups, list):
            continue
        new_groups = []
        for group in groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                kept = [h for h in group["hooks"] if not is_nerv_http(h)]
                if group["hooks"] and not kept:
                    continue
                group["hooks"] = kept
            new_groups.append(group)
        if new_groups:
            hooks_obj[event] = new_groups
        else:
            del hooks_obj[event]


# -- what nerv added besides handlers --------------------------------------------------


def _record_path() -> Path:
    return env.nerv_home() / RECORD_FILENAME


def _records() -> dict[str, Any]:
    try:
        value = json.loads(_record_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _save_records(records: dict[str, Any]) -> None:
    path = _record_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(records, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def expressible(tool: str, pattern: str | None) -> str | None:
    """The rule in Claude Code's own syntax, or None when Claude Code cannot express it
    (nerv's built-in checks, parameter rules, tool-name globs, unknown tools)."""
    from nerv.permissions import syntax

    if syntax.check_name(tool, pattern) is not None or syntax.parameter_rule(tool, pattern) is not None:
        return None
    if syntax.mcp_server(tool) is None and tool not in syntax.KNOWN_TOOLS:
        return None
    if syntax.is_tool_glob(tool):
        return None
    return syntax.format_rule(tool, pattern or None)


def mirror_denies(data: dict[str, Any], path: Path, rules: Sequence[tuple[str, str | None]]) -> list[str]:
    """Make Claude Code's permissions.deny hold every expressible rule; returns the entries added."""
    from nerv.errors import ValidationError

    records = _records()
    mine = records.setdefault(str(path), {})
    previously: list[str] = list(mine.get("deny", []))
    permissions = data.setdefault("permissions", {})
    if not isinstance(permissions, dict):
        raise ValidationError("'permissions' is not an object; left untouched")
    deny = permissions.setdefault("deny", [])
    if not isinstance(deny, list):
        raise ValidationError("permissions.deny is not a list; left untouched")
    wanted = list(dict.fromkeys(t for t in (expressible(tool, pat) for tool, pat in rules) if t))
    # Entries nerv added for rules since removed go; the user's own entries stay.
    for stale in previously:
        if stale not in wanted and stale in deny:
            deny.remove(stale)
    added = [text for text in wanted if text not in deny]
    deny.extend(added)
    mine["deny"] = [t for t in wanted if t in added or t in previously]
    _save_records(records)
    return added


def otel_env(base_url: str, token: str) -> dict[str, str]:
    return {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_ENDPOINT": base_url.rstrip("/"),
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {token}",
    }


def add_otel(data: dict[str, Any], path: Path, base_url: str, token: str) -> list[str]:
    from nerv.errors import ValidationError

    block = data.setdefault("env", {})
    if not isinstance(block, dict):
        raise ValidationError("'env' is not an object; left untouched")
    records = _records()
    mine = records.setdefault(str(path), {})
    changed = []
    for key, value in otel_env(base_url, token).items():
        if block.get(key) != value:
            block[key] = value
            changed.append(key)
    mine["env"] = sorted(set(mine.get("env", [])) | set(otel_env(base_url, token)))
    _save_records(records)
    return changed


def remove_added(data: dict[str, Any], path: Path) -> list[str]:
    """Take out what nerv added to this file (mirrored denies, env keys); returns what went."""
    records = _records()
    mine = records.pop(str(path), None)
    if not mine:
        return []
    removed: list[str] = []
    permissions = data.get("permissions")
    deny = permissions.get("deny") if isinstance(permissions, dict) else None
    if isinstance(deny, list):
        for text in mine.get("deny", []):
            if text in deny:
                deny.remove(text)
                removed.append(f"permissions.deny {text}")
        if not deny and isinstance(permissions, dict):
            del permissions["deny"]
            if not permissions:
                del data["permissions"]
    block = data.get("env")
    if isinstance(block, dict):
        for key in mine.get("env", []):
            if key in block:
                del block[key]
                removed.append(f"env.{key}")
        if not block:
            del data["env"]
    _save_records(records)
    return removed


def server_answers(base_url: str) -> bool:
    """Whether ``nerv serve`` answers at ``base_url`` (GET /api/health, 1 s)."""
    import http.client

    parts = urlsplit(base_url)
    if parts.hostname is None:
        return False
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=1.0)
    try:
        conn.request("GET", "/api/health")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
