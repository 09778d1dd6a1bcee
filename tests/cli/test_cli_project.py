"""nerv project create | list | show | use | update | delete."""

from __future__ import annotations

from typing import Any

from cli_helpers import assert_error, ok

from nerv import DatabaseService


def test_create_list_show(invoke: Any) -> None:
    created = ok(invoke("project", "create", "shop", "--goal", "ship checkout", "--json")).json()
    assert created["name"] == "shop" and created["goal"] == "ship checkout"
    assert set(created) == {"id", "name", "goal", "created_at", "updated_at"}
    human = ok(invoke("project", "create", "blog")).stdout
    assert human.startswith("created project ") and human.strip().endswith("blog")
    listed = ok(invoke("project", "list", "--json")).json()
    assert [p["name"] for p in listed] == ["shop", "blog"]
    table = ok(invoke("project", "list")).stdout.splitlines()
    assert table[0].split() == ["ID", "NAME", "GOAL", "CREATED"]
    current = [line for line in table[1:] if line.startswith("*")]
    assert len(current) == 1 and "blog" in current[0]  # the newest is current by default
    shown = ok(invoke("project", "show", created["id"][:5], "--json")).json()
    assert shown == created
    text = ok(invoke("project", "show", created["id"])).stdout
    assert "ship checkout" in text and "todo 0" in text and "$0.00" in text


def test_use_changes_the_current_project(invoke: Any, service: DatabaseService) -> None:
    first = service.create_project("first")
    service.create_project("second")
    assert ok(invoke("project", "show", "--json")).json()["name"] == "second"
    chosen = ok(invoke("project", "use", first.id[:6], "--json")).json()
    assert chosen["id"] == first.id
    assert ok(invoke("project", "show", "--json")).json()["name"] == "first"
    assert ok(invoke("task", "create", "lands in first", "--json")).json()["project_id"] == first.id
    assert "current project: " in ok(invoke("project", "use", first.id)).stdout


def test_update_and_delete(invoke: Any, service: DatabaseService) -> None:
    project = service.create_project("old name")
    renamed = ok(invoke("project", "update", project.id, "--name", "new name", "--json")).json()
    assert renamed["name"] == "new name" and service.get_project(project.id).name == "new name"  # type: ignore[union-attr]
    assert invoke("project", "update", project.id).returncode == 2  # nothing to update
    service.create_task(project.id, "keeps it alive")
    assert_error(invoke("project", "delete", project.id), 4, "still has 1 tasks")
    empty = service.create_project("empty")
    assert ok(invoke("project", "delete", empty.id, "--json")).json() == {"deleted": empty.id, "with": {}}
    assert service.get_project(empty.id) is None


def test_bad_input(invoke: Any, run_cli: Any, service: DatabaseService) -> None:
    assert_error(invoke("project", "show", "zzzz"), 3, "project not found: zzzz")
    assert_error(invoke("project", "use", "zzzz"), 3, "project not found")
    assert_error(invoke("project", "create", "   "), 2, "must not be empty")
    assert_error(run_cli("project", "show"), 3, "nerv project create NAME")  # no project yet
