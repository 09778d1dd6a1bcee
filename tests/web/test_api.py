"""The dashboard's JSON API over real HTTP: a real server, a real database file, urllib."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Seed, start_web, stop_web

from nerv import DatabaseService
from nerv.errors import DatabaseError
from nerv.web import DashboardServer


class Reply:
    def __init__(self, status: int, body: bytes, headers: Any) -> None:
        self.status = status
        self.raw = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> dict[str, str]:
        data = self.json()
        assert set(data) == {"error"}, data
        assert set(data["error"]) == {"code", "message"}, data
        return dict(data["error"])


def call(
    base: str,
    path: str,
    *,
    method: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # generous: CI machines get busy
            return Reply(response.status, response.read(), response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return Reply(exc.code, exc.read(), exc.headers)


def post(base: str, path: str, body: Any, **kwargs: Any) -> Reply:
    return call(base, path, method="POST", body=body, **kwargs)


@pytest.fixture
def url(server: DashboardServer, seed: Seed) -> str:
    return server.url


# -- reads ------------------------------------------------------------------------------------


def test_health(url: str, db_path: Path) -> None:
    reply = call(url, "/api/health")
    assert reply.status == 200
    data = reply.json()
    assert data["status"] == "ok"
    assert data["db"] == str(db_path)
    assert data["pending_approvals"] == 1
    assert data["actor"] == "test"  # $NERV_ACTOR
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.headers["Cache-Control"] == "no-store"
    assert "Access-Control-Allow-Origin" not in reply.headers


def test_projects_with_counts_costs_and_the_current_one(url: str, seed: Seed) -> None:
    data = call(url, "/api/projects").json()
    assert data["default_project_id"] == seed.alpha  # the project chosen with use_project
    by_name = {p["name"]: p for p in data["projects"]}
    assert list(by_name) == ["alpha", "beta"]
    alpha = by_name["alpha"]
    assert alpha["id"] == seed.alpha and alpha["short_id"] == seed.alpha[:8]
    assert alpha["task_counts"] == {"todo": 2, "in_progress": 1, "interrupted": 1, "review": 1, "done": 1}
    assert alpha["cost_usd"] == pytest.approx(1.25)
    assert alpha["pending_approvals"] == 1
    assert by_name["beta"]["task_counts"]["todo"] == 1


def test_board_groups_the_tasks_by_status(url: str, seed: Seed) -> None:
    data = call(url, f"/api/projects/{seed.alpha[:6]}/board").json()  # a unique prefix will do
    assert data["project"]["id"] == seed.alpha
    assert data["statuses"] == ["todo", "in_progress", "interrupted", "review", "done"]
    titles = {status: [t["title"] for t in tasks] for status, tasks in data["columns"].items()}
    assert titles == {
        "todo": ["Write the parser", "Document the API"],
        "in_progress": ["Build the board"],
        "interrupted": ["Flaky login test"],
        "review": ["Review the schema"],
        "done": ["Set up CI"],
    }
    card = data["columns"]["todo"][1]
    assert card["type"] == "docs"
    assert card["short_id"] == card["id"][:8]


def test_unknown_project_is_404(url: str) -> None:
    reply = call(url, "/api/projects/zzzzzzzz/board")
    assert reply.status == 404
    assert reply.error == {"code": "not_found", "message": "project not found: zzzzzzzz"}


def test_approval_queue(url: str, seed: Seed, service: DatabaseService) -> None:
    other = service.create_request("WebFetch", {"url": "https://example.com/a"})
    done = service.create_request("Read", {"file_path": "/etc/hosts"}, project_id=seed.beta)
    service.decide_request(done.id, "denied", reason="no")
    data = call(url, "/api/approvals").json()
    assert [r["id"] for r in data["pending"]] == [seed.request, other.id]  # oldest first
    first = data["pending"][0]
    assert first["tool_name"] == "Bash"
    assert first["summary"] == "npm test -- --ci"
    assert first["tool_input"] == {"command": "npm test -- --ci", "description": "run the tests"}
    assert first["project_name"] == "alpha"
    assert "Bash(npm test:*)" in first["suggestions"]
    assert data["pending"][1]["project_name"] is None
    assert [r["id"] for r in data["recent"]] == [done.id]
    assert data["recent"][0]["status"] == "denied"
    assert isinstance(data["now"], int)
    # one project's queue; no recent ones
    only = call(url, f"/api/approvals?project={seed.beta}&recent=0").json()
    assert only == {"now": only["now"], "pending": [], "recent": []}
    beta = call(url, f"/api/approvals?project={seed.beta[:8]}").json()
    assert (beta["pending"], [r["id"] for r in beta["recent"]]) == ([], [done.id])
    alpha = call(url, f"/api/approvals?project={seed.alpha}").json()
    assert ([r["id"] for r in alpha["pending"]], alpha["recent"]) == ([seed.request], [])
    assert call(url, "/api/approvals?recent=lots").status == 400


def test_project_costs(url: str, seed: Seed, service: DatabaseService) -> None:
    service.record_metric(seed.session, model="claude-x", input_tokens=10, output_tokens=5, cost_usd=0.5)
    data = call(url, f"/api/projects/{seed.alpha}/costs?days=7").json()
    assert data["source"] == "usage"
    assert data["total_usd"] == pytest.approx(1.75)
    assert data["today_usd"] == pytest.approx(1.75)
    assert data["month_usd"] == pytest.approx(1.75)
    assert len(data["by_day"]) == 7
    assert data["by_day"][-1]["cost_usd"] == pytest.approx(1.75)
    assert sum(d["cost_usd"] for d in data["by_day"][:-1]) == 0
    [session] = data["by_session"]
    assert session["nerv_session_id"] == seed.session
    assert session["cost_usd"] == pytest.approx(1.75)
    assert session["task_title"] == "Build the board"
    assert call(url, f"/api/projects/{seed.alpha}/costs?days=0").status == 400

    overview = call(url, "/api/costs").json()
    assert overview["today_usd"] == pytest.approx(1.75)
    assert [(p["name"], p["cost_usd"]) for p in overview["projects"]] == [("alpha", pytest.approx(1.75))]


def test_audit_trail_filters(url: str, seed: Seed, service: DatabaseService) -> None:
    data = call(url, "/api/audit?limit=3").json()
    assert len(data["entries"]) == 3
    ats = [e["at"] for e in data["entries"]]
    assert ats == sorted(ats, reverse=True)  # newest first
    assert data["entries"][0]["entity_type"] == "approval_request"
    assert "task" in data["entity_types"]

    tasks = call(url, "/api/audit?entity=task&limit=500").json()["entries"]
    assert len(tasks) == 7 and {e["entity_type"] for e in tasks} == {"task"}
    assert tasks[-1]["summary"] == "title: Write the parser"

    task_id = seed.tasks["Set up CI"]
    one = call(url, f"/api/audit?entity=task&entity_id={task_id[:7]}").json()["entries"]
    assert [e["entity_id"] for e in one] == [task_id]

    assert call(url, "/api/audit?since=2h").json()["entries"]
    future = int(time.time() * 1000) + 3_600_000
    assert call(url, f"/api/audit?since={future}").json()["entries"] == []
    assert call(url, "/api/audit?since=yesterday-ish").error["code"] == "invalid"
    assert call(url, "/api/audit?limit=0").status == 400
    assert call(url, "/api/audit?entity_id=zzzzzz").status == 404


# -- writes -----------------------------------------------------------------------------------


def test_move_task_changes_the_database_and_is_audited(
    url: str, seed: Seed, service: DatabaseService
) -> None:
    task_id = seed.tasks["Write the parser"]
    reply = post(url, f"/api/tasks/{task_id}/move", {"status": "review", "from": "todo"})
    assert reply.status == 200
    data = reply.json()
    assert data["previous_status"] == "todo"
    assert data["task"]["status"] == "review"
    task = service.get_task(task_id)
    assert task is not None and task.status == "review"
    [entry] = service.get_audit(entity_type="task", entity_id=task_id, newest_first=True, limit=1)
    assert (entry.action, entry.actor, entry.before, entry.after) == (
        "move", "test", {"status": "todo"}, {"status": "review"}
    )
    # the board shows it
    board = call(url, f"/api/projects/{seed.alpha}/board").json()
    assert task_id in [t["id"] for t in board["columns"]["review"]]


def test_move_task_errors(url: str, seed: Seed, service: DatabaseService) -> None:
    task_id = seed.tasks["Build the board"]
    path = f"/api/tasks/{task_id}/move"
    cases = [
        (post(url, path, {"status": "sideways"}), 400, "invalid"),
        (post(url, path, {}), 400, "invalid"),
        (post(url, path, {"status": 3}), 400, "invalid"),
        (post(url, path, {"status": "done", "colour": "red"}), 400, "invalid"),
        (post(url, path, {"status": "done", "from": "todo"}), 409, "conflict"),  # a stale view
        (post(url, "/api/tasks/zzzzzzzz/move", {"status": "done"}), 404, "not_found"),
        (post(url, path, [1, 2]), 400, "bad_json"),
        (call(url, path, method="POST", raw=b"{not json", headers={"Content-Type": "application/json"}), 400,
         "bad_json"),
    ]
    for reply, status, code in cases:
        assert (reply.status, reply.error["code"]) == (status, code), reply.raw
    assert "sideways" in cases[0][0].error["message"]
    task = service.get_task(task_id)
    assert task is not None and task.status == "in_progress"
    assert not [e for e in service.get_audit(entity_type="task", entity_id=task_id) if e.action == "move"]


def test_blank_and_ambiguous_ids_are_400(url: str, seed: Seed, service: DatabaseService) -> None:
    blank = post(url, "/api/tasks/%20/move", {"status": "done"})  # path segments are URL-decoded
    assert blank.status == 400 and blank.error == {"code": "invalid", "message": "task id must not be empty"}
    ids = list(seed.tasks.values())
    while len({i[0] for i in ids}) == len(ids):  # until two task ids share a first character
        ids.append(service.create_task(seed.alpha, f"filler {len(ids)}").id)
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    ambiguous = post(url, f"/api/tasks/{shared}/move", {"status": "done"})
    assert ambiguous.status == 400 and ambiguous.error["code"] == "ambiguous_id"


def test_posts_must_be_json(url: str, seed: Seed, service: DatabaseService) -> None:
    task_id = seed.tasks["Set up CI"]
    form = call(
        url, f"/api/tasks/{task_id}/move", method="POST", raw=b"status=todo",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status == 415 and form.error["code"] == "unsupported_media_type"
    plain = call(url, f"/api/tasks/{task_id}/move", method="POST", raw=b'{"status": "todo"}',
                 headers={"Content-Type": "text/plain"})
    assert plain.status == 415
    big = call(url, f"/api/tasks/{task_id}/move", method="POST", raw=b" " * 70_000,
               headers={"Content-Type": "application/json"})
    assert big.status == 413 and big.error["code"] == "too_large"
    task = service.get_task(task_id)
    assert task is not None and task.status == "done"


def test_cross_origin_posts_are_refused(url: str, seed: Seed, service: DatabaseService) -> None:
    task_id = seed.tasks["Set up CI"]
    path = f"/api/tasks/{task_id}/move"
    evil = post(url, path, {"status": "todo"}, headers={"Origin": "http://evil.example"})
    assert evil.status == 403 and evil.error["code"] == "cross_origin"
    null = post(url, path, {"status": "todo"}, headers={"Origin": "null"})
    assert null.status == 403
    site = post(url, path, {"status": "todo"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert site.status == 403
    approve = post(url, f"/api/approvals/{seed.request}/approve", {}, headers={"Origin": "http://evil.example"})
    assert approve.status == 403
    task = service.get_task(task_id)
    assert task is not None and task.status == "done"
    request = service.get_request(seed.request)
    assert request is not None and request.status == "pending"
    # the dashboard's own page: same origin
    own = url.rstrip("/")
    ok = post(url, path, {"status": "review"}, headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})
    assert ok.status == 200, ok.raw


def test_foreign_host_names_are_refused(url: str, server: DashboardServer) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    reply = call(url, "/api/health", headers={"Host": f"evil.example:{server.port}"})
    assert reply.status == 403 and reply.error["code"] == "forbidden_host"
    assert call(url, "/", headers={"Host": f"evil.example:{server.port}"}).status == 403
    assert call(url, "/api/health", headers={"Host": f"localhost:{server.port}"}).status == 200


def test_approve_and_deny(url: str, seed: Seed, service: DatabaseService) -> None:
    reply = post(url, f"/api/approvals/{seed.request[:8]}/approve", {"reason": "looks fine"})
    assert reply.status == 200, reply.raw
    data = reply.json()
    assert data["request"]["status"] == "approved" and data["rule"] is None
    request = service.get_request(seed.request)
    assert request is not None
    assert (request.status, request.reason, request.decided_by) == ("approved", "looks fine", "test")
    [entry] = [e for e in service.get_audit(entity_id=seed.request) if e.action == "approve"]
    assert entry.actor == "test"

    again = post(url, f"/api/approvals/{seed.request}/deny", {})
    assert again.status == 409 and again.error["code"] == "conflict"
    assert "already approved" in again.error["message"]

    other = service.create_request("Bash", {"command": "rm -rf /"}, project_id=seed.alpha)
    denied = post(url, f"/api/approvals/{other.id}/deny", {})
    assert denied.status == 200 and denied.json()["request"]["status"] == "denied"
    recent = call(url, "/api/approvals").json()["recent"]
    assert [r["id"] for r in recent][:2] == [other.id, seed.request]
    assert post(url, "/api/approvals/zzzzzzzz/approve", {}).status == 404
    assert post(url, f"/api/approvals/{other.id}/maybe", {}).status == 404


def test_remembering_a_rule_with_the_decision(url: str, seed: Seed, service: DatabaseService) -> None:
    reply = post(url, f"/api/approvals/{seed.request}/approve", {"remember": "Bash(npm test:*)"})
    assert reply.status == 200, reply.raw
    rule = reply.json()["rule"]
    assert (rule["rule"], rule["action"], rule["project_id"]) == ("Bash(npm test:*)", "allow", seed.alpha)
    stored = service.get_rule(rule["id"])
    assert stored is not None and stored.enabled
    assert [e.action for e in service.get_audit(entity_type="rule", entity_id=rule["id"])] == ["create"]

    # no project: only a global rule can be remembered
    loose = service.create_request("WebFetch", {"url": "https://example.com/x"})
    refused = post(url, f"/api/approvals/{loose.id}/deny", {"remember": "WebFetch(domain:example.com)"})
    assert refused.status == 400
    glob = post(url, f"/api/approvals/{loose.id}/deny",
                {"remember": "WebFetch(domain:example.com)", "scope": "global"})
    assert glob.status == 200, glob.raw
    assert glob.json()["rule"]["project_id"] is None and glob.json()["rule"]["action"] == "deny"


def test_a_failed_rule_rolls_the_decision_back(url: str, seed: Seed, service: DatabaseService) -> None:
    """Decision and rule are one transaction: a bad rule leaves the request pending."""
    bad = post(url, f"/api/approvals/{seed.request}/approve", {"remember": "Bash(unclosed"})
    assert bad.status == 400 and bad.error["code"] == "invalid"
    scope = post(url, f"/api/approvals/{seed.request}/approve", {"remember": "Bash(x)", "scope": "world"})
    assert scope.status == 400
    request = service.get_request(seed.request)
    assert request is not None and request.status == "pending"
    assert not [e for e in service.get_audit(entity_id=seed.request) if e.action == "approve"]


def test_remembering_an_existing_rule_approves_like_the_cli(
    url: str, seed: Seed, service: DatabaseService
) -> None:
    """The dashboard calls decide_request as `nerv approvals approve --always` does: an
    identical rule that exists is kept, the decision stands (it used to roll back, 409)."""
    existing = service.create_rule_from_text("Bash(npm ci)", "allow", project_id=seed.alpha)
    dup = post(url, f"/api/approvals/{seed.request}/approve", {"remember": "Bash(npm ci)"})
    assert dup.status == 200, dup.raw
    assert dup.json()["request"]["status"] == "approved" and dup.json()["rule"]["id"] == existing.id
    assert [e.action for e in service.get_audit(entity_type="rule", entity_id=existing.id)] == ["create"]


# -- HTTP details --------------------------------------------------------------------------------


def test_routing_errors(url: str) -> None:
    missing = call(url, "/api/nothing")
    assert missing.status == 404 and missing.error["code"] == "not_found"
    wrong = call(url, "/api/health", method="POST", body={})
    assert wrong.status == 405 and wrong.error["code"] == "method_not_allowed"
    assert wrong.headers["Allow"] == "GET"
    get_write = call(url, "/api/tasks/abc/move")
    assert get_write.status == 405 and get_write.headers["Allow"] == "POST"
    options = call(url, "/api/tasks/abc/move", method="OPTIONS")  # a CORS preflight gets no CORS headers
    assert options.status == 405
    assert not [h for h in options.headers if h.lower().startswith("access-control")]
    assert call(url, "/api/health", method="DELETE").status == 405
    page = call(url, "/nope.html")
    assert page.status == 404 and page.error["code"] == "not_found"


def test_static_ui(url: str) -> None:
    index = call(url, "/")
    assert index.status == 200
    assert index.headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/static/app.js"' in index.raw
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert index.headers["X-Frame-Options"] == "DENY"
    script = call(url, "/static/app.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert b"innerHTML" not in script.raw  # user text only ever goes in as text
    assert call(url, "/static/app.css").headers["Content-Type"].startswith("text/css")
    head = call(url, "/", method="HEAD")
    assert head.status == 200 and head.raw == b""


def test_malformed_http_gets_the_json_error_shape(server: DashboardServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"BREW /pot HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 501")
    assert json.loads(body)["error"]["code"] == "not_implemented"


def test_unexpected_errors_are_500_without_details(
    url: str, server: DashboardServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(server.api.service, "get_projects", boom)
    reply = call(url, "/api/projects")
    assert reply.status == 500
    assert reply.error["code"] == "internal"
    assert b"secret" not in reply.raw and b"Traceback" not in reply.raw
    assert "secret internals" in capsys.readouterr().err  # the server's log has it

    def busy() -> None:
        raise DatabaseError("database is busy")

    monkeypatch.setattr(server.api.service, "get_projects", busy)
    reply = call(url, "/api/projects")
    assert (reply.status, reply.error["code"]) == (503, "database_unavailable")


# -- the command ------------------------------------------------------------------------------


def test_nerv_web_command(db_path: Path, seed: Seed) -> None:
    web = start_web(db_path, "--project", seed.beta[:8])
    try:
        assert web.url.startswith("http://127.0.0.1:")
        assert call(web.url, "/api/health").json()["status"] == "ok"
        assert call(web.url, "/api/projects").json()["default_project_id"] == seed.beta
        moved = post(web.url, f"/api/tasks/{seed.tasks['Set up CI']}/move", {"status": "review"})
        assert moved.status == 200
    finally:
        code, err = stop_web(web)
    assert code == 0, err
    assert "stopped" in err and "Traceback" not in err


def test_nerv_web_errors_are_one_line(db_path: Path, seed: Seed) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "web", "--port", "0", "--project", "zzzz"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stderr == "nerv: error: project not found: zzzz\n"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "nerv", "--db", str(db_path), "web", "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"nerv: error: cannot listen on 127.0.0.1:{port}: ")
    assert proc.stderr.count("\n") == 1


def test_web_is_listed_in_help(invoke: Any) -> None:
    result = invoke("--help")
    assert "web" in result.stdout and "Serve the local dashboard." in result.stdout
