"""Permission rules (CRUD), the approval queue and decisions (ADRs) through DatabaseService."""

from __future__ import annotations

from typing import Any

import pytest
from svc_helpers import nothing_changes, one_audit_row

from nerv import DatabaseService
from nerv.errors import ConflictError, NotFoundError, ValidationError
from nerv.models import Project, Rule

# -- rules --------------------------------------------------------------------------


def test_rule_crud(service: DatabaseService, project: Project) -> None:
    seeded = service.get_rules()  # whatever a fresh database starts with (the default rules)
    assert all(r.project_id is None for r in seeded)

    def added(rules: list[Rule]) -> list[Rule]:
        return [r for r in rules if r not in seeded]

    with one_audit_row(service) as audit:
        rule = service.create_rule("npm test:*", "allow", "Bash")
    assert (rule.pattern, rule.action, rule.tool, rule.project_id, rule.enabled) == (
        "npm test:*",
        "allow",
        "Bash",
        None,
        True,
    )
    assert rule.rule_text == "Bash(npm test:*)"
    assert (audit[0].entity_type, audit[0].action, audit[0].after["enabled"]) == (  # type: ignore[index]
        "rule",
        "create",
        1,
    )
    scoped = service.create_rule("rm -rf:*", "deny", "Bash", project_id=project.id, note="never")
    whole = service.create_rule(None, "ask", "WebFetch")
    assert whole.pattern == "" and whole.rule_text == "WebFetch"
    from_text = service.create_rule_from_text("Read(~/secrets/**)", "deny")
    assert (from_text.tool, from_text.pattern) == ("Read", "~/secrets/**")
    assert added(service.get_rules()) == [rule, scoped, whole, from_text]
    other = service.create_project("other")
    assert added(service.get_rules(other.id)) == [rule, whole, from_text]  # global ones only
    assert added(service.get_rules(project.id)) == [rule, scoped, whole, from_text]
    assert service.get_rule(rule.id) == rule

    with one_audit_row(service) as audit:
        disabled = service.set_rule_enabled(rule.id, False)
    assert disabled.enabled is False
    assert (audit[0].action, audit[0].before, audit[0].after) == ("disable", {"enabled": 1}, {"enabled": 0})
    assert added(service.get_rules(include_disabled=False)) == [scoped, whole, from_text]
    assert service.set_rule_enabled(rule.id, True).enabled is True
    with one_audit_row(service):
        assert service.update_rule(rule.id, {"action": "ask", "note": "why"}).action == "ask"
    with one_audit_row(service) as audit:
        service.delete_rule(rule.id)
    assert audit[0].action == "delete" and service.get_rule(rule.id) is None


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("npm test", "maybe", "Bash"), {}, ValidationError, "invalid rule action 'maybe'"),
        (("npm test", "allow", ""), {}, ValidationError, "tool"),
        (("npm test", "allow", "Bash"), {"project_id": "nope"}, NotFoundError, "project not found: nope"),
    ],
)
def test_create_rule_bad_input(
    service: DatabaseService,
    args: tuple[str, str, str],
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    with nothing_changes(service), pytest.raises(error, match=message):
        service.create_rule(*args, **kwargs)


def test_duplicate_rule_conflicts(service: DatabaseService, project: Project) -> None:
    service.create_rule("git push:*", "deny", "Bash")
    with nothing_changes(service), pytest.raises(ConflictError):
        service.create_rule("git push:*", "deny", "Bash")
    # The same rule scoped to a project is a different rule.
    assert service.create_rule("git push:*", "deny", "Bash", project_id=project.id).project_id == project.id


def test_rule_update_bad_input(service: DatabaseService) -> None:
    rule = service.create_rule("ls:*", "allow", "Bash")
    with nothing_changes(service):
        with pytest.raises(ValidationError, match="invalid rule action"):
            service.update_rule(rule.id, {"action": "sometimes"})
        with pytest.raises(NotFoundError, match="project not found"):
            service.update_rule(rule.id, {"project_id": "nope"})
        with pytest.raises(NotFoundError, match="rule not found"):
            service.delete_rule("nope")


# -- approval requests --------------------------------------------------------------


def test_request_lifecycle(service: DatabaseService, project: Project) -> None:
    task = service.create_task(project.id, "t")
    session = service.create_session(project.id, task.id)
    with one_audit_row(service) as audit:
        request = service.create_request(
            "Bash",
            {"command": "rm -rf build"},
            project_id=project.id,
            session_id=session.id,
            task_id=task.id,
            cwd="/w",
        )
    assert (request.status, request.tool_input, request.decided_at) == (
        "pending",
        {"command": "rm -rf build"},
        None,
    )
    assert (audit[0].entity_type, audit[0].action) == ("approval_request", "create")
    assert service.get_request(request.id) == request
    assert service.get_requests() == [request]
    assert service.get_requests(project_id=project.id) == [request]
    assert service.count_requests() == 1


@pytest.mark.parametrize(
    ("status", "action"), [("approved", "approve"), ("denied", "deny"), ("expired", "expire")]
)
def test_decide_request_transitions(service: DatabaseService, status: str, action: str) -> None:
    request = service.create_request("Bash", {"command": "make"})
    with one_audit_row(service) as audit:
        decided = service.decide_request(request.id, status, reason="because", decided_by="alice")
    assert (decided.status, decided.reason, decided.decided_by) == (status, "because", "alice")
    assert decided.decided_at is not None
    assert service.get_request(request.id) == decided
    assert audit[0].action == action
    assert audit[0].before == {"status": "pending", "reason": None, "decided_by": None, "decided_at": None}
    assert (audit[0].after or {})["status"] == status
    assert service.get_requests() == []
    assert service.get_requests(status) == [decided]
    assert service.get_requests(None) == [decided]
    # Decided is final.
    with nothing_changes(service), pytest.raises(ValidationError, match=f"already {status}"):
        service.decide_request(request.id, "approved")


def test_decide_request_bad_input(service: DatabaseService) -> None:
    request = service.create_request("Bash", {"command": "make"})
    with nothing_changes(service):
        with pytest.raises(ValidationError, match="invalid decision 'pending'"):
            service.decide_request(request.id, "pending")
        with pytest.raises(NotFoundError, match="approval request not found: nope"):
            service.decide_request("nope", "approved")
        with pytest.raises(ValidationError, match="invalid approval request status"):
            service.get_requests("waiting")
    assert service.decide_request(request.id, "denied").decided_by == "test"  # the service's actor


def test_create_request_bad_links(service: DatabaseService) -> None:
    with nothing_changes(service):
        with pytest.raises(NotFoundError, match="session not found: nope"):
            service.create_request("Bash", {}, session_id="nope")
        with pytest.raises(NotFoundError, match="task not found: nope"):
            service.create_request("Bash", {}, task_id="nope")
        with pytest.raises(ValidationError, match="tool_name must not be empty"):
            service.create_request("", {})


# -- decisions ----------------------------------------------------------------------


def test_decision_crud_and_supersede(service: DatabaseService, project: Project) -> None:
    cycle = service.create_cycle(project.id)
    with one_audit_row(service) as audit:
        old = service.create_decision(
            project.id,
            "Use SQLite",
            context="one file",
            decision="WAL mode",
            alternatives="postgres",
            consequences="single host",
            cycle_id=cycle.id,
        )
    assert (old.status, old.superseded_by, old.cycle_id) == ("proposed", None, cycle.id)
    assert (audit[0].entity_type, audit[0].action) == ("decision", "create")
    accepted = service.update_decision(old.id, {"status": "accepted"})
    assert accepted.status == "accepted"
    new = service.create_decision(project.id, "Use SQLite with STRICT tables", status="accepted")
    with one_audit_row(service) as audit:
        superseded = service.supersede_decision(old.id, new.id)
    assert (superseded.status, superseded.superseded_by) == ("superseded", new.id)
    assert audit[0].action == "supersede"
    assert audit[0].before == {"status": "accepted", "superseded_by": None}
    assert service.get_decisions(project.id) == [superseded, new]
    assert service.get_decisions(project.id, status="accepted") == [new]
    assert service.get_decision(old.id) == superseded
    scratch = service.create_decision(project.id, "scratch")
    with one_audit_row(service) as audit:
        service.delete_decision(scratch.id)
    assert (audit[0].action, audit[0].entity_id) == ("delete", scratch.id)
    assert service.get_decision(scratch.id) is None


def test_decision_bad_input(service: DatabaseService, project: Project) -> None:
    other = service.create_project("other")
    mine = service.create_decision(project.id, "a")
    theirs = service.create_decision(other.id, "b")
    with nothing_changes(service):
        with pytest.raises(ValidationError, match="cannot supersede itself"):
            service.supersede_decision(mine.id, mine.id)
        with pytest.raises(ValidationError, match="same project"):
            service.supersede_decision(mine.id, theirs.id)
        with pytest.raises(NotFoundError, match="decision not found: nope"):
            service.supersede_decision(mine.id, "nope")
        with pytest.raises(ValidationError, match="invalid decision status 'final'"):
            service.create_decision(project.id, "c", status="final")
        with pytest.raises(ValidationError, match="unknown decision field"):
            service.create_decision(project.id, "c", owner="me")
        with pytest.raises(NotFoundError, match="project not found"):
            service.create_decision("nope", "c")
        with pytest.raises(NotFoundError, match="decision not found"):
            service.update_decision(mine.id, {"superseded_by": "nope"})
        with pytest.raises(ValidationError):
            service.get_decisions(project.id, status="final")
