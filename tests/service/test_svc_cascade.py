"""Deleting a project with everything in it, a cycle, a decision: one audited transaction each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from svc_helpers import TABLES, nothing_changes, snapshot

from nerv import DatabaseService
from nerv.errors import ConstraintError, NotFoundError
from nerv.models import Project


@dataclass
class Filled:
    project: Project
    ids: dict[str, set[str]]  # audit entity -> ids created for the project


def fill(service: DatabaseService, name: str, tmp_path: Path) -> Filled:
    """A project with one or more of everything a project can own."""
    project = service.create_project(name)
    ids: dict[str, set[str]] = {}

    def keep(entity: str, ident: str) -> str:
        ids.setdefault(entity, set()).add(ident)
        return ident

    keep("repo", service.add_repo(project.id, str(tmp_path / name)).id)
    cycle = keep("cycle", service.create_cycle(project.id).id)
    task = keep("task", service.create_task(project.id, "in the cycle", cycle_id=cycle).id)
    keep("task", service.create_task(project.id, "loose").id)
    session = keep("session", service.create_session(project.id, task).id)
    # A session that names only the task (no project) still belongs to the project through it.
    keep("session", service.create_session(None, task).id)
    for n in range(3):
        service.record_metric(session, input_tokens=10 + n, cost_usd=0.25, external_id=f"{name}-{n}")
    keep("approval_request", service.create_request("Bash", {"command": "ls"}, project_id=project.id).id)
    keep("approval_request", service.create_request("Bash", {"command": "id"}, session_id=session).id)
    old = keep("decision", service.create_decision(project.id, "old", cycle_id=cycle).id)
    new = keep("decision", service.create_decision(project.id, "new").id)
    service.supersede_decision(old, new)
    service.set_setting("budget.daily_usd", 5, project_id=project.id)
    ids["setting"] = {s.id for s in service.list_settings(project.id)}
    keep("rule", service.create_rule("make:*", "allow", "Bash", project_id=project.id).id)
    return Filled(project, ids)


def rows_of(service: DatabaseService) -> dict[str, int]:
    conn = service.connection
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}


def test_cascade_removes_the_project_and_everything_in_it(service: DatabaseService, tmp_path: Path) -> None:
    keep = fill(service, "keep", tmp_path)
    doomed = fill(service, "doomed", tmp_path)
    service.use_project(doomed.project.id)
    kept_before = {t: rows for t, rows in snapshot(service).items() if t != "audit_log"}
    assert service.get_project_cost(doomed.project.id) == pytest.approx(0.75)
    contents = service.project_contents(doomed.project.id)
    assert contents == {
        "approval requests": 2, "metrics": 3, "sessions": 2, "decisions": 2, "tasks": 2, "cycles": 1,
        "repos": 1, "settings": 1, "rules": 1,
    }
    audit_before = len(service.get_audit())

    gone = service.delete_project(doomed.project.id, cascade=True)

    assert gone == contents
    assert service.get_project(doomed.project.id) is None
    # Nothing of the doomed project is left in any table...
    after = snapshot(service)
    for table, rows in after.items():
        if table != "audit_log":
            assert not any(doomed.project.id in map(str, row) for row in rows), table
    # ...and everything of the other project is exactly as it was (the current-project choice aside).
    for table, rows in kept_before.items():
        survivors = [r for r in rows if r in after[table]]
        assert survivors == after[table], table
    assert service.get_project_cost(keep.project.id) == pytest.approx(0.75)
    assert service.connection.execute(
        "SELECT count(*) FROM project_costs WHERE project_id = ?", (doomed.project.id,)
    ).fetchone()[0] == 0
    assert service.current_project() == keep.project  # the choice of the deleted project went too
    # One audit row per deleted row (metrics summed up in the project's), all in this one change.
    new_entries = service.get_audit()[audit_before:]
    deleted: dict[str, set[str]] = {}
    for entry in new_entries:
        assert entry.action == "delete" and entry.after is None
        deleted.setdefault(entry.entity_type, set()).add(entry.entity_id)
    expected = {**doomed.ids, "project": {doomed.project.id}}
    expected["setting"] = expected["setting"] | {deleted["setting"].difference(doomed.ids["setting"]).pop()}
    assert deleted == expected
    project_entry = next(e for e in new_entries if e.entity_type == "project")
    assert project_entry.before is not None
    assert project_entry.before["name"] == "doomed" and project_entry.before["deleted_with_it"] == gone
    decisions = [e for e in new_entries if e.entity_type == "decision"]
    old = next(e for e in decisions if e.before and e.before["title"] == "old")
    assert old.before is not None and old.before["superseded_by"] in doomed.ids["decision"]
    assert len({e.at for e in new_entries}) == 1


def test_without_cascade_work_is_refused_and_nothing_changes(
    service: DatabaseService, tmp_path: Path
) -> None:
    doomed = fill(service, "doomed", tmp_path)
    with nothing_changes(service), pytest.raises(ConstraintError, match=r"still has 2 tasks.*--cascade"):
        service.delete_project(doomed.project.id)
    with pytest.raises(NotFoundError, match="project not found: nope"):
        service.delete_project("nope", cascade=True)


def test_a_cascade_that_cannot_finish_changes_nothing(
    service: DatabaseService, tmp_path: Path, raw: Any
) -> None:
    doomed = fill(service, "doomed", tmp_path)
    other = service.create_project("other")
    # A task of another project placed in the doomed project's cycle: deleting the cycle must fail,
    # and with it the whole cascade (no half-deleted project).
    stray = service.create_task(other.id, "stray")
    raw("UPDATE tasks SET cycle_id = ? WHERE id = ?", (next(iter(doomed.ids["cycle"])), stray.id))
    with nothing_changes(service), pytest.raises(ConstraintError):
        service.delete_project(doomed.project.id, cascade=True)
    assert rows_of(service)["projects"] == 2


def test_delete_cycle_keeps_its_tasks_and_decisions(service: DatabaseService, project: Project) -> None:
    cycle = service.create_cycle(project.id)
    task = service.create_task(project.id, "t", cycle_id=cycle.id)
    decision = service.create_decision(project.id, "d", cycle_id=cycle.id)
    before = len(service.get_audit())
    assert sorted(service.delete_cycle(cycle.id)) == sorted([task.id, decision.id])
    assert service.get_cycle(cycle.id) is None
    assert service.get_task(task.id).cycle_id is None  # type: ignore[union-attr]
    assert service.get_decision(decision.id).cycle_id is None  # type: ignore[union-attr]
    changes = [(e.entity_type, e.action) for e in service.get_audit()[before:]]
    assert sorted(changes) == [("cycle", "delete"), ("decision", "update"), ("task", "update")]
    with pytest.raises(NotFoundError, match="cycle not found"):
        service.delete_cycle(cycle.id)


def test_delete_decision_refused_while_it_supersedes_another(
    service: DatabaseService, project: Project
) -> None:
    old = service.create_decision(project.id, "old")
    new = service.create_decision(project.id, "new")
    service.supersede_decision(old.id, new.id)
    with nothing_changes(service), pytest.raises(ConstraintError, match=f"supersedes {old.id[:8]}"):
        service.delete_decision(new.id)
    service.delete_decision(old.id)
    service.delete_decision(new.id)
    assert service.get_decisions(project.id) == []
    assert [e.action for e in service.get_audit() if e.entity_type == "decision"][-2:] == ["delete", "delete"]
