"""Kanban tasks through DatabaseService."""

from __future__ import annotations

import pytest
from svc_helpers import nothing_changes, one_audit_row

from nerv import DatabaseService
from nerv.db.schema import TASK_STATUSES, TASK_TYPES
from nerv.errors import ConstraintError, NotFoundError, ValidationError
from nerv.models import Project


def test_create_task_defaults_and_audit(service: DatabaseService, project: Project) -> None:
    with one_audit_row(service) as audit:
        task = service.create_task(project.id, "write the parser")
    assert (task.project_id, task.title, task.type, task.status) == (
        project.id,
        "write the parser",
        "implementation",
        "todo",
    )
    assert task.cycle_id is None and task.description is None
    assert service.get_task(task.id) == task
    entry = audit[0]
    assert (entry.entity_type, entry.entity_id, entry.action) == ("task", task.id, "create")
    assert entry.after == {
        "id": task.id,
        "project_id": project.id,
        "cycle_id": None,
        "title": "write the parser",
        "description": None,
        "type": "implementation",
        "status": "todo",
        "created_at": task.created_at,
        "updated_at": task.updated_at,
    }


def test_create_task_with_fields(service: DatabaseService, project: Project) -> None:
    cycle = service.create_cycle(project.id)
    task = service.create_task(
        project.id, "fix it", description="the crash", type="bug-fix", status="review", cycle_id=cycle.id
    )
    assert (task.description, task.type, task.status, task.cycle_id) == (
        "the crash",
        "bug-fix",
        "review",
        cycle.id,
    )
    assert service.get_cycle_tasks(cycle.id) == [task]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"status": "doing"},
            ValidationError,
            "invalid task status 'doing': expected one of todo, in_progress",
        ),
        ({"type": "epic"}, ValidationError, "invalid task type 'epic'"),
        ({"priority": 1}, ValidationError, "unknown task field"),
        ({"cycle_id": "nope"}, NotFoundError, "cycle not found: nope"),
    ],
)
def test_create_task_bad_input(
    service: DatabaseService,
    project: Project,
    kwargs: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    with nothing_changes(service), pytest.raises(error, match=message):
        service.create_task(project.id, "t", **kwargs)


def test_create_task_bad_project_or_title(service: DatabaseService, project: Project) -> None:
    with nothing_changes(service):
        with pytest.raises(NotFoundError, match="project not found: nope"):
            service.create_task("nope", "t")
        with pytest.raises(ValidationError, match="title must not be empty"):
            service.create_task(project.id, "  ")


def test_get_tasks_filters_by_status_in_sql(service: DatabaseService, project: Project) -> None:
    other = service.create_project("other")
    made = {
        status: [service.create_task(project.id, f"{status} {i}", status=status) for i in range(2)]
        for status in TASK_STATUSES
    }
    service.create_task(other.id, "elsewhere", status="in_progress")
    assert len(service.get_tasks(project.id)) == 2 * len(TASK_STATUSES)
    for status in TASK_STATUSES:
        assert service.get_tasks(project.id, status) == made[status]
        assert service.get_tasks(project.id, status=status) == made[status]
    assert service.get_tasks("nope") == []
    assert service.count_tasks_by_status(project.id) == dict.fromkeys(TASK_STATUSES, 2)
    with pytest.raises(ValidationError, match="invalid task status"):
        service.get_tasks(project.id, "doing")


def test_get_tasks_oldest_first(service: DatabaseService, project: Project) -> None:
    tasks = [service.create_task(project.id, f"t{i}") for i in range(5)]
    assert service.get_tasks(project.id) == tasks


def test_update_task(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    with one_audit_row(service) as audit:
        updated = service.update_task(
            task.id, {"title": "renamed", "status": "in_progress", "type": "research"}
        )
    assert (updated.title, updated.status, updated.type) == ("renamed", "in_progress", "research")
    assert service.get_task(task.id) == updated
    assert audit[0].before == {"title": "t", "status": "todo", "type": "implementation"}
    assert audit[0].after == {"title": "renamed", "status": "in_progress", "type": "research"}
    with nothing_changes(service):
        assert service.update_task(task.id, {"status": "in_progress"}) == updated


def test_update_task_can_move_it_to_another_project_and_cycle(
    service: DatabaseService, project: Project
) -> None:
    other = service.create_project("other")
    cycle = service.create_cycle(other.id)
    task = service.create_task(project.id, "t")
    moved = service.update_task(task.id, {"project_id": other.id, "cycle_id": cycle.id})
    assert (moved.project_id, moved.cycle_id) == (other.id, cycle.id)
    assert service.get_tasks(other.id) == [moved]


@pytest.mark.parametrize(
    ("updates", "error", "message"),
    [
        ({"status": "doing"}, ValidationError, "invalid task status 'doing'"),
        ({"type": "epic"}, ValidationError, "invalid task type"),
        ({"title": ""}, ValidationError, "title must not be empty"),
        ({"id": "x"}, ValidationError, "cannot be changed: id"),
        ({"created_at": 0}, ValidationError, "cannot be changed: created_at"),
        ({"priority": 1}, ValidationError, "unknown task field"),
        ({"project_id": "nope"}, NotFoundError, "project not found: nope"),
        ({"cycle_id": "nope"}, NotFoundError, "cycle not found: nope"),
        ({"project_id": None}, ValidationError, "project_id must not be empty"),
    ],
)
def test_update_task_bad_input(
    service: DatabaseService,
    project: Project,
    updates: dict[str, object],
    error: type[Exception],
    message: str,
) -> None:
    task = service.create_task(project.id, "t")
    with nothing_changes(service), pytest.raises(error, match=message):
        service.update_task(task.id, updates)


def test_move_task(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    for status in TASK_STATUSES:
        if status == "todo":
            continue
        with one_audit_row(service) as audit:
            moved = service.move_task(task.id, status)
        assert moved.status == status
        assert (audit[0].action, audit[0].after) == ("move", {"status": status})
    with pytest.raises(ValidationError):
        service.move_task(task.id, "archived")
    with pytest.raises(NotFoundError, match="task not found: nope"):
        service.move_task("nope", "done")


def test_delete_task(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    with one_audit_row(service) as audit:
        service.delete_task(task.id)
    assert service.get_task(task.id) is None
    assert (audit[0].action, audit[0].before["title"], audit[0].after) == ("delete", "t", None)  # type: ignore[index]
    with pytest.raises(NotFoundError):
        service.delete_task(task.id)


def test_delete_task_still_referenced_fails_cleanly(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    service.create_session(project.id, task.id)
    with nothing_changes(service), pytest.raises(ConstraintError, match="other records still refer"):
        service.delete_task(task.id)


def test_all_task_types_accepted(service: DatabaseService, project: Project) -> None:
    for task_type in TASK_TYPES:
        assert service.create_task(project.id, task_type, type=task_type).type == task_type
