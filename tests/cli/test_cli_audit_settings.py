"""nerv audit and nerv settings ..."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_error, ok

from nerv import DatabaseService
from nerv.errors import ValidationError
from nerv.models import Project
from nerv.when import parse_when

NOW = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        ("45s", NOW - timedelta(seconds=45)),
        ("now", NOW),
        ("2024-05-01T14:30:00+00:00", datetime(2024, 5, 1, 14, 30, tzinfo=UTC)),
        ("2024-05-01T14:30:00Z", datetime(2024, 5, 1, 14, 30, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW) == ms(expected)


def test_parse_when_local_dates() -> None:
    assert parse_when("2024-05-01", now=NOW) == ms(datetime(2024, 5, 1).astimezone())
    assert parse_when("2024-05-01 08:15", now=NOW) == ms(datetime(2024, 5, 1, 8, 15).astimezone())
    today = parse_when("today")
    assert parse_when("yesterday") in (today - 86_400_000, today - 82_800_000, today - 90_000_000)  # DST
    for bad in ("soon", "2h ago", "2024-13-01", "", "-2h"):
        with pytest.raises(ValidationError, match="invalid time"):
            parse_when(bad, now=NOW)


def test_audit_filters(invoke: Any, project: Project, service: DatabaseService) -> None:
    task = service.create_task(project.id, "audited")
    service.move_task(task.id, "done")
    service.set_setting("budget.daily_usd", 3)
    everything = ok(invoke("audit", "--json")).json()
    assert [(e["entity_type"], e["action"]) for e in everything] == [
        ("project", "create"),
        ("task", "create"),
        ("task", "move"),
        ("setting", "create"),
    ]
    assert set(everything[0]) == {
        "id",
        "at",
        "actor",
        "entity_type",
        "entity_id",
        "action",
        "before",
        "after",
    }
    assert everything[2]["before"] == {"status": "todo"} and everything[2]["after"] == {"status": "done"}
    assert all(e["actor"] == "test" for e in everything)
    tasks_only = ok(invoke("audit", "--entity", "task", "--json")).json()
    assert [e["action"] for e in tasks_only] == ["create", "move"]
    by_id = ok(invoke("audit", "--id", task.id[:6], "--json")).json()
    assert {e["entity_id"] for e in by_id} == {task.id} and len(by_id) == 2
    latest = ok(invoke("audit", "--limit", "2", "--json")).json()
    assert [e["action"] for e in latest] == ["move", "create"]  # the newest two, oldest first
    assert ok(invoke("audit", "--limit", "0", "--json")).json() == everything
    assert ok(invoke("audit", "--since", "1h", "--json")).json() == everything
    assert ok(invoke("audit", "--until", "1h", "--json")).json() == []
    assert ok(invoke("audit", "--since", "2099-01-01", "--json")).json() == []
    assert ok(invoke("audit", "--until", "2099-01-01T00:00", "--json")).json() == everything
    human = ok(invoke("audit", "--entity", "task")).stdout.splitlines()
    assert human[0].split() == ["TIME", "ACTOR", "ENTITY", "ID", "ACTION", "CHANGE"]
    assert "status: todo → done" in human[2] and "title: audited" in human[1]
    assert "no audit entries" in ok(invoke("audit", "--entity", "nothing")).stdout


def test_audit_finds_deleted_entities_and_bad_input(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    task = service.create_task(project.id, "short-lived")
    service.delete_task(task.id)
    entries = ok(invoke("audit", "--entity", "task", "--id", task.id[:5], "--json")).json()
    assert [e["action"] for e in entries] == ["create", "delete"]
    assert_error(invoke("audit", "--id", "zzzzz"), 3, "not found")
    assert_error(invoke("audit", "--since", "last tuesday"), 2, "invalid time")
    assert_error(invoke("audit", "--limit", "-1"), 2, "--limit")


def test_audit_ambiguous_entity_prefix(invoke: Any, project: Project, service: DatabaseService) -> None:
    ids = [project.id]
    while len({i[0] for i in ids}) == len(ids):
        ids.append(service.create_task(project.id, "t").id)
    shared = next(c for c in {i[0] for i in ids} if sum(i.startswith(c) for i in ids) > 1)
    assert_error(invoke("audit", "--id", shared), 3, "ambiguous")


def test_settings_set_get_unset(invoke: Any, project: Project, service: DatabaseService) -> None:
    stored = ok(invoke("settings", "set", "budget.daily_usd", "5", "--json")).json()
    assert (stored["key"], stored["value"], stored["project_id"]) == ("budget.daily_usd", 5, None)
    assert ok(invoke("settings", "get", "budget.daily_usd", "--json")).json() == {
        "key": "budget.daily_usd",
        "value": 5,
        "source": "global",
        "project_id": project.id,
    }
    assert ok(invoke("settings", "get", "budget.daily_usd")).stdout == "5\n"
    # JSON where valid, else a plain string.
    assert ok(invoke("settings", "set", "approval.mode", "queue", "--json")).json()["value"] == "queue"
    assert ok(invoke("settings", "set", "budget.warn_at", "[0.5, 1]", "--json")).json()["value"] == [0.5, 1]
    assert ok(invoke("settings", "set", "budget.monthly_usd", "null", "--json")).json()["value"] is None
    assert ok(invoke("settings", "get", "approval.mode")).stdout == "queue\n"
    assert ok(invoke("settings", "get", "budget.warn_at")).stdout == "[0.5, 1]\n"
    # A project value wins over the global one for that project.
    out = ok(invoke("settings", "set", "budget.daily_usd", "2.5", "--project", project.id[:6])).stdout
    assert out == f"budget.daily_usd = 2.5 (project {project.id[:8]})\n"
    got = ok(invoke("settings", "get", "budget.daily_usd", "--json")).json()
    assert (got["value"], got["source"]) == (2.5, "project")
    got = ok(invoke("settings", "get", "budget.daily_usd", "--global", "--json")).json()
    assert (got["value"], got["source"], got["project_id"]) == (5, "global", None)
    assert ok(invoke("settings", "unset", "budget.daily_usd", "--project", project.id, "--json")).json() == {
        "key": "budget.daily_usd",
        "project_id": project.id,
        "unset": True,
    }
    assert ok(invoke("settings", "get", "budget.daily_usd", "--json")).json()["source"] == "global"
    assert "unset budget.daily_usd (global)" in ok(invoke("settings", "unset", "budget.daily_usd")).stdout
    got = ok(invoke("settings", "get", "budget.daily_usd", "--json")).json()
    assert (got["value"], got["source"]) == (None, "default")
    assert service.get_setting("approval.mode") == "queue"


def test_settings_env_override_and_list(
    invoke: Any, project: Project, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(invoke("settings", "set", "approval.mode", "ask"))
    # A key an older nerv stored (unknown today) is still listed, and can be read and unset.
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO settings (id, project_id, key, value, created_at, updated_at) "
            "VALUES ('legacykey0000000', NULL, 'custom.key', '1', 0, 0)"
        )
    rows = {r["key"]: r for r in ok(invoke("settings", "list", "--json")).json()}
    assert {
        "approval.mode",
        "approval.timeout_seconds",
        "budget.daily_usd",
        "budget.monthly_usd",
        "budget.warn_at",
        "custom.key",
    } <= set(rows)
    assert set(rows["approval.mode"]) == {"key", "value", "source", "help"}
    assert (rows["approval.mode"]["value"], rows["approval.mode"]["source"]) == ("ask", "global")
    assert (rows["budget.warn_at"]["value"], rows["budget.warn_at"]["source"]) == ([0.8, 1.0], "default")
    assert (rows["custom.key"]["value"], rows["custom.key"]["help"]) == (1, None)
    assert ok(invoke("settings", "get", "custom.key")).stdout == "1\n"
    ok(invoke("settings", "unset", "custom.key"))
    assert "custom.key" not in {r["key"] for r in ok(invoke("settings", "list", "--json")).json()}
    monkeypatch.setenv("NERV_APPROVAL_MODE", "queue")
    got = ok(invoke("settings", "get", "approval.mode", "--json")).json()
    assert (got["value"], got["source"]) == ("queue", "env")
    lines = ok(invoke("settings", "list")).stdout.splitlines()
    assert lines[0].split() == ["KEY", "VALUE", "SOURCE", "DESCRIPTION"]
    mode = next(line for line in lines if line.startswith("approval.mode"))
    assert mode.split()[1:3] == ["queue", "env"]


def test_settings_bad_input(invoke: Any, project: Project) -> None:
    assert_error(invoke("settings", "set", "approval.mode", "sometimes"), 2, "defer, ask, queue")
    assert_error(invoke("settings", "set", "budget.daily_usd", "-3"), 2, "positive")
    assert_error(invoke("settings", "get", "no.such.key"), 3, "setting not found: no.such.key")
    line = assert_error(invoke("settings", "get", "approval.mod"), 3, "setting not found: approval.mod")
    assert "did you mean approval.mode?" in line
    assert_error(invoke("settings", "unset", "budget.daily_usd"), 3, "setting not found")
    assert_error(invoke("settings", "set", "k", "v", "--project", "zzzz"), 3, "project not found")
    assert_error(invoke("settings", "set", "only-key"), 2, "Missing argument 'VALUE'")
    assert_error(invoke("settings", "get", "k", "--global", "--project", project.id), 2, "either")


@pytest.mark.parametrize(
    ("key", "value", "suggestion"),
    [
        ("approval.mod", "queue", "did you mean approval.mode?"),
        ("aproval.timeout_seconds", "30", "did you mean approval.timeout_seconds?"),
        ("budget.daily", "5", "did you mean budget.daily_usd?"),
        ("budget.warn", "[0.5]", "did you mean budget.warn_at?"),
        ("ui.greeting", "hello", None),
    ],
)
def test_settings_set_refuses_unknown_keys_with_a_suggestion(
    invoke: Any, service: DatabaseService, key: str, value: str, suggestion: str | None
) -> None:
    line = assert_error(invoke("settings", "set", key, value), 2, f"unknown setting '{key}'", "settings list")
    assert (suggestion in line) if suggestion else ("did you mean" not in line)
    assert service.list_settings() == []  # nothing stored


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("approval.mode", "Queue", "defer, ask, queue"),
        ("approval.mode", "1", "defer, ask, queue"),
        ("approval.timeout_seconds", "0", "more than 0"),
        ("approval.timeout_seconds", "3601", "at most 3600"),
        ("approval.timeout_seconds", "true", "seconds"),
        ("approval.timeout_seconds", "soon", "seconds"),
        ("approval.timeout_seconds", "1e999", "seconds"),  # JSON reads it as infinity
        ("budget.daily_usd", "\"5\"", "positive number"),
        ("budget.monthly_usd", "0", "positive number"),
        ("budget.warn_at", "0.8", "list of fractions"),
        ("budget.warn_at", "[0.8, \"x\"]", "list of fractions"),
        ("budget.warn_at", "[0]", "list of fractions"),
        ("usage.prices", "[]", "non-negative numbers"),
        ("project.current", "42", "a project id"),
    ],
)
def test_settings_set_validates_values(
    invoke: Any, service: DatabaseService, key: str, value: str, expected: str
) -> None:
    assert_error(invoke("settings", "set", key, value), 2, f"invalid value for {key}", expected)
    assert service.list_settings() == []


def test_settings_set_edge_values_accepted(invoke: Any, service: DatabaseService) -> None:
    ok(invoke("settings", "set", "approval.timeout_seconds", "3600"))
    ok(invoke("settings", "set", "approval.timeout_seconds", "0.5"))
    ok(invoke("settings", "set", "budget.daily_usd", "null"))
    assert service.get_setting("approval.timeout_seconds") == 0.5


def test_current_project_setting_must_name_a_project(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    other = service.create_project("beta")
    assert_error(invoke("settings", "set", "project.current", "nope"), 3, "project not found: nope")
    line = assert_error(invoke("settings", "set", "project.current", project.id, "--project", other.id), 2)
    assert "global" in line
    ok(invoke("settings", "set", "project.current", project.id))
    assert service.current_project() == project


def test_timeout_beyond_the_installed_hook_is_explained(
    invoke: Any, service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "claude-config"
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    monkeypatch.chdir(tmp_path)
    # No hook installed anywhere: nothing to explain.
    assert ok(invoke("settings", "set", "approval.timeout_seconds", "1000")).stdout.startswith("approval")
    ok(invoke("settings", "set", "approval.timeout_seconds", "50"))
    installed = ok(invoke("hooks", "install", "--json")).json()
    assert installed["timeout"] == 80
    # Within what the installed hook allows (80 s less the hook's 10 s margin): no note.
    ok(invoke("settings", "set", "approval.timeout_seconds", "70"))
    result = invoke("settings", "set", "approval.timeout_seconds", "1000", "--json")
    assert result.returncode == 0 and result.stdout and json.loads(result.stdout)["value"] == 1000
    assert result.stderr.splitlines() == [
        f"nerv: note: nerv-hook in {config / 'settings.json'} has timeout 80 s, so a queued call waits "
        "at most 70 s; run `nerv hooks install` again to apply 1000 s"
    ]
    assert service.get_setting("approval.timeout_seconds") == 1000  # stored all the same
    assert ok(invoke("hooks", "install", "--json")).json()["timeout"] == 1030
    ok(invoke("settings", "set", "approval.timeout_seconds", "1000"))  # applied: no note now


def test_audit_shows_the_value_a_setting_was_set_to(invoke: Any, service: DatabaseService) -> None:
    ok(invoke("settings", "set", "approval.mode", "queue"))
    ok(invoke("settings", "set", "approval.mode", "ask"))
    ok(invoke("settings", "unset", "approval.mode"))
    lines = ok(invoke("audit", "--entity", "setting")).stdout.splitlines()[1:]
    assert [line.split(None, 5)[-1] for line in lines] == [
        "create  approval.mode = queue",
        "update  approval.mode: queue → ask",
        "delete  approval.mode = ask",
    ]


def test_audit_and_settings_in_a_subprocess(run_cli: Any, project: Project) -> None:
    ok(run_cli("settings", "set", "budget.monthly_usd", "100"))
    assert ok(run_cli("settings", "get", "budget.monthly_usd")).stdout == "100\n"
    entries = ok(run_cli("audit", "--entity", "setting", "--json")).json()
    assert [(e["action"], e["after"]["value"]) for e in entries] == [("create", 100)]
