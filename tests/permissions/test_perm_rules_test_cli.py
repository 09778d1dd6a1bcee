"""`nerv rules test Bash ...` prints every parsed part with the rule or check that decided it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLAUDE_CONFIG_DIR", "CLAUDE_PROJECT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def test_every_part_names_what_decided_it(run_cli: Any, service: DatabaseService, tmp_path: Path) -> None:
    assert run_cli("rules", "add", "Bash(git status:*)", "--allow").returncode == 0
    command = "cd sub && git status | head -3 > out.txt; cat ~/.ssh/id_rsa; make"
    result = run_cli("rules", "test", "Bash", command, "--cwd", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {row["part"]: (row["decision"], row["by"]) for row in data["explain"]}
    assert rows["git status"] == ("allow", "Bash(git status:*)")
    assert rows["cd sub"][0] == "allow" and "built-in" in rows["cd sub"][1]
    assert rows["make"] == (None, "no rule")
    assert rows["read ~/.ssh/id_rsa"] == ("deny", "Read(~/.ssh/**)")
    assert rows["write out.txt"][0] is None
    assert data["decision"] == "deny" and "Read(~/.ssh/**)" in data["reason"]
    text = run_cli("rules", "test", "Bash", command, "--cwd", str(tmp_path)).stdout
    assert "parts:" in text
    assert "allow git status  <- Bash(git status:*)" in text
    assert "deny  read ~/.ssh/id_rsa  <- Read(~/.ssh/**)" in text


def test_checks_and_unparsable_commands_are_explained(run_cli: Any, service: DatabaseService) -> None:
    data = json.loads(run_cli("rules", "test", "Bash", "nerv approvals approve x", "--json").stdout)
    assert data["decision"] == "deny"
    assert {"part": "check:nerv-control", "decision": "deny",
            "by": "Bash(check:nerv-control): nerv approvals"} in data["explain"]
    data = json.loads(run_cli("rules", "test", "Bash", "git status ${!x}", "--json").stdout)
    assert data["decision"] == "ask"
    assert data["explain"][0]["part"] == "(the whole command)" and "never allowed" in data["explain"][0]["by"]
