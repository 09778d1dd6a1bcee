"""Budgets that act: budget.enforce turns an exceeded budget into ask / deny and blocks prompts.

Checked through both faces (the nerv-hook process and POST /hooks/claude) on one database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from serve_helpers import post, run_hook

from nerv import DatabaseService
from nerv.serve.server import ControlServer


def _both(control: ControlServer, payload: dict[str, Any]) -> Any:
    reply = post(control.url, "/hooks/claude", payload, token=control.hook_token)
    assert reply.status == 200
    assert reply.body == run_hook(payload)
    return reply.json()


def _call(command: str, cwd: str = "/tmp") -> dict[str, Any]:
    return {"hook_event_name": "PreToolUse", "session_id": "budget-1", "cwd": cwd, "tool_name": "Bash",
            "tool_input": {"command": command}}


PROMPT = {"hook_event_name": "UserPromptSubmit", "session_id": "budget-1", "cwd": "/tmp", "prompt": "go on"}


@pytest.fixture
def spent_today(db_path: Path) -> None:
    """$5 spent today, a $1 daily budget, and a rule allowing ls."""
    with DatabaseService(db_path) as service:
        project = service.create_project("budgets")
        service.create_session(project.id, cost_usd=5.0)
        service.create_rule_from_text("Bash(ls:*)", "allow")
        service.set_setting("budget.daily_usd", 1)


def test_enforce_off_changes_nothing(control: ControlServer, spent_today: None) -> None:
    assert _both(control, _call("ls -la"))["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert _both(control, PROMPT) is None


@pytest.mark.parametrize("mode", ["ask", "deny"])
def test_an_exceeded_budget_answers_the_mode_and_names_the_budget(
    control: ControlServer, db_path: Path, spent_today: None, mode: str
) -> None:
    with DatabaseService(db_path) as service:
        service.set_setting("budget.enforce", mode)
    out = _both(control, _call("ls -la"))["hookSpecificOutput"]
    assert out["permissionDecision"] == mode
    assert "daily budget ($5.00 of $1.00)" in out["permissionDecisionReason"]
    assert "nerv settings set budget.daily_usd" in out["permissionDecisionReason"]
    # A deny rule still wins, with its own reason.
    out = _both(control, _call("sudo ls"))["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and "budget" not in out["permissionDecisionReason"]
    # New prompts are blocked, saying how to raise the budget.
    blocked = _both(control, PROMPT)
    assert blocked["decision"] == "block" and "nerv settings set budget.daily_usd" in blocked["reason"]


def test_raising_the_budget_lifts_it(control: ControlServer, db_path: Path, spent_today: None) -> None:
    with DatabaseService(db_path) as service:
        service.set_setting("budget.enforce", "deny")
        service.set_setting("budget.daily_usd", 10)
    assert _both(control, _call("ls"))["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert _both(control, PROMPT) is None


def test_a_project_budget_acts_only_inside_its_project(
    control: ControlServer, db_path: Path, tmp_path: Path
) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    with DatabaseService(db_path) as service:
        project = service.create_project("costly")
        service.add_repo(project.id, str(inside))
        service.create_session(project.id, cost_usd=3.0)
        service.create_rule_from_text("Bash(ls:*)", "allow")
        service.set_setting("budget.monthly_usd", 2, project.id)
        service.set_setting("budget.enforce", "deny")
    out = _both(control, _call("ls", cwd=str(inside)))["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny"
    assert f"monthly budget of project {project.id}" in out["permissionDecisionReason"]
    assert f"--project {project.id}" in out["permissionDecisionReason"]
    outside = _both(control, {**_call("ls"), "session_id": "other"})["hookSpecificOutput"]
    assert outside["permissionDecision"] == "allow"


def test_budget_enforce_is_a_checked_setting(db_path: Path) -> None:
    from nerv.errors import ValidationError

    with DatabaseService(db_path) as service:
        with pytest.raises(ValidationError):
            service.set_setting("budget.enforce", "sometimes")
        assert service.get_setting("budget.enforce") == "off"
