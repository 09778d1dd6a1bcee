"""The audit trail of every mutating operation, atomicity, id prefixes, and settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from svc_helpers import audit_count, nothing_changes, one_audit_row, snapshot

from nerv import DatabaseService
from nerv.errors import AmbiguousIdError, DatabaseError, NervError, NotFoundError, ValidationError
from nerv.service.tables import PROJECTS, TASKS
from nerv.store import audit as store_audit


@dataclass
class World:
    """One of everything, for the operations that need something to act on."""

    svc: DatabaseService
    project: Any
    task: Any
    cycle: Any
    session: Any
    repo: Any
    rule: Any
    request: Any
    decision: Any
    decision2: Any


@pytest.fixture
def world(service: DatabaseService, tmp_path: Path) -> World:
    project = service.create_project("world")
    task = service.create_task(project.id, "t")
    session = service.create_session(project.id, task.id)
    return World(
        svc=service,
        project=project,
        task=task,
        cycle=service.create_cycle(project.id),
        session=session,
        repo=service.add_repo(project.id, str(tmp_path / "repo")),
        rule=service.create_rule("make:*", "allow", "Bash"),
        request=service.create_request("Bash", {"command": "make"}, session_id=session.id),
        decision=service.create_decision(project.id, "d1"),
        decision2=service.create_decision(project.id, "d2"),
    )


# operation name -> (call, expected entity_type, expected action, expected changed fields (None: any))
MUTATIONS: dict[str, tuple[Callable[[World], Any], str, str, set[str] | None]] = {
    "create_project": (lambda w: w.svc.create_project("p"), "project", "create", None),
    "update_project": (
        lambda w: w.svc.update_project(w.project.id, {"goal": "g"}),
        "project",
        "update",
        {"goal"},
    ),
    "delete_project": (lambda w: None, "project", "delete", None),  # see prepared()
    "use_project": (lambda w: w.svc.use_project(w.project.id), "setting", "create", None),
    "add_repo": (lambda w: w.svc.add_repo(w.project.id, "/elsewhere"), "repo", "create", None),
    "update_repo": (lambda w: w.svc.update_repo(w.repo.id, {"name": "n"}), "repo", "update", {"name"}),
    "remove_repo": (lambda w: w.svc.remove_repo(w.repo.id), "repo", "delete", None),
    "create_cycle": (lambda w: w.svc.create_cycle(w.project.id), "cycle", "create", None),
    "update_cycle": (lambda w: w.svc.update_cycle(w.cycle.id, {"goal": "g"}), "cycle", "update", {"goal"}),
    "complete_cycle": (
        lambda w: w.svc.complete_cycle(w.cycle.id),
        "cycle",
        "update",
        {"status", "completed_at"},
    ),
    "create_task": (lambda w: w.svc.create_task(w.project.id, "new"), "task", "create", None),
    "update_task": (
        lambda w: w.svc.update_task(w.task.id, {"description": "d"}),
        "task",
        "update",
        {"description"},
    ),
    "move_task": (lambda w: w.svc.move_task(w.task.id, "done"), "task", "move", {"status"}),
    "delete_task": (lambda w: None, "task", "delete", None),
    "create_session": (lambda w: w.svc.create_session(w.project.id), "session", "create", None),
    "update_session": (
        lambda w: w.svc.update_session(w.session.id, {"cost_usd": 1.5}),
        "session",
        "update",
        {"cost_usd"},
    ),
    "end_session": (lambda w: w.svc.end_session(w.session.id), "session", "end", {"status", "ended_at"}),
    "record_metric": (lambda w: w.svc.record_metric(w.session.id, input_tokens=5), "metric", "create", None),
    "create_rule": (lambda w: w.svc.create_rule("ls:*", "allow", "Bash"), "rule", "create", None),
    "create_rule_from_text": (
        lambda w: w.svc.create_rule_from_text("Bash(ls:*)", "deny"),
        "rule",
        "create",
        None,
    ),
    "update_rule": (lambda w: w.svc.update_rule(w.rule.id, {"note": "n"}), "rule", "update", {"note"}),
    "set_rule_enabled": (lambda w: w.svc.set_rule_enabled(w.rule.id, False), "rule", "disable", {"enabled"}),
    "delete_rule": (lambda w: w.svc.delete_rule(w.rule.id), "rule", "delete", None),
    "create_request": (
        lambda w: w.svc.create_request("Read", {"file_path": "/x"}),
        "approval_request",
        "create",
        None,
    ),
    "decide_request": (
        lambda w: w.svc.decide_request(w.request.id, "approved"),
        "approval_request",
        "approve",
        {"status", "reason", "decided_by", "decided_at"},  # the shape the hook's expiry writes too
    ),
    "create_decision": (lambda w: w.svc.create_decision(w.project.id, "d"), "decision", "create", None),
    "update_decision": (
        lambda w: w.svc.update_decision(w.decision.id, {"context": "c"}),
        "decision",
        "update",
        {"context"},
    ),
    "supersede_decision": (
        lambda w: w.svc.supersede_decision(w.decision.id, w.decision2.id),
        "decision",
        "supersede",
        {"status", "superseded_by"},
    ),
    "delete_decision": (lambda w: w.svc.delete_decision(w.decision.id), "decision", "delete", None),
    "set_setting": (lambda w: w.svc.set_setting("budget.daily_usd", 3), "setting", "create", None),
    "unset_setting": (lambda w: None, "setting", "delete", None),
    "record_event": (
        lambda w: w.svc.record_event("import", "file.json", "import", {"rows": 3}),
        "import",
        "import",
        None,
    ),
}


def prepared(world: World, name: str) -> Callable[[World], Any]:
    """The operation ``name`` with whatever it acts on created beforehand."""
    if name == "delete_project":
        doomed = world.svc.create_project("doomed")
        return lambda w: w.svc.delete_project(doomed.id)
    if name == "delete_task":
        doomed_task = world.svc.create_task(world.project.id, "doomed")
        return lambda w: w.svc.delete_task(doomed_task.id)
    if name == "unset_setting":
        world.svc.set_setting("budget.monthly_usd", 1)
        return lambda w: w.svc.unset_setting("budget.monthly_usd")
    return MUTATIONS[name][0]


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_every_mutation_writes_exactly_one_audit_row(world: World, name: str) -> None:
    _, entity_type, action, changed = MUTATIONS[name]
    operation = prepared(world, name)
    with one_audit_row(world.svc) as audit:
        operation(world)
    entry = audit[0]
    assert (entry.entity_type, entry.action, entry.actor) == (entity_type, action, "test")
    if action == "create":
        assert entry.before is None and entry.after
    elif action == "delete":
        assert entry.before and entry.after is None
    if changed is not None:
        assert set(entry.before or {}) == changed
        assert set(entry.after or {}) == changed
        assert entry.before != entry.after


def _boom(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("audit write failed")


@pytest.mark.parametrize("name", sorted(set(MUTATIONS) - {"record_event"}))
def test_a_failing_audit_write_undoes_the_change(
    world: World, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row change and its audit row are one transaction: no audit, no change."""
    operation = prepared(world, name)
    before = snapshot(world.svc)
    monkeypatch.setattr(store_audit, "write", _boom)  # the one audit writer, in the core
    with pytest.raises(RuntimeError, match="audit write failed"):
        operation(world)
    monkeypatch.undo()
    assert snapshot(world.svc) == before
    assert not world.svc.connection.in_transaction


def test_failures_leave_nothing(world: World) -> None:
    svc = world.svc
    failing: list[Callable[[], Any]] = [
        lambda: svc.create_task(world.project.id, "t", status="nope"),
        lambda: svc.create_task("missing", "t"),
        lambda: svc.update_task(world.task.id, {"cycle_id": "missing"}),
        lambda: svc.create_session(world.project.id, "missing"),
        lambda: svc.delete_task(world.task.id),  # a session refers to it
        lambda: svc.create_rule("make:*", "allow", "Bash"),  # duplicate
        lambda: svc.record_metric("missing"),
        lambda: svc.set_setting("approval.mode", "sometimes"),
        lambda: svc.set_setting("budget.daily_usd", 1, project_id="missing"),
        lambda: svc.set_setting("approval.mod", "queue"),
        lambda: svc.unset_setting("never-set"),
    ]
    for operation in failing:
        with nothing_changes(svc), pytest.raises(NervError):
            operation()


# -- reading the audit log ----------------------------------------------------------


def test_get_audit_filters(service: DatabaseService) -> None:
    project = service.create_project("p")
    task = service.create_task(project.id, "t")
    service.move_task(task.id, "done")
    everything = service.get_audit()
    assert [(e.entity_type, e.action) for e in everything] == [
        ("project", "create"),
        ("task", "create"),
        ("task", "move"),
    ]
    assert service.get_audit(entity_type="task") == everything[1:]
    assert service.get_audit(entity_id=project.id) == everything[:1]
    assert service.get_audit(entity_type="task", entity_id=task.id, limit=1) == everything[1:2]
    assert service.get_audit(newest_first=True) == everything[::-1]
    assert service.get_audit(since=everything[-1].at) == [e for e in everything if e.at >= everything[-1].at]
    assert service.get_audit(until=everything[0].at) == []
    assert service.get_audit(entity_type="decision") == []
    assert service.resolve_audit_entity_id(task.id[:10]) == task.id


def test_record_event(service: DatabaseService) -> None:
    with one_audit_row(service) as audit:
        service.record_event("hook", "Bash", "allow", {"command": "ls"})
    assert (audit[0].entity_type, audit[0].entity_id, audit[0].action) == ("hook", "Bash", "allow")
    assert (audit[0].before, audit[0].after) == (None, {"command": "ls"})


def test_actor_comes_from_the_service(db_path: Path) -> None:
    with DatabaseService(db_path, actor="web:alice") as svc:
        svc.create_project("p")
        assert svc.get_audit()[0].actor == "web:alice"


def test_actor_defaults_to_nerv_actor(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERV_ACTOR", "hook")
    with DatabaseService(db_path) as svc:
        svc.create_project("p")
        assert svc.get_audit()[0].actor == "hook"


# -- ids ----------------------------------------------------------------------------


def test_resolve_id_exact_prefix_ambiguous(service: DatabaseService, raw: Any) -> None:
    for ident in ("abcdefgh22222222", "abcdxxxx33333333", "zzzzzzzz44444444"):
        raw("INSERT INTO projects (id, name, created_at, updated_at) VALUES (?, 'p', 1, 1)", (ident,))
    assert service.resolve_id(PROJECTS, "abcdefgh22222222") == "abcdefgh22222222"
    assert service.resolve_id(PROJECTS, "abcde") == "abcdefgh22222222"
    assert service.resolve_id(PROJECTS, " zz ") == "zzzzzzzz44444444"
    with pytest.raises(AmbiguousIdError, match="project id prefix 'abcd' is ambiguous") as info:
        service.resolve_id(PROJECTS, "abcd")
    assert info.value.matches == ["abcdefgh22222222", "abcdxxxx33333333"]
    with pytest.raises(NotFoundError, match="project not found: q"):
        service.resolve_id(PROJECTS, "q")
    with pytest.raises(ValidationError, match="must not be empty"):
        service.resolve_id(PROJECTS, "  ")
    with pytest.raises(NotFoundError, match="task not found"):
        service.resolve_id(TASKS, "abcd")
    assert service.ids_with_prefix(PROJECTS, "abcd") == ["abcdefgh22222222", "abcdxxxx33333333"]


def test_ids_are_random_text_and_unique(service: DatabaseService) -> None:
    project = service.create_project("p")
    ids = {service.create_task(project.id, f"t{i}").id for i in range(200)}
    assert len(ids) == 200
    assert all(len(i) == 16 and i.isalnum() and i == i.lower() for i in ids)
    # The distinctive part comes first: 200 ids spread over most first characters.
    assert len({i[0] for i in ids}) > 20


# -- settings -----------------------------------------------------------------------


def test_settings_lookup_order(service: DatabaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    project = service.create_project("p")
    other = service.create_project("q")
    assert service.get_setting("approval.mode") == "defer"  # built-in default
    assert service.get_setting("approval.mode", project.id) == "defer"
    assert service.get_setting("no.such.key") is None
    service.set_setting("approval.mode", "ask")
    assert service.get_setting("approval.mode", project.id) == "ask"  # global
    service.set_setting("approval.mode", "queue", project_id=project.id)
    assert service.get_setting("approval.mode", project.id) == "queue"  # project beats global
    assert service.get_setting("approval.mode", other.id) == "ask"
    assert service.get_setting("approval.mode") == "ask"
    monkeypatch.setenv("NERV_APPROVAL_MODE", "defer")
    assert service.get_setting("approval.mode", project.id) == "defer"  # environment beats all
    assert service.get_setting("approval.mode", environ={}) == "ask"
    assert service.get_setting("budget.daily_usd", environ={"NERV_BUDGET_DAILY_USD": "12.5"}) == 12.5
    assert service.get_setting("x", environ={"NERV_X": "not json"}) == "not json"


def test_set_and_unset_setting(service: DatabaseService) -> None:
    project = service.create_project("p")
    with one_audit_row(service) as audit:
        setting = service.set_setting("budget.daily_usd", 5)
    assert (setting.key, setting.value, setting.project_id) == ("budget.daily_usd", 5, None)
    assert audit[0].after == {"key": "budget.daily_usd", "project_id": None, "value": 5}
    with one_audit_row(service) as audit:
        service.set_setting("budget.daily_usd", 7)
    assert (audit[0].action, audit[0].before["value"], audit[0].after["value"]) == (  # type: ignore[index]
        "update",
        5,
        7,
    )
    with nothing_changes(service):
        service.set_setting("budget.daily_usd", 7)  # unchanged: no audit row
    service.set_setting("budget.warn_at", [0.5, 1], project_id=project.id)
    assert service.get_setting("budget.warn_at", project.id) == [0.5, 1]
    assert [(s.key, s.value) for s in service.list_settings()] == [("budget.daily_usd", 7)]
    assert [(s.key, s.value) for s in service.list_settings(project.id)] == [("budget.warn_at", [0.5, 1])]
    with one_audit_row(service) as audit:
        service.unset_setting("budget.daily_usd")
    assert (audit[0].action, audit[0].after) == ("delete", None)
    assert service.get_setting("budget.daily_usd") is None


def test_setting_bad_input(service: DatabaseService) -> None:
    with nothing_changes(service):
        with pytest.raises(ValidationError, match=r"invalid value for approval\.mode"):
            service.set_setting("approval.mode", "sometimes")
        with pytest.raises(ValidationError, match="key must not be empty"):
            service.set_setting(" ", 1)
        with pytest.raises(ValidationError, match=r"did you mean approval\.mode\?"):
            service.set_setting("approval.mod", "queue")
        with pytest.raises(ValidationError, match=r"invalid value for budget\.daily_usd"):
            service.set_setting("budget.daily_usd", object())
        with pytest.raises(NotFoundError, match="project not found: nope"):
            service.set_setting("budget.daily_usd", 1, project_id="nope")
        with pytest.raises(NotFoundError, match="setting not found"):
            service.unset_setting("x")


def test_errors_are_one_line_nerv_errors(service: DatabaseService) -> None:
    operations: list[Callable[[], object]] = [
        lambda: service.update_task("nope", {"status": "done"}),
        lambda: service.create_task("nope", "t"),
        lambda: service.create_task("nope", "t", status="bad"),
    ]
    for operation in operations:
        with pytest.raises(NervError) as info:
            operation()
        assert "\n" not in str(info.value)
    assert audit_count(service) == 0


def test_closed_service_raises_database_error(db_path: Path) -> None:
    svc = DatabaseService(db_path)
    svc.close()
    with pytest.raises(DatabaseError):
        svc.get_projects()
