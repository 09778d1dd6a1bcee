"""Agent-controlled text never reaches the terminal raw (issue 9, fault 7).

A queued command such as ``rm -rf ~/work/x # ESC[30D ESC[K npm test`` would be drawn by a
terminal as ``npm test``: the cursor moves back over the dangerous part and the line is erased.
Every human-readable printer spells control characters out; ``--json`` keeps the exact text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService

# Cursor left + erase line, an OSC title change, CR, a one-byte CSI (0x9b), conceal (SGR 8),
# a right-to-left override and DEL: each one makes a terminal show something other than the text.
HOSTILE = "rm -rf ~/work/x # \x1b[30D\x1b[K npm test\r\x1b]0;owned\x07\x9b2J\x1b[8m\u202e\x7f"
ATTACK = "\x1b[30D\x1b[K"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]")  # anything a terminal acts on, but newline


@pytest.fixture
def hostile_db(service: DatabaseService, db_path: Path) -> dict[str, str]:
    project = service.create_project(f"proj {HOSTILE}", goal=f"goal {HOSTILE}")
    cycle = service.create_cycle(project.id, goal=f"cycle {HOSTILE}")
    task = service.create_task(
        project.id, f"task {HOSTILE}", description=f"desc {HOSTILE}", cycle_id=cycle.id
    )
    decision = service.create_decision(project.id, f"adr {HOSTILE}", context=f"ctx {HOSTILE}")
    session = service.create_session(project.id, task.id, model=f"model {HOSTILE}", cwd=f"/w/{HOSTILE}")
    request = service.create_request(
        "Bash", {"command": HOSTILE}, project_id=project.id, session_id=session.id, cwd=f"/w/{HOSTILE}"
    )
    rule = service.create_rule(f"echo {HOSTILE}:*", "allow", "Bash", note=f"note {HOSTILE}")
    service.set_setting("approval.mode", "queue")
    service.set_setting("budget.monthly_usd", 5)
    return {
        "project": project.id,
        "cycle": cycle.id,
        "task": task.id,
        "decision": decision.id,
        "session": session.id,
        "request": request.id,
        "rule": rule.id,
    }


def _commands(ids: dict[str, str]) -> list[tuple[str, ...]]:
    return [
        ("approvals", "list"),
        ("approvals", "show", ids["request"]),
        ("task", "list"),
        ("task", "show", ids["task"]),
        ("task", "board"),
        ("decision", "list"),
        ("decision", "show", ids["decision"]),
        ("project", "list"),
        ("project", "show", ids["project"]),
        ("cycle", "list"),
        ("cycle", "show", ids["cycle"]),
        ("session", "list"),
        ("session", "show", ids["session"]),
        ("rules", "list"),
        ("rules", "test", "Bash", f"echo {HOSTILE}"),
        ("audit",),
        ("settings", "list"),
        ("usage", "report", "--by", "session"),
        ("usage", "report", "--by", "model"),
        ("status",),
    ]


def _assert_clean(args: tuple[str, ...], text: str) -> None:
    found = RAW.search(text)
    assert found is None, f"nerv {' '.join(args)} printed {found.group()!r} raw: {text!r}"


def test_every_human_readable_listing_escapes_control_characters(
    hostile_db: dict[str, str], invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    for args in _commands(hostile_db):
        result = invoke(*args)
        assert result.returncode == 0, (args, result.stderr)
        _assert_clean(args, result.stdout)
        _assert_clean(args, result.stderr)
        # No colour asked for: not a single escape byte may reach the output.
        assert "\x1b" not in result.stdout, args


def test_forced_colour_keeps_styles_but_not_the_attack(
    hostile_db: dict[str, str], invoke: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    styled = 0
    for args in _commands(hostile_db):
        result = invoke(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert ATTACK not in result.stdout, args
        assert "\x1b[8m" not in result.stdout, args  # conceal: never one of nerv's styles
        assert "\x1b]" not in result.stdout, args
        without_styles = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
        _assert_clean(args, without_styles)
        styled += result.stdout.count("\x1b[")
    assert styled > 0  # colour really was on


def test_queued_command_is_shown_visibly_and_json_stays_exact(
    hostile_db: dict[str, str], run_cli: Any
) -> None:
    """The issue's example, through the real console entry point."""
    listed = run_cli("approvals", "list", env={"NO_COLOR": "1"}, check=True)
    assert "npm test" in listed.stdout
    assert "rm -rf ~/work/x # \\e[30D\\e[K npm test\\r" in listed.stdout
    _assert_clean(("approvals", "list"), listed.stdout)
    shown = run_cli("approvals", "show", hostile_db["request"], env={"NO_COLOR": "1"}, check=True)
    spelled = "rm -rf ~/work/x # \\e[30D\\e[K npm test\\r\\e]0;owned\\x07\\x9b2J\\e[8m\\u202e\\x7f"
    assert spelled in shown.stdout
    _assert_clean(("approvals", "show"), shown.stdout)
    data = run_cli("approvals", "show", hostile_db["request"], "--json", check=True).json()
    assert data["tool_input"]["command"] == HOSTILE
    tasks = run_cli("task", "list", "--json", check=True).json()
    assert [t["title"] for t in tasks] == [f"task {HOSTILE}"]


def test_error_messages_escape_what_the_user_typed(invoke: Any, service: DatabaseService) -> None:
    result = invoke("task", "show", "zz\x1b[2Jzz")
    assert result.returncode == 3
    assert "\x1b" not in result.stderr
    assert "zz\\e[2Jzz" in result.stderr


def test_visible_spells_out_every_control_character() -> None:
    from nerv.cli.output import visible

    for code in [*range(0x20), *range(0x7F, 0xA0), 0x202E, 0x2066, 0x200F]:
        shown = visible(f"a{chr(code)}b")
        assert RAW.search(shown) is None and "\n" not in shown, hex(code)
        assert shown.startswith("a\\") and shown.endswith("b"), shown
    assert visible("plain ünïcødé ✓ text") == "plain ünïcødé ✓ text"
    assert visible("two\nlines\tx", keep_lines=True) == "two\nlines\tx"
    assert json.loads(json.dumps(HOSTILE)) == HOSTILE
