"""nerv session ... and nerv decision ..."""

from __future__ import annotations

from typing import Any

from cli_helpers import assert_error, ok

from nerv import DatabaseService
from nerv.models import Project


def test_session_create_show_list_end(invoke: Any, project: Project, service: DatabaseService) -> None:
    task = service.create_task(project.id, "work")
    created = ok(invoke("session", "create", "--task", task.id[:6], "--json")).json()
    assert (created["project_id"], created["task_id"], created["status"]) == (project.id, task.id, "active")
    assert created["ended_at"] is None and created["cost_usd"] == 0
    bare = ok(invoke("session", "create")).stdout
    assert bare.startswith("started session ") and "task" not in bare
    service.update_session(created["id"], {"tokens_input": 1200, "tokens_output": 345, "cost_usd": 1.5})
    shown = ok(invoke("session", "show", created["id"][:6], "--json")).json()
    assert (shown["tokens_input"], shown["tokens_output"], shown["cost_usd"]) == (1200, 345, 1.5)
    text = ok(invoke("session", "show", created["id"])).stdout
    assert "1,200" in text and "$1.50" in text
    listed = ok(invoke("session", "list", "--json")).json()
    assert len(listed) == 2 and listed[0]["id"] == created["id"]
    ended = ok(invoke("session", "end", created["id"][:6], "--status", "failed", "--json")).json()
    assert ended["status"] == "failed" and ended["ended_at"] is not None
    assert "(completed)" in ok(invoke("session", "end", listed[1]["id"])).stdout
    assert [s["id"] for s in ok(invoke("session", "list", "--status", "failed", "--json")).json()] == [
        created["id"]
    ]
    human = ok(invoke("session", "list")).stdout.splitlines()
    assert human[0].split()[:3] == ["ID", "STATUS", "TASK"] and len(human) == 3
    assert "$1.50" in human[1]


def test_session_project_follows_the_task(invoke: Any, project: Project, service: DatabaseService) -> None:
    task = service.create_task(project.id, "old project's task")
    newer = service.create_project("beta")  # now the current project
    created = ok(invoke("session", "create", "--task", task.id, "--json")).json()
    assert created["project_id"] == project.id
    assert_error(
        invoke("session", "create", "--task", task.id, "--project", newer.id), 2, "belongs to another project"
    )


def test_session_bad_input(invoke: Any, project: Project, service: DatabaseService) -> None:
    session = service.create_session(project.id)
    assert_error(invoke("session", "end", session.id, "--status", "active"), 2, "completed", "failed")
    assert_error(invoke("session", "list", "--status", "sleeping"), 2, "idle")
    assert_error(invoke("session", "show", "zzzz"), 3, "session not found")
    assert_error(invoke("session", "create", "--task", "zzzz"), 3, "task not found")
    assert "no sessions" in ok(invoke("session", "list", "--project", service.create_project("x").id)).stdout


def test_decision_create_show_list_update_supersede(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    cycle = service.create_cycle(project.id)
    first = ok(
        invoke(
            "decision",
            "create",
            "Use SQLite",
            "--context",
            "one file",
            "--decision",
            "WAL",
            "--alternatives",
            "postgres",
            "--consequences",
            "no server",
            "--cycle",
            cycle.id[:6],
            "--json",
        )
    ).json()
    assert set(first) == {
        "id",
        "project_id",
        "cycle_id",
        "title",
        "context",
        "decision",
        "alternatives",
        "consequences",
        "status",
        "superseded_by",
        "created_at",
        "updated_at",
    }
    assert (first["context"], first["decision"], first["alternatives"], first["consequences"]) == (
        "one file",
        "WAL",
        "postgres",
        "no server",
    )
    assert (first["status"], first["cycle_id"], first["project_id"]) == ("proposed", cycle.id, project.id)
    out = ok(invoke("decision", "create", "Use DuckDB", "--status", "accepted")).stdout
    assert out.startswith("recorded decision ") and "[accepted]" in out
    second = service.get_decisions(project.id)[1]
    assert ok(invoke("decision", "show", first["id"][:6], "--json")).json() == first
    assert "postgres" in ok(invoke("decision", "show", first["id"])).stdout
    changed = ok(
        invoke(
            "decision",
            "update",
            first["id"][:6],
            "--status",
            "accepted",
            "--title",
            "SQLite it is",
            "--consequences",
            "backups by API",
            "--cycle",
            "none",
            "--json",
        )
    ).json()
    assert (changed["status"], changed["title"], changed["consequences"], changed["cycle_id"]) == (
        "accepted",
        "SQLite it is",
        "backups by API",
        None,
    )
    assert changed["context"] == "one file"  # untouched fields stay
    old = ok(invoke("decision", "supersede", first["id"][:6], "--by", second.id[:6], "--json")).json()
    assert (old["status"], old["superseded_by"]) == ("superseded", second.id)
    listed = ok(invoke("decision", "list", "--json")).json()
    assert [d["id"] for d in listed] == [first["id"], second.id]
    assert [d["id"] for d in ok(invoke("decision", "list", "--status", "superseded", "--json")).json()] == [
        first["id"]
    ]
    human = ok(invoke("decision", "list")).stdout.splitlines()
    assert human[0].split()[:3] == ["ID", "STATUS", "TITLE"] and second.id[:8] in human[1]


def test_decision_bad_input(invoke: Any, project: Project, service: DatabaseService) -> None:
    d = service.create_decision(project.id, "x")
    assert_error(invoke("decision", "create", "y", "--status", "rejected"), 2, "proposed", "accepted")
    assert_error(invoke("decision", "update", d.id), 2, "nothing to update")
    assert_error(invoke("decision", "update", d.id, "--status", "superseded"), 2, "proposed")
    assert_error(invoke("decision", "supersede", d.id), 2, "--by")
    assert_error(invoke("decision", "supersede", d.id, "--by", d.id), 2, "itself")
    assert_error(invoke("decision", "supersede", d.id, "--by", "zzzz"), 3, "decision not found")
    foreign = service.create_decision(service.create_project("beta").id, "other")
    assert_error(invoke("decision", "supersede", d.id, "--by", foreign.id), 2, "same project")
    assert service.get_decision(d.id).status == "proposed"  # type: ignore[union-attr]


def test_session_and_decision_in_a_subprocess(run_cli: Any, project: Project) -> None:
    session = ok(run_cli("session", "create", "--json")).json()
    assert ok(run_cli("session", "end", session["id"], "--json")).json()["status"] == "completed"
    decision = ok(run_cli("decision", "create", "ADR", "--json")).json()
    assert decision["project_id"] == project.id
