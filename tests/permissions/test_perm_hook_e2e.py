"""The non-Bash engine through the real nerv-hook: rules in a real database, the SQL prefilter
(``match_key IN call_keys``) and the matcher, one subprocess per call."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService


@pytest.fixture
def hook_home(tmp_path: Path) -> Path:
    home = tmp_path / "nerv"
    home.mkdir()
    with DatabaseService(home / "state.db") as service:
        for text, action in [
            ("WebFetch", "allow"), ("WebFetch(domain:evil.com)", "deny"),
            ("WebFetch(domain:127.0.0.1)", "deny"),
            ("Edit", "allow"), ("Bash", "allow"), ("Agent", "allow"), ("Agent(model:opus)", "ask"),
            ("Bash(run_in_background:true)", "deny"), ("Task(danger*)", "deny"),
        ]:
            service.create_rule_from_text(text, action)
    return home


def decide(home: Path, tool: str, tool_input: Any, cwd: Path) -> str | None:
    payload = {
        "session_id": "e2e-1", "transcript_path": str(cwd / "t.jsonl"), "cwd": str(cwd),
        "hook_event_name": "PreToolUse", "tool_name": tool, "tool_input": tool_input,
    }
    env = {**os.environ, "NERV_HOME": str(home), "CLAUDE_PROJECT_DIR": str(cwd)}
    env.pop("NERV_DB", None)
    env.pop("NERV_APPROVAL_MODE", None)
    proc = subprocess.run([sys.executable, "-m", "nerv.hook"], input=json.dumps(payload).encode(),
                          capture_output=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode().strip()
    if not out:
        return None
    answer: str = json.loads(out)["hookSpecificOutput"]["permissionDecision"]
    return answer


@pytest.mark.parametrize(
    ("tool", "tool_input", "expected"),
    [
        ("WebFetch", {"url": "https://ok.example/"}, "allow"),
        ("WebFetch", {"url": "https:evil.com/x"}, "deny"),
        ("WebFetch", {"url": "https://ｅｖｉｌ。com/"}, "deny"),
        ("WebFetch", {"url": "https://ok.example@ev%69l.com/"}, "deny"),
        ("WebFetch", {"url": "http://0x7f.1/"}, "deny"),
        ("Write", {"file_path": "~/.ssh/authorized_keys", "content": "k"}, "deny"),  # the default Read deny
        ("Bash", {"command": ["sudo", "rm", "-rf", "/"]}, "deny"),  # the default Bash(sudo:*) deny
        ("Bash", {"command": "ls", "run_in_background": True}, "deny"),
        ("Bash", {"command": "ls"}, "allow"),
        ("Agent", {"subagent_type": "dangerous"}, "deny"),
        ("Agent", {"subagent_type": "explore", "model": "opus"}, "ask"),
    ],
)
def test_the_hook_decides_like_the_matcher(hook_home: Path, tmp_path: Path, tool: str, tool_input: Any,
                                           expected: str) -> None:
    assert decide(hook_home, tool, tool_input, tmp_path) == expected
