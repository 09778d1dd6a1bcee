"""Projects, repositories and cycles through DatabaseService."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from svc_helpers import nothing_changes, one_audit_row

from nerv import DatabaseService
from nerv.errors import ConflictError, ConstraintError, NotFoundError, ValidationError
from nerv.models import Project

# -- projects -----------------------------------------------------------------------


def test_create_and_read_projects(service: DatabaseService) -> None:
    with one_audit_row(service) as audit:
        first = service.create_project("  alpha  ", goal="ship")
    assert first.name == "alpha" and first.goal == "ship"
    assert first.created_at == first.updated_at > 0
    assert len(first.id) == 16
    entry = audit[0]
    assert (entry.entity_type, entry.entity_id, entry.action, entry.actor) == (
        "project",
        first.id,
        "create",
        "test",
    )
    assert entry.before is None
    assert entry.after == {
        "id": first.id,
        "name": "alpha",
        "goal": "ship",
        "created_at": first.created_at,
        "updated_at": first.updated_at,
    }
    second = service.create_project("beta")
    assert second.goal is None
    assert service.get_projects() == [first, second]
    assert service.get_project(first.id) == first
    assert service.get_project("nope") is None


@pytest.mark.parametrize("name", ["", "   "])
def test_project_name_must_not_be_empty(service: DatabaseService, name: str) -> None:
    with nothing_changes(service), pytest.raises(ValidationError, match="name must not be empty"):
        service.create_project(name)


def test_update_project_audits_changed_fields_only(service: DatabaseService, project: Project) -> None:
    with one_audit_row(service) as audit:
        updated = service.update_project(project.id, {"goal": "new goal", "name": project.name})
    assert updated.goal == "new goal" and updated.name == "alpha"
    assert updated.updated_at >= project.updated_at
    assert service.get_project(project.id) == updated
    assert (audit[0].action, audit[0].before, audit[0].after) == (
        "update",
        {"goal": "ship it"},
        {"goal": "new goal"},
    )
    # A no-op update changes nothing and writes no audit row.
    with nothing_changes(service):
        assert service.update_project(project.id, {"goal": "new goal"}) == updated


def test_update_project_rejects_bad_fields(service: DatabaseService, project: Project) -> None:
    with nothing_changes(service):
        with pytest.raises(ValidationError, match="unknown project field"):
            service.update_project(project.id, {"colour": "red"})
        with pytest.raises(ValidationError, match="cannot be changed: created_at"):
            service.update_project(project.id, {"created_at": 1})
        with pytest.raises(ValidationError, match="must not be empty"):
            service.update_project(project.id, {"name": " "})
        with pytest.raises(NotFoundError, match="project not found: nope"):
            service.update_project("nope", {"goal": "x"})


def test_delete_project_takes_its_repos_settings_and_rules(service: DatabaseService, tmp_path: Path) -> None:
    doomed = service.create_project("doomed")
    keep = service.create_project("keep")
    repo = service.add_repo(doomed.id, str(tmp_path / "r"))
    service.set_setting("budget.daily_usd", 5, project_id=doomed.id)
    rule = service.create_rule("npm test:*", "allow", "Bash", project_id=doomed.id)
    service.set_setting("budget.daily_usd", 9, project_id=keep.id)
    service.delete_project(doomed.id)
    assert service.get_project(doomed.id) is None
    assert service.get_repo(repo.id) is None and service.get_rule(rule.id) is None
    assert service.list_settings(doomed.id) == []
    assert [s.value for s in service.list_settings(keep.id)] == [9]
    deleted = {(e.entity_type, e.entity_id) for e in service.get_audit() if e.action == "delete"}
    assert {("project", doomed.id), ("repo", repo.id), ("rule", rule.id)} <= deleted
    assert sum(1 for t, _ in deleted if t == "setting") == 1


def test_delete_empty_project_writes_one_audit_row(service: DatabaseService, project: Project) -> None:
    with one_audit_row(service) as audit:
        service.delete_project(project.id)
    assert (audit[0].action, audit[0].before["name"], audit[0].after) == ("delete", "alpha", None)  # type: ignore[index]


def test_delete_project_refuses_while_work_hangs_off_it(service: DatabaseService, project: Project) -> None:
    service.create_task(project.id, "t")
    service.create_session(project.id)
    with nothing_changes(service), pytest.raises(ConstraintError, match="still has 1 tasks, 1 sessions"):
        service.delete_project(project.id)
    with pytest.raises(NotFoundError):
        service.delete_project("nope")


def test_current_project_and_use_project(service: DatabaseService) -> None:
    assert service.current_project() is None
    first = service.create_project("first")
    second = service.create_project("second")
    assert service.current_project() == second  # the most recently created one
    with one_audit_row(service) as audit:
        assert service.use_project(first.id) == first
    assert (audit[0].entity_type, audit[0].action) == ("setting", "create")
    assert service.current_project() == first
    with one_audit_row(service):
        service.use_project(second.id)
    with nothing_changes(service):
        service.use_project(second.id)  # already current: no change
    with pytest.raises(NotFoundError):
        service.use_project("nope")


# -- repositories -------------------------------------------------------------------


def test_add_repo_normalizes_the_path(service: DatabaseService, project: Project, tmp_path: Path) -> None:
    with one_audit_row(service) as audit:
        repo = service.add_repo(project.id, str(tmp_path / "a" / ".." / "web"))
    assert repo.path == str(tmp_path / "web")
    assert (repo.name, repo.default_branch, repo.project_id) == ("web", "main", project.id)
    assert audit[0].after["path"] == repo.path  # type: ignore[index]
    home = service.add_repo(project.id, "~/some-repo", name="named", default_branch="trunk")
    assert home.path == os.path.join(os.path.expanduser("~"), "some-repo")
    assert (home.name, home.default_branch) == ("named", "trunk")
    assert service.get_repos(project.id) == [repo, home]
    assert service.get_repos() == [repo, home]
    assert service.get_repo(repo.id) == repo


def test_repo_path_unique_per_project(service: DatabaseService, project: Project, tmp_path: Path) -> None:
    service.add_repo(project.id, str(tmp_path))
    with nothing_changes(service), pytest.raises(ConflictError, match="already exists"):
        service.add_repo(project.id, str(tmp_path) + "/")
    other = service.create_project("other")
    assert service.add_repo(other.id, str(tmp_path)).project_id == other.id


def test_repo_bad_input(service: DatabaseService, project: Project) -> None:
    with nothing_changes(service):
        with pytest.raises(NotFoundError, match="project not found: nope"):
            service.add_repo("nope", "/x")
        with pytest.raises(ValidationError, match="path must not be empty"):
            service.add_repo(project.id, " ")
        with pytest.raises(ValidationError, match="default_branch must not be empty"):
            service.add_repo(project.id, "/x", default_branch="")


def test_update_and_remove_repo(service: DatabaseService, project: Project, tmp_path: Path) -> None:
    repo = service.add_repo(project.id, str(tmp_path / "one"))
    with one_audit_row(service) as audit:
        moved = service.update_repo(
            repo.id, {"path": str(tmp_path / "x" / ".." / "two"), "default_branch": "dev"}
        )
    assert (moved.path, moved.default_branch) == (str(tmp_path / "two"), "dev")
    assert audit[0].before == {"path": repo.path, "default_branch": "main"}
    with pytest.raises(ValidationError, match="cannot be changed: project_id"):
        service.update_repo(repo.id, {"project_id": project.id})
    with one_audit_row(service) as audit:
        service.remove_repo(repo.id)
    assert audit[0].action == "delete"
    assert service.get_repo(repo.id) is None
    with pytest.raises(NotFoundError, match="repo not found"):
        service.remove_repo(repo.id)


def test_find_repo_for_path_is_the_nearest_enclosing(service: DatabaseService, tmp_path: Path) -> None:
    outer_project = service.create_project("outer")
    inner_project = service.create_project("inner")
    outer = service.add_repo(outer_project.id, str(tmp_path / "a"))
    inner = service.add_repo(inner_project.id, str(tmp_path / "a" / "b"))
    assert service.find_repo_for_path(str(tmp_path / "a" / "b" / "c" / "d.py")) == inner
    assert service.find_repo_for_path(str(tmp_path / "a" / "b")) == inner
    assert service.find_repo_for_path(str(tmp_path / "a" / "bc")) == outer  # not a path prefix match
    assert service.find_repo_for_path(str(tmp_path / "a" / "x" / ".." / "b" / "z")) == inner
    assert service.find_repo_for_path(str(tmp_path / "a")) == outer
    assert service.find_repo_for_path(str(tmp_path)) is None
    assert service.find_repo_for_path("/") is None


# -- cycles -------------------------------------------------------------------------


def test_cycles_are_numbered_per_project(service: DatabaseService, project: Project) -> None:
    other = service.create_project("other")
    with one_audit_row(service) as audit:
        c1 = service.create_cycle(project.id, goal="mvp")
    assert (c1.number, c1.goal, c1.status, c1.completed_at) == (1, "mvp", "active", None)
    assert c1.started_at is not None
    assert audit[0].after["number"] == 1  # type: ignore[index]
    c2 = service.create_cycle(project.id, status="planned")
    assert (c2.number, c2.status, c2.started_at) == (2, "planned", None)
    assert service.create_cycle(other.id).number == 1
    assert service.create_cycle(project.id).number == 3
    assert [c.number for c in service.get_cycles(project.id)] == [1, 2, 3]
    assert [c.number for c in service.get_cycles(project.id, status="planned")] == [2]
    assert service.get_cycle(c1.id) == c1


def test_cycle_bad_input(service: DatabaseService, project: Project) -> None:
    with nothing_changes(service):
        with pytest.raises(NotFoundError, match="project not found"):
            service.create_cycle("nope")
        with pytest.raises(ValidationError, match="invalid cycle status 'open'"):
            service.create_cycle(project.id, status="open")
        with pytest.raises(ValidationError, match="invalid cycle status"):
            service.get_cycles(project.id, status="open")


def test_complete_cycle(service: DatabaseService, project: Project) -> None:
    cycle = service.create_cycle(project.id)
    with one_audit_row(service) as audit:
        done = service.complete_cycle(cycle.id, learnings="smaller steps")
    assert (done.status, done.learnings) == ("completed", "smaller steps")
    assert done.completed_at is not None and done.completed_at >= (cycle.started_at or 0)
    assert set(audit[0].after or {}) == {"status", "completed_at", "learnings"}
    with nothing_changes(service), pytest.raises(ValidationError, match="already completed"):
        service.complete_cycle(cycle.id)
    planned = service.create_cycle(project.id, status="planned")
    finished = service.complete_cycle(planned.id)
    assert finished.started_at == finished.completed_at
    with pytest.raises(NotFoundError):
        service.complete_cycle("nope")
    updated = service.update_cycle(cycle.id, {"goal": "renamed"})
    assert updated.goal == "renamed"
