"""hooks install keeps the settings file's bytes; uninstall puts them back exactly, or edits
only nerv's entries when something else changed the file since."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import ok

from nerv import DatabaseService
from nerv.hook.events import EVENTS

# Formatting nerv's own writer would never produce: tabs, key order, no final newline, non-ASCII.
ORIGINAL = (
    b'{\n\t"permissions": {"deny": ["Read(./.env)"]},\n\t"model": "opus",  \n'
    b'\t"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "say \xc3\xa9t\xc3\xa9"}]}]}\n}'
)


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "proj" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(ORIGINAL)
    path.chmod(0o640)
    return path


def install(invoke: Any, path: Path) -> Any:
    return ok(invoke("hooks", "install", "--project", str(path.parent.parent), "--json")).json()


def uninstall(invoke: Any, path: Path) -> Any:
    return ok(invoke("hooks", "uninstall", "--project", str(path.parent.parent), "--json")).json()


def test_uninstall_restores_the_file_byte_for_byte(
    invoke: Any, settings_file: Path, nerv_home: Path
) -> None:
    first = install(invoke, settings_file)
    backup = Path(first["backup"])
    assert backup.parent == nerv_home / "claude-settings-backups"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert "PreToolUse" in json.loads(settings_file.read_text())["hooks"]
    # Installing again (nothing to change) keeps the same backup of the original.
    assert install(invoke, settings_file) == {**first, "changed": []}
    out = uninstall(invoke, settings_file)
    assert out["restored"] is True and len(out["changed"]) == len(EVENTS)
    assert settings_file.read_bytes() == ORIGINAL
    assert stat.S_IMODE(settings_file.stat().st_mode) == 0o640
    assert not backup.exists()
    again = uninstall(invoke, settings_file)
    assert (again["changed"], again["restored"]) == ([], False)
    assert settings_file.read_bytes() == ORIGINAL


def test_a_reinstall_with_a_new_timeout_keeps_the_first_original(
    invoke: Any, settings_file: Path, service: DatabaseService
) -> None:
    install(invoke, settings_file)
    service.set_setting("approval.timeout_seconds", 300)
    second = install(invoke, settings_file)
    assert second["timeout"] == 330 and second["changed"]
    assert uninstall(invoke, settings_file)["restored"] is True
    assert settings_file.read_bytes() == ORIGINAL


def test_a_file_changed_since_install_keeps_that_change(invoke: Any, settings_file: Path) -> None:
    backup = Path(install(invoke, settings_file)["backup"])
    data = json.loads(settings_file.read_text())
    data["model"] = "sonnet"  # the user (or Claude Code) edits the file after install
    settings_file.write_text(json.dumps(data))
    out = uninstall(invoke, settings_file)
    assert out["restored"] is False and len(out["changed"]) == len(EVENTS)
    after = json.loads(settings_file.read_text())
    assert after["model"] == "sonnet"
    assert after["hooks"] == json.loads(ORIGINAL)["hooks"]
    assert after["permissions"] == {"deny": ["Read(./.env)"]}
    assert not backup.exists()  # stale: it would undo the user's change


def test_no_backup_is_taken_of_a_file_that_already_held_nerv(invoke: Any, tmp_path: Path) -> None:
    path = tmp_path / "p" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    handler = {"type": "command", "command": "nerv-hook --timeout 5", "timeout": 5}
    hooks = {"PreToolUse": [{"matcher": "*", "hooks": [handler]}]}
    path.write_text(json.dumps({"model": "opus", "hooks": hooks}))
    assert install(invoke, path)["backup"] is None
    assert uninstall(invoke, path)["restored"] is False
    assert json.loads(path.read_text()) == {"model": "opus"}


def test_a_created_file_is_removed_again(invoke: Any, tmp_path: Path) -> None:
    project = tmp_path / "new"
    project.mkdir()
    path = project / ".claude" / "settings.json"
    assert install(invoke, path)["backup"] is not None and path.exists()
    out = uninstall(invoke, path)
    assert out["restored"] is True and not path.exists()


def test_human_output_says_what_uninstall_did(invoke: Any, settings_file: Path) -> None:
    install(invoke, settings_file)
    text = ok(invoke("hooks", "uninstall", "--project", str(settings_file.parent.parent))).stdout
    assert text.endswith("; restored the file as it was before install\n")
