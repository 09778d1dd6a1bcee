"""nerv hooks install --http / --otel, uninstall and status, on real settings files."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import post

from nerv import DatabaseService
from nerv.serve.server import ControlServer

USER_OWN: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./.env)", "Bash(sudo:*)"]},
    "env": {"FOO": "bar"},
    "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/bin/guard"}]}]},
}


@pytest.fixture
def claude_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "claude-config"
    where.mkdir()
    (where / "settings.json").write_text(json.dumps(USER_OWN))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(where))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `claude` here: on-failure auto stays off
    return where


def nerv(db_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nerv", "--db", str(db_path), *args], capture_output=True,
                          text=True, timeout=60, check=False)


def settings(claude_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((claude_dir / "settings.json").read_text())
    return data


def handlers(data: dict[str, Any], event: str) -> list[dict[str, Any]]:
    return [h for g in data["hooks"].get(event, []) for h in g["hooks"]]


def test_install_http_writes_token_handlers_and_mirrors_denies(
    db_path: Path, claude_dir: Path, nerv_home: Path
) -> None:
    with DatabaseService(db_path) as service:
        project = service.create_project("p")
        service.create_rule_from_text("Bash(terraform destroy:*)", "deny")
        service.create_rule_from_text("Bash(make:*)", "deny", project_id=project.id)
    result = nerv(db_path, "hooks", "install", "--http", "--url", "http://127.0.0.1:9999", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    data = settings(claude_dir)
    token = (nerv_home / "serve.token").read_text().strip()
    assert stat.S_IMODE((claude_dir / "settings.json").stat().st_mode) == 0o600
    for event in ("PreToolUse", "PermissionRequest", "PostToolUse", "SessionStart", "UserPromptSubmit",
                  "Stop", "SessionEnd", "Notification"):
        (mine,) = [h for h in handlers(data, event) if h.get("type") == "http"]
        assert mine["url"] == f"http://127.0.0.1:9999/hooks/claude?timeout={mine['timeout']}"
        assert mine["headers"]["Authorization"] == f"Bearer {token}"
        assert mine["headers"]["X-Claude-Project-Dir"] == "${CLAUDE_PROJECT_DIR}"
        assert "CLAUDE_PROJECT_DIR" in mine["allowedEnvVars"]
        assert "onFailure" not in mine  # no Claude Code here that documents it
    assert handlers(data, "PreToolUse")[0] == {"type": "command", "command": "/bin/guard"}  # the user's stays
    deny = data["permissions"]["deny"]
    assert "Bash(terraform destroy:*)" in deny and "Read(./.env)" in deny
    assert deny.count("Bash(sudo:*)") == 1  # the user had it already: not added twice, not recorded as ours
    assert not any("check:" in d for d in deny)  # nerv's built-in checks have no Claude Code form
    assert "Bash(make:*)" not in deny  # a project's rule is not put in user-wide settings
    assert "Bash(terraform destroy:*)" in report["mirrored_deny"]
    assert "Bash(sudo:*)" not in report["mirrored_deny"]
    # Running it again changes nothing.
    again = json.loads(nerv(db_path, "hooks", "install", "--http", "--url", "http://127.0.0.1:9999",
                            "--json").stdout)
    assert again["changed"] == [] and again["mirrored_deny"] == [] and settings(claude_dir) == data


def test_the_token_never_goes_into_a_project_file(db_path: Path, tmp_path: Path, claude_dir: Path) -> None:
    project = tmp_path / "repo"
    project.mkdir()
    result = nerv(db_path, "hooks", "install", "--http", "--project", str(project))
    assert result.returncode == 2 and "only into user settings" in result.stderr
    assert not (project / ".claude").exists()
    assert nerv(db_path, "hooks", "install", "--otel", "--project", str(project)).returncode == 2


def test_uninstall_removes_exactly_what_install_added(db_path: Path, claude_dir: Path) -> None:
    with DatabaseService(db_path) as service:
        rule = service.create_rule_from_text("Bash(terraform destroy:*)", "deny")
    assert nerv(db_path, "hooks", "install", "--http", "--otel", "--on-failure", "block").returncode == 0
    data = settings(claude_dir)
    assert handlers(data, "PreToolUse")[-1]["onFailure"] == "block"
    assert "onFailure" not in handlers(data, "Stop")[-1]
    assert data["env"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/json" and data["env"]["FOO"] == "bar"
    assert data["env"]["OTEL_EXPORTER_OTLP_HEADERS"].startswith("Authorization=Bearer ")
    # A rule removed since: the next install takes its mirror out, and only it.
    with DatabaseService(db_path) as service:
        service.delete_rule(rule.id)
    assert nerv(db_path, "hooks", "install", "--http").returncode == 0
    assert "Bash(terraform destroy:*)" not in settings(claude_dir)["permissions"]["deny"]
    result = nerv(db_path, "hooks", "uninstall", "--json")
    assert result.returncode == 0, result.stderr
    assert settings(claude_dir) == USER_OWN


def test_a_command_install_replaces_the_http_one(db_path: Path, claude_dir: Path) -> None:
    assert nerv(db_path, "hooks", "install", "--http").returncode == 0
    assert nerv(db_path, "hooks", "install").returncode == 0
    data = settings(claude_dir)
    kinds = [h.get("type") for e in data["hooks"] for h in handlers(data, e)]
    assert "http" not in kinds and kinds.count("command") >= 7


def test_status_shows_the_mode_and_whether_the_server_answers(
    db_path: Path, claude_dir: Path, control: ControlServer, tmp_path: Path
) -> None:
    url = control.url.rstrip("/")
    assert nerv(db_path, "hooks", "install", "--http", "--url", url).returncode == 0
    text = nerv(db_path, "hooks", "status", "--project", str(tmp_path)).stdout
    assert "installed (http hooks), server answers" in text
    report = json.loads(nerv(db_path, "hooks", "status", "--project", str(tmp_path), "--json").stdout)
    user = report["files"][0]
    assert user["mode"] == "http" and user["server_answers"] is True and user["problems"] == []
    assert nerv(db_path, "hooks", "install", "--http", "--url", "http://127.0.0.1:9").returncode == 0
    text = nerv(db_path, "hooks", "status", "--project", str(tmp_path)).stdout
    assert "server does not answer" in text and "start it with `nerv serve`" in text


def test_the_installed_handler_reaches_the_server_as_claude_code_would_call_it(
    db_path: Path, claude_dir: Path, control: ControlServer, tmp_path: Path
) -> None:
    """The written url, headers and env interpolation, sent as Claude Code sends them."""
    repo = tmp_path / "repo"
    repo.mkdir()
    with DatabaseService(db_path) as service:
        project = service.create_project("p")
        service.add_repo(project.id, str(repo))
        service.create_rule_from_text("Bash(make:*)", "deny", project_id=project.id)
    assert nerv(db_path, "hooks", "install", "--http", "--url", control.url).returncode == 0
    (mine,) = [h for h in handlers(settings(claude_dir), "PreToolUse") if h.get("type") == "http"]
    environ = {"CLAUDE_PROJECT_DIR": str(repo)}

    def interpolate(value: str) -> str:  # only allowedEnvVars are filled; others become ""
        return re.sub(r"\$\{(\w+)\}", lambda m: environ.get(m.group(1), "")
                      if m.group(1) in mine["allowedEnvVars"] else "", value)

    headers = {k: interpolate(v) for k, v in mine["headers"].items()}
    path = mine["url"].split(control.url.rstrip("/"), 1)[1]
    call = {"hook_event_name": "PreToolUse", "session_id": "h-1", "cwd": "/elsewhere", "tool_name": "Bash",
            "tool_input": {"command": "make deploy"}}
    reply = post(control.url, path, call, headers=headers)
    assert reply.status == 200
    assert reply.json()["hookSpecificOutput"]["permissionDecision"] == "deny"  # the project rule, via header
    assert os.environ.get("CLAUDE_PROJECT_DIR") is None

