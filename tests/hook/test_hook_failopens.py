"""The hook's fail-opens of issue 8 (class 8): its own deadline, output whatever stdout's
encoding, project rules found beyond the payload's cwd; and class 9's agent refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import log_lines, pre_payload, session_payload
from test_hook_failsafe import assert_asks, hold_lock

from nerv import DatabaseService


def test_own_deadline_answers_ask_while_the_database_stays_locked(
    hook_process: Any, db_path: Path, nerv_home: Path
) -> None:
    """Exclusively locked database, a busy timeout far past Claude Code's: without its own
    deadline the hook would be killed silently (and the call let through)."""
    with hold_lock(db_path, "exclusive"):
        result = hook_process(
            pre_payload("Bash", {"command": "ls"}),
            env={"NERV_HOOK_BUSY_TIMEOUT_MS": "600000", "NERV_HOOK_DEADLINE_S": "0.5"},
            timeout=60,
        )
    assert_asks(result, "deadline")
    assert result.stdout.count("\n") == 1  # exactly one answer
    assert any("deadline" in line for line in log_lines(nerv_home))


def test_deadline_passing_on_a_session_event_prints_nothing(
    hook_process: Any, db_path: Path, nerv_home: Path
) -> None:
    with hold_lock(db_path, "exclusive"):
        result = hook_process(
            session_payload("SessionStart"),
            env={"NERV_HOOK_BUSY_TIMEOUT_MS": "600000", "NERV_HOOK_DEADLINE_S": "0.5"},
            timeout=60,
        )
    assert result.returncode == 0 and result.stdout == ""
    assert any("deadline" in line for line in log_lines(nerv_home))


@pytest.mark.parametrize("env", [{"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C"}])
def test_non_ascii_reason_is_answered_when_stdout_is_not_utf8(
    hook_process: Any, service: DatabaseService, env: dict[str, str]
) -> None:
    service.create_rule("deploy:*", "deny", "Bash", note="déploiement réservé — ask Zoë ✓")
    result = hook_process(pre_payload("Bash", {"command": "deploy ünïcode"}), env=env)
    assert result.stdout.isascii()
    assert result.decision == "deny"
    assert "déploiement réservé — ask Zoë ✓" in result.reason


def test_nerv_synchronous_bogus_is_refused_by_the_hook_too(hook_process: Any, nerv_home: Path) -> None:
    result = hook_process(pre_payload("Bash", {"command": "ls"}), env={"NERV_SYNCHRONOUS": "bogus"})
    assert_asks(result, "NERV_SYNCHRONOUS")
    assert any("NERV_SYNCHRONOUS" in line for line in log_lines(nerv_home))


# -- which project's rules apply ------------------------------------------------------------


@pytest.fixture
def scoped(service: DatabaseService, tmp_path: Path) -> tuple[str, Path]:
    """A project with a repository and a project-only deny rule on `make release`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    project = service.create_project("scoped")
    service.add_repo(project.id, str(repo))
    service.create_rule("make release:*", "deny", "Bash", project_id=project.id)
    return project.id, repo


def test_project_rules_follow_claude_project_dir_when_cwd_is_elsewhere(
    hook: Any, scoped: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = str(tmp_path)
    payload = pre_payload("Bash", {"command": "make release"}, cwd=outside, session_id="sess-x")
    assert hook(payload).decision != "deny"  # baseline: nothing ties the call to the project
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(scoped[1]))
    assert hook(payload).decision == "deny"


def test_project_rules_follow_the_sessions_project_when_cwd_is_elsewhere(
    hook: Any, service: DatabaseService, scoped: tuple[str, Path], tmp_path: Path
) -> None:
    assert hook(session_payload("SessionStart", "sess-p", cwd=str(scoped[1]))).stdout == ""
    session = service.get_session_by_claude_id("sess-p")
    assert session is not None and session.project_id == scoped[0]
    payload = pre_payload("Bash", {"command": "make release"}, cwd=str(tmp_path), session_id="sess-p")
    assert hook(payload).decision == "deny"
    other = pre_payload("Bash", {"command": "make release"}, cwd=str(tmp_path), session_id="sess-other")
    assert hook(other).decision != "deny"


# -- class 9: the agent cannot approve its own calls ---------------------------------------


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_agents_cannot_decide_queued_calls(run_cli: Any, service: DatabaseService, verb: str) -> None:
    request = service.create_request("Bash", {"command": "rm -rf build"})
    refused = run_cli("approvals", verb, request.id[:8], env={"CLAUDECODE": "1"})
    assert refused.returncode == 2
    assert "CLAUDECODE" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert service.get_request(request.id).status == "pending"  # type: ignore[union-attr]
    person = run_cli("approvals", verb, request.id[:8], "--json")
    assert person.returncode == 0, person.stderr
    assert json.loads(person.stdout)["status"] == ("approved" if verb == "approve" else "denied")


def test_queued_wait_outlasts_the_decision_deadline(hook_process: Any, service: DatabaseService) -> None:
    """The watchdog's deadline bounds deciding, not the person's wait: a queued call
    still gets its full approval.timeout_seconds and then the expiry answer."""
    result = hook_process(
        pre_payload("Bash", {"command": "make slow"}),
        env={"NERV_APPROVAL_MODE": "queue", "NERV_APPROVAL_TIMEOUT_SECONDS": "1.5",
             "NERV_HOOK_DEADLINE_S": "0.3"},
        timeout=60,
    )
    assert result.decision == "deny" and "no decision within 1.5 s" in result.reason
    [request] = service.get_requests(None)
    assert request.status == "expired" and request.expires_at is not None
