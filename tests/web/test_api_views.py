"""The dashboard's newer endpoints over real HTTP: tasks, cycles, decisions, rules, cost ranges, expiry."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from test_api import call, post
from web_helpers import Rich, Seed

from nerv import DatabaseService
from nerv.ids import now_ms
from nerv.web import DashboardServer


@pytest.fixture
def url(server: DashboardServer, seed: Seed) -> str:
    return server.url


def task_count(service: DatabaseService, project: str) -> int:
    return sum(service.count_tasks_by_status(project).values())


# -- tasks ------------------------------------------------------------------------------------------


def test_create_a_task(url: str, rich: Rich, service: DatabaseService) -> None:
    seed = rich.seed
    body = {
        "title": "  Add the rules view  ", "description": " ", "type": "docs", "cycle_id": rich.cycles[1][:6]
    }
    reply = post(url, f"/api/projects/{seed.alpha[:6]}/tasks", body)
    assert reply.status == 200, reply.raw
    task = reply.json()["task"]
    stored = service.get_task(task["id"])
    assert stored is not None
    shown = (stored.title, stored.description, stored.type, stored.status, stored.cycle_id, stored.project_id)
    assert shown == ("Add the rules view", None, "docs", "todo", rich.cycles[1], seed.alpha)
    assert task["short_id"] == task["id"][:8]
    [entry] = service.get_audit(entity_type="task", entity_id=task["id"])
    assert (entry.action, entry.actor) == ("create", "test")
    board = call(url, f"/api/projects/{seed.alpha}/board").json()
    assert task["id"] in [t["id"] for t in board["columns"]["todo"]]
    assert [c["number"] for c in board["cycles"]] == [1, 2]


def test_creating_a_task_refuses_bad_input_and_writes_nothing(
    url: str, rich: Rich, service: DatabaseService
) -> None:
    seed = rich.seed
    before = task_count(service, seed.alpha)
    audit_rows = len(service.get_audit())
    path = f"/api/projects/{seed.alpha}/tasks"
    other_cycle = service.create_cycle(seed.beta).id
    audit_rows += 1
    cases = [
        ({}, 400, "missing field: title"),
        ({"title": "   "}, 400, "title must not be empty"),
        ({"title": None}, 400, "title must not be empty"),
        ({"title": 7}, 400, "title must be a string"),
        ({"title": "x" * 501}, 400, "longer than 500"),
        ({"title": "x", "type": "novel"}, 400, "invalid task type 'novel'"),
        ({"title": "x", "status": "later"}, 400, "invalid task status 'later'"),
        ({"title": "x", "status": None}, 400, "status must be a string"),
        ({"title": "x", "cycle_id": other_cycle}, 400, "belongs to another project"),
        ({"title": "x", "cycle_id": "zzzzzz"}, 404, "cycle not found: zzzzzz"),
        ({"title": "x", "owner": "me"}, 400, "unknown field(s): owner"),
    ]
    for body, status, message in cases:
        reply = post(url, path, body)
        assert reply.status == status, (body, reply.raw)
        assert message in reply.error["message"], (body, reply.raw)
    missing = post(url, "/api/projects/zzzzzzzz/tasks", {"title": "x"})
    assert (missing.status, missing.error["code"]) == (404, "not_found")
    assert task_count(service, seed.alpha) == before
    assert len(service.get_audit()) == audit_rows


def test_open_a_task(url: str, rich: Rich, service: DatabaseService) -> None:
    seed = rich.seed
    task_id = seed.tasks["Build the board"]
    service.move_task(task_id, "review")
    data = call(url, f"/api/tasks/{task_id[:7]}").json()
    assert data["task"]["id"] == task_id and data["task"]["status"] == "review"
    assert data["project"]["name"] == "alpha"
    assert data["cycle"]["id"] == rich.cycles[1] and data["cycle"]["number"] == 2
    assert [c["number"] for c in data["cycles"]] == [1, 2]
    assert data["statuses"] == ["todo", "in_progress", "interrupted", "review", "done"]
    [session] = data["sessions"]
    assert session["id"] == seed.session
    assert session["cost_usd"] == pytest.approx(2.0)
    assert session["tokens"]["input"] == 1000 + 400 + 300
    cost = dict(data["cost"])
    by_model = {
        m["model"]: (m["cost_nanousd"], m["responses"], m["total_tokens"]) for m in cost.pop("by_model")
    }
    assert cost == {
        "total_usd": pytest.approx(2.0),
        "sessions": 1,
        "tokens": {"input": 1700, "output": 350, "cache_write_5m": 0, "cache_write_1h": 0, "cache_read": 0},
    }
    assert by_model == {  # the amount recorded on the session itself goes to its model, m-1
        "m-1": (1_250_000_000, 0, 1200),
        "claude-opus-4-1": (500_000_000, 1, 500),
        "claude-sonnet-4-5": (250_000_000, 1, 350),
    }
    actions = [e["action"] for e in data["audit"]]
    assert actions == ["move", "update", "create"]  # newest first: moved, put in cycle 2, created
    assert data["audit"][0]["summary"] == "status: in_progress → review"
    assert {e["entity_id"] for e in data["audit"]} == {task_id}

    other = call(url, f"/api/tasks/{seed.tasks['Document the API']}").json()
    assert (other["cycle"], other["sessions"], other["cost"]["total_usd"]) == (None, [], 0)
    assert other["cost"]["by_model"] == []


def test_edit_a_task(url: str, rich: Rich, service: DatabaseService) -> None:
    task_id = rich.seed.tasks["Write the parser"]
    current = service.get_task(task_id)
    assert current is not None
    body = {
        "title": "Write the rule parser", "description": "Claude Code's syntax", "status": "in_progress",
        "cycle_id": None, "updated_at": current.updated_at,
    }
    reply = post(url, f"/api/tasks/{task_id}", body)
    assert reply.status == 200, reply.raw
    stored = service.get_task(task_id)
    assert stored is not None
    assert (stored.title, stored.description, stored.status, stored.cycle_id, stored.type) == (
        "Write the rule parser", "Claude Code's syntax", "in_progress", None, "implementation"
    )
    assert reply.json()["task"]["updated_at"] == stored.updated_at
    [entry] = service.get_audit(entity_type="task", entity_id=task_id, newest_first=True, limit=1)
    assert entry.action == "update"
    assert entry.before == {
        "title": "Write the parser", "description": None, "status": "todo", "cycle_id": rich.cycles[1]
    }
    assert entry.after == {
        "title": "Write the rule parser", "description": "Claude Code's syntax", "status": "in_progress",
        "cycle_id": None,
    }

    # an editor opened before that change is refused instead of overwriting it
    stale = post(url, f"/api/tasks/{task_id}", {"title": "Old view", "updated_at": current.updated_at})
    assert (stale.status, stale.error["code"]) == (409, "conflict")
    assert "changed meanwhile" in stale.error["message"]
    for bad in ({"title": ""}, {"type": "saga"}, {"updated_at": "yesterday"}, {"updated_at": True},
                {"description": ["x"]}, {"project_id": rich.seed.beta}):
        reply = post(url, f"/api/tasks/{task_id}", bad)
        assert reply.status == 400, (bad, reply.raw)
    after = service.get_task(task_id)
    assert after is not None and after.title == "Write the rule parser"
    assert len(service.get_audit(entity_type="task", entity_id=task_id)) == len(
        call(url, f"/api/tasks/{task_id}").json()["audit"]
    )
    # an empty edit changes nothing and writes no audit row
    same = post(url, f"/api/tasks/{task_id}", {})
    assert same.status == 200 and same.json()["task"]["title"] == "Write the rule parser"
    assert len(service.get_audit(entity_type="task", entity_id=task_id)) == 3  # create, cycle, edit


# -- cycles and decisions ------------------------------------------------------------------------


def test_cycles(url: str, rich: Rich) -> None:
    data = call(url, f"/api/projects/{rich.seed.alpha}/cycles").json()
    assert data["statuses"] == ["planned", "active", "completed"]
    second, first = data["cycles"]  # newest first
    assert (second["number"], second["status"], second["goal"]) == (2, "active", "Costs users trust")
    titles = [t["title"] for t in second["tasks"]]
    assert titles == ["Write the parser", "Build the board", "Flaky login test"]
    assert second["task_counts"] == {"todo": 1, "in_progress": 1, "interrupted": 1, "review": 0, "done": 0}
    assert (first["status"], first["learnings"]) == ("completed", "Keyboard moves matter")
    assert first["completed_at"] is not None
    assert first["task_counts"]["done"] == 1 and first["task_counts"]["review"] == 1
    assert data["tasks_without_cycle"] == 1  # Document the API
    empty = call(url, f"/api/projects/{rich.seed.beta}/cycles").json()
    assert (empty["cycles"], empty["tasks_without_cycle"]) == ([], 1)


def test_decisions(url: str, rich: Rich) -> None:
    data = call(url, f"/api/projects/{rich.seed.alpha}/decisions").json()
    assert [d["title"] for d in data["decisions"]] == [
        "Push the queue to the page", "Poll the queue every 2 s", "Use SQLite in WAL mode"
    ]
    assert data["counts"] == {"proposed": 1, "accepted": 1, "superseded": 1}
    push, poll, wal = data["decisions"]
    assert (poll["status"], poll["superseded_by"], poll["superseded_by_title"]) == (
        "superseded", rich.decisions["Push the queue to the page"], "Push the queue to the page"
    )
    shown = (wal["cycle_number"], wal["context"], wal["consequences"])
    assert shown == (1, "One file, many readers", "Local only")
    assert push["cycle_number"] is None and push["superseded_by_title"] is None
    only = call(url, f"/api/projects/{rich.seed.alpha}/decisions?status=accepted").json()
    assert [d["title"] for d in only["decisions"]] == ["Use SQLite in WAL mode"]
    assert only["counts"]["proposed"] == 1  # counts always cover every status
    bad = call(url, f"/api/projects/{rich.seed.alpha}/decisions?status=rejected")
    assert bad.status == 400 and "invalid decision status 'rejected'" in bad.error["message"]


# -- rules ------------------------------------------------------------------------------------------


def test_rules_of_a_project(url: str, rich: Rich, service: DatabaseService) -> None:
    data = call(url, f"/api/rules?project={rich.seed.alpha[:8]}").json()
    ids = [r["id"] for r in data["rules"]]
    assert rich.rule in ids and rich.beta_rule not in ids
    ours = next(r for r in data["rules"] if r["id"] == rich.rule)
    assert (ours["rule"], ours["action"], ours["scope"], ours["project_name"], ours["note"]) == (
        "Bash(npm test:*)", "allow", "project", "alpha", "tests"
    )
    sudo = next(r for r in data["rules"] if r["rule"] == "Bash(sudo:*)")
    assert (sudo["scope"], sudo["action"], sudo["enabled"]) == ("global", "deny", True)
    assert data["counts"] == {"enabled": len(ids), "disabled": 0}
    assert len(ids) == len(service.get_rules(rich.seed.alpha))
    everything = call(url, "/api/rules").json()
    assert {rich.rule, rich.beta_rule} <= {r["id"] for r in everything["rules"]}


def test_switch_a_rule_off_and_on(url: str, rich: Rich, service: DatabaseService) -> None:
    sudo = next(r for r in service.get_rules() if r.rule_text == "Bash(sudo:*)")
    off = post(url, f"/api/rules/{sudo.id[:8]}/disable", {})
    assert off.status == 200, off.raw
    assert off.json()["rule"]["enabled"] is False
    stored = service.get_rule(sudo.id)
    assert stored is not None and not stored.enabled
    assert sudo.id not in [r.id for r in service.get_rules(include_disabled=False)]  # what the hook loads
    data = call(url, "/api/rules").json()
    assert data["counts"]["disabled"] == 1
    on = post(url, f"/api/rules/{sudo.id}/enable", {})
    assert on.status == 200 and on.json()["rule"]["enabled"] is True
    assert sudo.id in [r.id for r in service.get_rules(include_disabled=False)]
    entries = service.get_audit(entity_type="rule", entity_id=sudo.id)
    assert [(e.action, e.before, e.after) for e in entries][-2:] == [
        ("disable", {"enabled": 1}, {"enabled": 0}),
        ("enable", {"enabled": 0}, {"enabled": 1}),
    ]
    assert post(url, f"/api/rules/{sudo.id}/enable", {"enabled": False}).status == 400
    assert post(url, "/api/rules/zzzzzzzz/disable", {}).status == 404
    assert post(url, f"/api/rules/{sudo.id}/toggle", {}).status == 404


# -- costs over a range ------------------------------------------------------------------------------


def models(data: dict[str, Any]) -> dict[str, float]:
    return {m["model"]: round(m["cost_usd"], 9) for m in data["by_model"]}


def test_cost_range_and_models(url: str, rich: Rich) -> None:
    alpha = rich.seed.alpha
    data = call(url, f"/api/projects/{alpha}/costs").json()  # the last 14 days
    today = date.today()
    first = (today - timedelta(days=13)).isoformat()
    assert data["range"] == {"from": first, "to": today.isoformat(), "days": 14}
    assert models(data) == {"m-1": 1.25, "claude-opus-4-1": 0.5, "claude-sonnet-4-5": 0.25}
    assert (data["range_usd"], data["range_nanousd"]) == (2.0, 2_000_000_000)  # exact, as usage reports
    assert data["range_responses"] == 2  # the metrics; the amount recorded on the session is no response
    opus = next(m for m in data["by_model"] if m["model"] == "claude-opus-4-1")
    assert (opus["tokens"]["input"], opus["responses"], opus["label"]) == (400, 1, "claude-opus-4-1")
    assert sum(d["cost_usd"] for d in data["by_day"]) == pytest.approx(2.0)
    three_ago = (today - timedelta(days=3)).isoformat()
    assert next(d for d in data["by_day"] if d["day"] == three_ago)["cost_usd"] == pytest.approx(0.25)
    assert data["total_usd"] == pytest.approx(2.0)

    one = call(url, f"/api/projects/{alpha}/costs?days=1").json()
    assert models(one) == {"m-1": 1.25, "claude-opus-4-1": 0.5}
    assert one["range_usd"] == pytest.approx(1.75) and len(one["by_day"]) == 1
    span = f"from={three_ago}&to={three_ago}"
    old = call(url, f"/api/projects/{alpha}/costs?{span}").json()
    assert models(old) == {"claude-sonnet-4-5": 0.25}
    assert [s["nerv_session_id"] for s in old["by_session"]] == [rich.seed.session]
    assert old["by_session"][0]["cost_usd"] == pytest.approx(0.25)  # only what fell in the range

    overview = call(url, f"/api/costs?{span}").json()
    assert models(overview) == {"claude-sonnet-4-5": 0.25}
    assert [(p["name"], p["cost_usd"]) for p in overview["projects"]] == [("alpha", pytest.approx(0.25))]
    assert overview["range"]["days"] == 1


def test_a_range_without_usage(url: str, rich: Rich) -> None:
    query = "from=2020-02-01&to=2020-02-29"
    data = call(url, f"/api/projects/{rich.seed.alpha}/costs?{query}").json()
    assert data["range"] == {"from": "2020-02-01", "to": "2020-02-29", "days": 29}
    assert (data["range_usd"], data["range_responses"]) == (0, 0)
    assert (data["by_model"], data["by_session"]) == ([], [])
    assert len(data["by_day"]) == 29 and not any(d["cost_usd"] for d in data["by_day"])
    assert data["total_usd"] == pytest.approx(2.0)  # all time is still all time
    overview = call(url, f"/api/costs?{query}").json()
    assert (overview["projects"], overview["by_model"], overview["range_usd"]) == ([], [], 0)


def test_bad_cost_ranges(url: str, seed: Seed) -> None:
    path = f"/api/projects/{seed.alpha}/costs"
    cases = {
        "days=0": "days must be between 1 and 366",
        "days=367": "days must be between 1 and 366",
        "days=week": "days must be a whole number",
        "from=2026-13-01": "from must be a date (YYYY-MM-DD)",
        "to=tomorrow": "to must be a date",
        "from=2026-02-10&to=2026-02-01": "from (2026-02-10) is after to (2026-02-01)",
        "from=2020-01-01&to=2026-01-01": "at most 366 days",
        "days=7&from=2026-01-01": "either days or from / to",
    }
    for query, message in cases.items():
        for base in (path, "/api/costs"):
            reply = call(url, f"{base}?{query}")
            assert (reply.status, reply.error["code"]) == (400, "invalid"), (base, query, reply.raw)
            assert message in reply.error["message"], (query, reply.raw)


# -- approvals: when each queued call expires -----------------------------------------------------------


def test_pending_requests_say_when_they_expire(url: str, seed: Seed, service: DatabaseService) -> None:
    loose = service.create_request("WebFetch", {"url": "https://example.com"})
    by_id = {r["id"]: r for r in call(url, "/api/approvals").json()["pending"]}
    request = service.get_request(seed.request)
    assert request is not None
    assert by_id[seed.request]["expires_at"] == request.created_at + 50_000  # the default timeout
    service.set_setting("approval.timeout_seconds", 120, project_id=seed.alpha)
    service.set_setting("approval.timeout_seconds", 30)
    by_id = {r["id"]: r for r in call(url, "/api/approvals").json()["pending"]}
    assert by_id[seed.request]["expires_at"] == request.created_at + 120_000  # the project's own
    assert by_id[loose.id]["expires_at"] == loose.created_at + 30_000  # no project: the global one
    # a request the hook filed carries the hook's own deadline (its wait may be capped shorter)
    hooked = service.create_request("Bash", {"command": "make"}, project_id=seed.alpha,
                                    expires_at=now_ms() + 42_000)
    by_id = {r["id"]: r for r in call(url, "/api/approvals").json()["pending"]}
    assert by_id[hooked.id]["expires_at"] == hooked.expires_at
