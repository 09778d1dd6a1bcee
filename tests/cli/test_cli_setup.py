"""nerv init | paths | status | demo | completion, and the CLI-wide error contract."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import ANSI, assert_error, ok

from nerv import DatabaseService
from nerv.cli.setup import DEMO_PROJECT, DEMO_TASKS
from nerv.db.migrations import latest_version
from nerv.db.schema import TASK_STATUSES
from nerv.ids import now_ms
from nerv.models import Project

# -- init / paths ---------------------------------------------------------------------------


def test_init_creates_then_reports_up_to_date(invoke: Any, db_path: Path) -> None:
    assert not db_path.exists()
    first = ok(invoke("init", "--json")).json()
    assert first == {
        "path": str(db_path),
        "created": True,
        "schema_version": latest_version(),
        "latest_schema_version": latest_version(),
        "applied_migrations": first["applied_migrations"],
    }
    assert len(first["applied_migrations"]) == latest_version()
    assert db_path.stat().st_mode & 0o777 == 0o600
    assert db_path.parent.stat().st_mode & 0o777 == 0o700
    again = ok(invoke("init", "--json")).json()
    assert (again["created"], again["applied_migrations"]) == (False, [])
    assert ok(invoke("init")).stdout == f"up to date: {db_path} (schema version {latest_version()})\n"


def test_init_human_and_db_option_in_a_subprocess(run_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "x.db"
    out = ok(run_cli("--db", str(target), "init")).stdout
    assert out == f"created {target} (schema version {latest_version()})\n"
    assert target.exists()


def test_paths_json_creates_nothing(
    invoke: Any, nerv_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude-config"))
    found = ok(invoke("paths", "--json")).json()
    assert found == {
        "home": str(nerv_home),
        "db": str(nerv_home / "state.db"),
        "backups": str(nerv_home / "backups"),
        "claude_user_settings": str(tmp_path / "claude-config" / "settings.json"),
        "claude_project_settings": str(tmp_path / ".claude" / "settings.json"),
        "claude_local_settings": str(tmp_path / ".claude" / "settings.local.json"),
    }
    assert not nerv_home.exists()
    human = ok(invoke("--db", str(tmp_path / "other.db"), "paths")).stdout
    assert f"database                 {tmp_path / 'other.db'}  (missing)" in human
    assert "claude local settings" in human


# -- status ---------------------------------------------------------------------------------

STATUS_KEYS = {
    "db",
    "project",
    "tasks",
    "tasks_total",
    "active_sessions",
    "cost_usd",
    "pending_approvals",
    "warnings",
}


def test_status_without_a_project(invoke: Any, db_path: Path) -> None:
    data = ok(invoke("status", "--json")).json()
    assert set(data) == STATUS_KEYS
    assert data["project"] is None and data["tasks_total"] == 0 and data["db"] == str(db_path)
    assert data["tasks"] == dict.fromkeys(TASK_STATUSES, 0)
    assert "no project yet" in ok(invoke("status")).stdout


def test_status_counts_costs_and_approvals(invoke: Any, project: Project, service: DatabaseService) -> None:
    other = service.create_project("beta")
    for status in ("todo", "todo", "in_progress", "done"):
        service.create_task(project.id, status, status=status)
    service.create_task(other.id, "not counted")
    active = service.create_session(project.id)
    service.update_session(active.id, {"cost_usd": 1.25})  # cost recorded directly: counts at its start
    ended = service.create_session(project.id)
    service.end_session(ended.id)
    old_day = now_ms() - 40 * 86_400_000  # always before the first of this month
    service.record_metric(ended.id, cost_usd=2.0, recorded_at=old_day)
    service.record_metric(ended.id, cost_usd=0.5)
    service.create_session(other.id, cost_usd=9.0)
    service.create_request("Bash", {"command": "ls"}, project_id=project.id)
    service.create_request("Bash", {"command": "pwd"})
    data = ok(invoke("status", "--project", project.id[:6], "--json")).json()
    assert set(data) == STATUS_KEYS
    assert data["project"] == {"id": project.id, "name": "alpha", "goal": "test the cli"}
    assert data["tasks"] == {"todo": 2, "in_progress": 1, "interrupted": 0, "review": 0, "done": 1}
    assert data["tasks_total"] == 4
    assert data["active_sessions"] == 1
    assert data["cost_usd"] == {"today": 1.75, "month": 1.75, "total": 3.75}
    assert data["pending_approvals"] == {"project": 1, "all": 2}
    assert data["warnings"] == []
    text = ok(invoke("status", "--project", project.id)).stdout
    assert text.splitlines()[0] == f"alpha ({project.id[:8]}): test the cli"
    assert "today $1.75, this month $1.75, total $3.75" in text
    assert "4 total: todo 2, in_progress 1" in text
    assert "1 (all projects: 2)" in text
    # Without --project: the current (newest) project.
    assert ok(invoke("status", "--json")).json()["project"]["id"] == other.id


def test_local_midnight_and_first_of_month() -> None:
    from nerv.when import local_midnight_ms, month_start

    day = date(2024, 3, 15)
    assert datetime.fromtimestamp(local_midnight_ms(day) / 1000) == datetime(2024, 3, 15)
    assert datetime.fromtimestamp(local_midnight_ms(month_start(day)) / 1000) == datetime(2024, 3, 1)


def test_status_warnings_are_rendered(capsys: pytest.CaptureFixture[str]) -> None:
    from nerv.cli.setup import render_status

    render_status({"project": None, "warnings": ["daily budget 90% used"]})
    assert capsys.readouterr().out.splitlines()[-1] == "warning: daily budget 90% used"


# -- demo -----------------------------------------------------------------------------------


def _counts(service: DatabaseService) -> dict[str, int]:
    projects = [p for p in service.get_projects() if p.name == DEMO_PROJECT]
    pid = projects[0].id
    return {
        "projects": len(projects),
        "repos": len(service.get_repos(pid)),
        "cycles": len(service.get_cycles(pid)),
        "tasks": len(service.get_tasks(pid)),
        "decisions": len(service.get_decisions(pid)),
    }


def test_demo_is_idempotent(invoke: Any, service: DatabaseService) -> None:
    first = ok(invoke("demo", "--width", "100")).stdout
    assert first.startswith("created demo project ")
    expected = {"projects": 1, "repos": 1, "cycles": 1, "tasks": len(DEMO_TASKS), "decisions": 1}
    assert _counts(service) == expected
    statuses = {t.status for t in service.get_tasks(service.get_projects()[0].id)}
    assert statuses == set(TASK_STATUSES)  # every column has a card
    assert "TODO (2)" in first and "DONE (2)" in first and "IN PROGRESS (1)" in first
    board = [line for line in first.splitlines() if "│" in line or "┼" in line]
    assert len(board) >= 2 + 2 * 2 and all(len(line) <= 100 for line in board)
    audit_rows = len(service.get_audit())
    second = ok(invoke("demo")).stdout
    assert second.startswith("using existing demo project ")
    assert _counts(service) == expected
    assert len(service.get_audit()) == audit_rows  # a second run changes nothing at all


def test_demo_repairs_a_partial_demo_and_json(invoke: Any, service: DatabaseService) -> None:
    demo = service.create_project(DEMO_PROJECT)
    service.create_task(demo.id, DEMO_TASKS[0][0], status="done")
    service.create_project("newer")  # the demo does not need to be current
    data = ok(invoke("demo", "--json")).json()
    assert set(data) == {"created", "project", "repo", "cycle", "decision", "board"}
    assert data["created"] is False and data["project"]["id"] == demo.id
    assert sum(len(v) for v in data["board"].values()) == len(DEMO_TASKS)
    assert data["decision"]["status"] == "accepted" and data["decision"]["cycle_id"] == data["cycle"]["id"]
    assert data["repo"]["project_id"] == demo.id
    assert _counts(service)["tasks"] == len(DEMO_TASKS)


def test_demo_twice_in_subprocesses(run_cli: Any, db_path: Path) -> None:
    first = ok(run_cli("demo"))
    second = ok(run_cli("demo", "--json"))
    assert "created demo project" in first.stdout and ANSI not in first.stdout
    data = second.json()
    assert data["created"] is False
    with DatabaseService(db_path) as svc:
        assert [p.name for p in svc.get_projects()] == [DEMO_PROJECT]
        assert len(svc.get_tasks(data["project"]["id"])) == len(DEMO_TASKS)


# -- completion -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shell", "marker"),
    [
        ("bash", "complete -o nosort -F _nerv_completion nerv"),
        ("zsh", "#compdef nerv"),
        ("fish", "complete --no-files --command nerv"),
    ],
)
def test_completion_scripts(invoke: Any, shell: str, marker: str) -> None:
    script = ok(invoke("completion", shell)).stdout
    assert marker in script and "_NERV_COMPLETE" in script


def test_completion_default_shell_and_bad_shell(invoke: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHELL", "/usr/bin/zsh")
    assert "#compdef nerv" in ok(invoke("completion")).stdout
    monkeypatch.setenv("SHELL", "/bin/tcsh")
    assert "_nerv_completion" in ok(invoke("completion")).stdout  # bash when unknown
    assert_error(invoke("completion", "powershell"), 2, "bash", "zsh", "fish")


def test_click_completion_works_for_commands_and_ids(
    run_cli: Any, project: Project, service: DatabaseService
) -> None:
    source = ok(run_cli(env={"_NERV_COMPLETE": "bash_source"})).stdout
    assert "_nerv_completion()" in source
    task = service.create_task(project.id, "complete me")

    def complete(words: str) -> list[str]:
        parts = words.split(" ")
        result = run_cli(
            env={"_NERV_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(parts) - 1)}
        )
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        lines: list[str] = result.stdout.splitlines()
        return lines

    assert "plain,task" in complete("nerv ta")
    assert f"plain,{task.id}" in complete(f"nerv task show {task.id[:2]}")
    assert complete("nerv task move x ") == [f"plain,{s}" for s in TASK_STATUSES]


# -- the CLI as a whole ---------------------------------------------------------------------


def test_help_stays_light() -> None:
    code = (
        "import sys\n"
        "from nerv.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('nerv.service', 'sqlite3', 'json', 'nerv.cli.output', 'nerv.cli.task')\n"
        "         if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
    assert "task" in proc.stdout and "completion" in proc.stdout


def test_group_help_lists_subcommands(invoke: Any) -> None:
    for group, commands in {
        "task": ["board", "create", "delete", "list", "move", "show", "update"],
        "repo": ["add", "list", "remove"],
        "cycle": ["complete", "create", "list", "show"],
        "session": ["create", "end", "list", "show"],
        "decision": ["create", "list", "show", "supersede", "update"],
        "settings": ["get", "list", "set", "unset"],
    }.items():
        out = ok(invoke(group, "--help")).stdout
        listed = out.split("Commands:")[1].split()
        assert [c for c in commands if c in listed] == commands, group
    assert "--since TIME" in ok(invoke("audit", "--help")).stdout


def test_errors_are_one_line_in_a_subprocess(run_cli: Any, tmp_path: Path) -> None:
    assert_error(run_cli("task", "create"), 2, "Missing argument 'TITLE'", "nerv task create --help")
    assert_error(run_cli("task", "list", "--bogus"), 2, "No such option")
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database at all, just text " * 40)
    assert_error(run_cli("--db", str(bad), "status"), 5, "not a database")
    assert bad.read_bytes().startswith(b"this is not")


def test_unexpected_state_is_not_a_traceback(invoke: Any, project: Project) -> None:
    result = invoke("task", "show", "   ")
    assert_error(result, 2, "must not be empty")
    assert json.loads(ok(invoke("project", "show", "--json")).stdout)["id"] == project.id
