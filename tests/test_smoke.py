from __future__ import annotations

from pathlib import Path
from typing import Any

from nerv import DatabaseService


def test_service_round_trip(service: DatabaseService) -> None:
    project = service.create_project("demo", goal="ship")
    task = service.create_task(project.id, "write code")
    assert service.get_tasks(project.id, status="todo") == [task]
    moved = service.move_task(task.id, "done")
    assert moved.status == "done"
    assert service.get_task(task.id) == moved


def test_cli_subprocess_and_in_process(run_cli: Any, invoke: Any, db_path: Path) -> None:
    created = run_cli("project", "create", "alpha", "--json", check=True).json()
    assert created["name"] == "alpha"
    listed = invoke("project", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["id"] for p in listed.json()] == [created["id"]]
    missing = run_cli("project", "show", "nope")
    assert missing.returncode == 3
    assert missing.stderr.strip() == "nerv: error: project not found: nope"
    assert "Traceback" not in missing.stderr
    assert db_path.exists()
