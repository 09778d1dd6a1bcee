"""The real nerv-hook process: a representative set of calls, and what it imports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import PRE_SAMPLES, pre_payload, session_payload

from nerv import DatabaseService

ALLOWED_NERV = {
    "nerv",
    "nerv.env",
    "nerv.hook",
    "nerv.hook.events",
    "nerv.hook.io",
    "nerv.hook.run",
    "nerv.hook.watchdog",
    "nerv.store",
    "nerv.store.audit",
    "nerv.store.open",
    "nerv.store.reads",
    "nerv.store.requests",
    "nerv.store.sessions",
    "nerv.store.tx",
    "nerv.ids",
    "nerv.db",
    "nerv.db.version",
    "nerv.errors",
}
FORBIDDEN = (
    "click",
    "nerv.cli",
    "nerv.web",
    "nerv.service",  # the full DatabaseService (the hook uses the nerv.store core directly)
    "nerv.service.base",
    "nerv.models",
    "nerv.usage",
    "nerv.db.migrations",
    "nerv.db.connection",
    "dataclasses",
    "pathlib",
    "argparse",
)


def test_console_script_and_module_give_the_same_answers(hook_process: Any, service: DatabaseService) -> None:
    service.create_rule_from_text("Bash(gh issue view:*)", "allow")
    service.create_rule_from_text("Bash(python -c:*)", "ask")
    cases = [
        (pre_payload("Bash", {"command": "gh issue view 445"}), "allow"),
        (pre_payload("Bash", {"command": "gh issue view 445 && sudo reboot"}), "deny"),
        (pre_payload("Bash", {"command": "python -c 'print(1)'"}), "ask"),
        (pre_payload("Read", {"file_path": os.path.expanduser("~/.ssh/id_ed25519")}), "deny"),
        (pre_payload("Bash", {"command": "make"}), None),
        (b"{not json", "ask"),
    ]
    for payload, expected in cases:
        result = hook_process(payload)
        assert (result.returncode, result.decision) == (0, expected), (payload, result.stdout, result.stderr)
        assert result.stderr == ""
    module = subprocess.run(
        [sys.executable, "-m", "nerv.hook"],
        capture_output=True,
        check=False,
        input=json.dumps(cases[1][0]).encode(),
    )
    assert (
        module.returncode == 0
        and json.loads(module.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"
    )


def test_real_samples_through_the_process(hook_process: Any, service: DatabaseService) -> None:
    service.create_rule_from_text("Edit", "deny")
    edits = [p for p in PRE_SAMPLES if p["tool_name"] == "Edit"][:2]
    for payload in edits:
        result = hook_process(payload)
        assert result.decision == "deny" and "denied by Edit" in result.reason


def test_session_event_prints_nothing(hook_process: Any, service: DatabaseService) -> None:
    result = hook_process(session_payload("SessionStart", "proc-1"))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    session = service.get_session_by_claude_id("proc-1")
    assert session is not None and session.status == "active"


def _imported(payload: Any, nerv_home: Path) -> set[str]:
    """Modules the hook imports on top of a bare interpreter start (python -X importtime)."""
    env = {**os.environ, "NERV_HOME": str(nerv_home)}
    base = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nerv.hook"],
        capture_output=True,
        text=True,
        input=json.dumps(payload),
        env=env,
        check=True,
    )

    def names(stderr: str) -> set[str]:
        return {m.group(1) for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", stderr, re.M)}

    assert proc.stdout.strip() == "" or json.loads(proc.stdout)
    return names(proc.stderr) - names(base.stderr)


@pytest.mark.parametrize("kind", ["pretooluse", "session"])
def test_hook_imports_only_the_standard_library_and_small_nerv_modules(nerv_home: Path, kind: str) -> None:
    DatabaseService(nerv_home / "state.db").close()
    payload = (
        pre_payload("Bash", {"command": "npm test && ls"})
        if kind == "pretooluse"
        else (session_payload("SessionStart", "imports-1"))
    )
    modules = _imported(payload, nerv_home)
    stdlib = set(sys.stdlib_module_names)
    for name in sorted(modules):
        top = name.split(".")[0].lstrip("_")
        if name.startswith("nerv"):
            assert name in ALLOWED_NERV or name.startswith("nerv.permissions"), name
        else:
            assert top in stdlib or name.split(".")[0] in stdlib, f"third-party module imported: {name}"
    for forbidden in FORBIDDEN:
        assert not any(m == forbidden or m.startswith(forbidden + ".") for m in modules), forbidden
    if kind == "session":  # the matcher is only loaded for tool calls
        assert not any(m.startswith("nerv.permissions") for m in modules)
    else:
        assert "nerv.permissions.matcher" in modules


def test_up_to_date_database_is_not_migrated(nerv_home: Path) -> None:
    """The fast path never runs the migration code (one PRAGMA user_version read)."""
    from nerv.db.migrations import latest_version
    from nerv.db.version import SCHEMA_VERSION

    assert latest_version() == SCHEMA_VERSION, "bump nerv/db/version.py when appending a migration"
    DatabaseService(nerv_home / "state.db").close()
    modules = _imported(pre_payload("Bash", {"command": "ls"}), nerv_home)
    assert "nerv.db.migrations" not in modules


def test_hookio_mirrors_nerv_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from nerv import env
    from nerv.hook import io as hookio

    for values in (
        {},
        {"NERV_HOME": str(tmp_path / "h")},
        {"NERV_DB": str(tmp_path / "x.db")},
        {"NERV_HOME": "~/custom"},
    ):
        assert hookio.db_path(values) == str(env.default_db_path(values))
        assert hookio.nerv_home(values) == str(env.nerv_home(values))
    for key in ("approval.mode", "approval.timeout_seconds", "budget.daily-usd"):
        assert hookio.setting_env_name(key) == env.setting_env_name(key)
