"""nerv hooks install / uninstall / status: merge into Claude Code settings without disturbing them."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService

EXISTING: dict[str, Any] = {
    "model": "opus",
    "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./.env)"], "defaultMode": "acceptEdits"},
    "env": {"FOO": "bar"},
    "hooks": {
        "PreToolUse": [
            {
                "matcher": "Bash",
                "hooks": [{"type": "command", "command": "/usr/local/bin/guard.sh", "timeout": 5}],
            },
        ],
        "Notification": [{"hooks": [{"type": "command", "command": "notify-send claude"}]}],
        "Stop": [{"hooks": []}],
    },
    "statusLine": {"type": "command", "command": "echo hi"},
}


def ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "proj"
    (directory / ".claude").mkdir(parents=True)
    (directory / ".claude" / "settings.json").write_text(json.dumps(EXISTING, indent=4) + "\n")
    return directory


def settings(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / ".claude" / "settings.json").read_text())
    return data


def test_install_merges_and_is_idempotent(invoke: Any, project_dir: Path) -> None:
    out = ok(invoke("hooks", "install", "--project", str(project_dir), "--json")).json()
    assert set(out["changed"]) == {
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "SessionEnd",
    }
    data = settings(project_dir)
    # Everything that was there is still there, untouched.
    for key in ("model", "permissions", "env", "statusLine"):
        assert data[key] == EXISTING[key]
    assert data["hooks"]["Notification"] == EXISTING["hooks"]["Notification"]
    assert data["hooks"]["PreToolUse"][0] == EXISTING["hooks"]["PreToolUse"][0]
    assert data["hooks"]["Stop"][0] == {"hooks": []}
    ours = data["hooks"]["PreToolUse"][1]
    assert ours["matcher"] == "*"
    [handler] = ours["hooks"]
    assert handler["type"] == "command" and handler["timeout"] == out["timeout"] == 80  # 50 s + 30 s
    words = shlex.split(handler["command"])
    assert Path(words[0]).is_absolute() and words[-2:] == ["--timeout", "80"]
    assert "matcher" not in data["hooks"]["SessionStart"][0]
    assert data["hooks"]["PostToolUse"][0]["matcher"] == "*"

    before = (project_dir / ".claude" / "settings.json").read_bytes()
    again = ok(invoke("hooks", "install", "--project", str(project_dir)))
    assert "already installed" in again.stdout
    assert (project_dir / ".claude" / "settings.json").read_bytes() == before


def test_installed_command_runs_the_hook(invoke: Any, project_dir: Path, service: DatabaseService) -> None:
    ok(invoke("hooks", "install", "--project", str(project_dir)))
    command = settings(project_dir)["hooks"]["PreToolUse"][1]["hooks"][0]["command"]
    payload = {
        "session_id": "s",
        "cwd": str(project_dir),
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "sudo id"},
    }
    proc = subprocess.run(
        command, shell=True, input=json.dumps(payload), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_uninstall_removes_exactly_what_install_added(invoke: Any, project_dir: Path) -> None:
    ok(invoke("hooks", "install", "--project", str(project_dir)))
    out = ok(invoke("hooks", "uninstall", "--project", str(project_dir), "--json")).json()
    assert len(out["changed"]) == 7
    assert settings(project_dir) == EXISTING
    again = ok(invoke("hooks", "uninstall", "--project", str(project_dir)))
    assert "was not installed" in again.stdout
    assert settings(project_dir) == EXISTING


def test_install_into_a_missing_file_and_back(invoke: Any, tmp_path: Path) -> None:
    directory = tmp_path / "fresh"
    directory.mkdir()
    ok(invoke("hooks", "install", "--project", str(directory)))
    assert set(settings(directory)) == {"hooks"}
    ok(invoke("hooks", "uninstall", "--project", str(directory)))
    assert not (directory / ".claude" / "settings.json").exists()  # as before install: no file


def test_user_settings_honour_claude_config_dir(
    invoke: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: DatabaseService
) -> None:
    config = tmp_path / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    service.set_setting("approval.timeout_seconds", 100)
    out = ok(invoke("hooks", "install", "--json")).json()
    assert out["path"] == str(config / "settings.json") and out["timeout"] == 130
    assert "PreToolUse" in json.loads((config / "settings.json").read_text())["hooks"]
    status = ok(invoke("hooks", "status", "--project", str(tmp_path), "--json")).json()
    user = next(f for f in status["files"] if f["scope"] == "user")
    assert set(user["events"]) == {
        "PreToolUse",
        "PermissionRequest",
        "PostToolUse",
        "SessionStart",
        "UserPromptSubmit",
        "Stop",
        "SessionEnd",
    }
    assert user["problems"] == []
    # Raising the approval timeout past what was installed is reported.
    service.set_setting("approval.timeout_seconds", 300)
    status = ok(invoke("hooks", "status", "--project", str(tmp_path), "--json")).json()
    user = next(f for f in status["files"] if f["scope"] == "user")
    assert any("too short" in p for p in user["problems"])
    # Installing again updates the existing entries in place.
    out = ok(invoke("hooks", "install", "--user", "--json")).json()
    assert out["timeout"] == 330 and "PreToolUse" in out["changed"]
    data = json.loads((config / "settings.json").read_text())
    assert (
        len(data["hooks"]["PreToolUse"]) == 1 and data["hooks"]["PreToolUse"][0]["hooks"][0]["timeout"] == 330
    )


def test_duplicates_and_hand_written_entries(invoke: Any, tmp_path: Path) -> None:
    directory = tmp_path / "dup"
    (directory / ".claude").mkdir(parents=True)
    mine = {"type": "command", "command": "python3 -m nerv.hook", "timeout": 5}
    data = {
        "hooks": {
            "PreToolUse": [
                {"matcher": "Bash", "hooks": [copy.deepcopy(mine), {"type": "command", "command": "other"}]},
                {"matcher": "*", "hooks": [copy.deepcopy(mine)]},
            ]
        }
    }
    (directory / ".claude" / "settings.json").write_text(json.dumps(data))
    ok(invoke("hooks", "install", "--project", str(directory)))
    groups = settings(directory)["hooks"]["PreToolUse"]
    assert len(groups) == 1 and groups[0]["matcher"] == "Bash"  # updated in place; the duplicate group went
    assert [h["command"] for h in groups[0]["hooks"]][1] == "other"
    ok(invoke("hooks", "uninstall", "--project", str(directory)))
    assert settings(directory) == {
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "other"}]}]}
    }


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"hooks": []}', '{"hooks": {"PreToolUse": {}}}'])
def test_unreadable_settings_are_left_untouched(invoke: Any, tmp_path: Path, content: str) -> None:
    directory = tmp_path / "bad"
    (directory / ".claude").mkdir(parents=True)
    (directory / ".claude" / "settings.json").write_text(content)
    result = invoke("hooks", "install", "--project", str(directory))
    assert result.returncode == 2 and "left untouched" in result.stderr
    assert (directory / ".claude" / "settings.json").read_text() == content


def test_project_and_user_together_is_a_usage_error(invoke: Any, tmp_path: Path) -> None:
    result = invoke("hooks", "install", "--project", str(tmp_path), "--user")
    assert result.returncode == 2 and "either --project" in result.stderr


def test_status_text(invoke: Any, project_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "nowhere"))
    ok(invoke("hooks", "install", "--project", str(project_dir)))
    text = ok(invoke("hooks", "status", "--project", str(project_dir))).stdout
    assert "project:" in text and "installed" in text and "PreToolUse:" in text
    assert "user:" in text and "not installed" in text


def test_missing_project_directory_is_refused(invoke: Any, tmp_path: Path) -> None:
    result = invoke("hooks", "install", "--project", str(tmp_path / "nope"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "nope").exists()


def test_install_registers_exactly_the_events_the_hook_handles(invoke: Any, project_dir: Path) -> None:
    """One list (nerv.hook.events.EVENTS) drives both; PermissionRequest included."""
    from nerv.hook.events import EVENTS, SESSION_EVENTS

    assert set(EVENTS) == {"PreToolUse", "PermissionRequest"} | SESSION_EVENTS
    ok(invoke("hooks", "install", "--project", str(project_dir)))
    installed = settings(project_dir)["hooks"]
    ours = {event for event, groups in installed.items()
            if any("nerv" in h["command"] for g in groups for h in g["hooks"])}
    assert ours == set(EVENTS)
    assert installed["PermissionRequest"][-1]["matcher"] == "*"
    assert installed["Stop"][-1].get("matcher") is None
