"""Every endpoint answers every kind of bad request with the one JSON error shape.

The sweep walks the API's own route table, so a new endpoint is covered as soon as it is
registered (and a new POST endpoint fails here until it has a valid body in BODIES).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from test_api import Reply, call
from web_helpers import Rich

from nerv import DatabaseService
from nerv.web import DashboardServer

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The HTTP status each error code comes with (nerv.web.protocol and the server's own).
STATUS_OF = {
    "not_found": 404, "ambiguous_id": 400, "invalid": 400, "conflict": 409, "constraint": 409,
    "method_not_allowed": 405, "bad_json": 400, "bad_request": 400, "unsupported_media_type": 415,
    "length_required": 411,
}
# A body each POST endpoint accepts (by handler name), and its fields with a value of the wrong type.
BODIES: dict[str, dict[str, Any]] = {
    "move_task": {"status": "done"},
    "decide": {"reason": "ok"},
    "create_task": {"title": "a task"},
    "edit_task": {"title": "a task"},
    "switch_rule": {},
}
WRONG_TYPES: dict[str, dict[str, Any]] = {
    "move_task": {"status": 3, "from": ["todo"]},
    "decide": {"reason": 1, "remember": {"x": 1}, "scope": 2},
    "create_task": {"title": 1, "description": 2, "type": [], "status": {}, "cycle_id": 5},
    "edit_task": {"title": [], "description": 2, "type": 1, "status": 0, "cycle_id": {}, "updated_at": "x"},
    "switch_rule": {"enabled": True},  # takes no fields at all
}
# Query parameters some GET endpoints read, each with a value no endpoint accepts.
BAD_QUERY = {
    "days": "0", "from": "2026-99-01", "to": "soon", "recent": "many", "limit": "-1",
    "since": "the dawn of time", "until": "later", "project": "zzzzzzzz", "status": "bogus",
    "entity_id": "zzzzzzzz",
}


def assert_error_shape(reply: Reply, *, status: int | None = None, code: str | None = None) -> dict[str, str]:
    assert reply.status >= 400, reply.raw
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    error = reply.error  # exactly {"error": {"code", "message"}}
    assert isinstance(error["code"], str) and re.fullmatch(r"[a-z_]+", error["code"]), error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    assert "\n" not in error["message"] and "Traceback" not in error["message"], error
    assert STATUS_OF.get(error["code"], reply.status) == reply.status, (reply.status, error)
    if status is not None:
        assert reply.status == status, (reply.status, error)
    if code is not None:
        assert error["code"] == code, error
    return error


def routes(server: DashboardServer) -> list[tuple[str, str, str]]:
    """(method, pattern, handler name) of every endpoint."""
    found = [(r.method, r.pattern.pattern, r.handler.__name__) for r in server.api.routes]
    assert len(found) >= 16, found
    return found


def fill(pattern: str, values: dict[str, str]) -> str:
    """A concrete path for a route pattern: each named group replaced by ``values[name]``."""
    def one(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        if name in values:
            return values[name]
        return body.split("|")[0]  # a choice such as (?P<decision>approve|deny): its first word

    path = re.sub(r"\(\?P<(\w+)>([^)]*)\)", one, pattern)
    assert re.fullmatch(pattern, path), (pattern, path)
    return path


@pytest.fixture
def ids(rich: Rich, service: DatabaseService) -> dict[str, str]:
    """A real id for each path parameter."""
    return {
        "project": rich.seed.alpha,
        "task": rich.seed.tasks["Build the board"],
        "request": rich.seed.request,
        "rule": rich.rule,
    }


def post_raw(url: str, path: str, raw: bytes) -> Reply:
    return call(url, path, method="POST", raw=raw, headers={"Content-Type": "application/json"})


def send(url: str, method: str, path: str, body: Any = None) -> Reply:
    if method == "POST":
        return post_raw(url, path, json.dumps({} if body is None else body).encode())
    return call(url, path, method=method)


def test_every_endpoint_refuses_other_methods(server: DashboardServer, ids: dict[str, str]) -> None:
    table = routes(server)
    for _, pattern, _ in table:
        path = fill(pattern, ids)
        allowed = {m for m, p, _ in table if re.fullmatch(p, path)}
        for other in sorted(set(METHODS) - allowed):
            reply = send(server.url, other, path)
            assert_error_shape(reply, status=405, code="method_not_allowed")
            assert set(reply.headers["Allow"].split(", ")) == allowed, (other, path)


def test_every_endpoint_answers_unknown_and_blank_ids(
    server: DashboardServer, ids: dict[str, str], service: DatabaseService
) -> None:
    audit_rows = len(service.get_audit())
    checked = 0
    for method, pattern, name in routes(server):
        params = re.findall(r"\(\?P<(\w+)>[^)]*\)", pattern)
        for param in (p for p in params if p in ids):
            body = BODIES.get(name) if method == "POST" else None
            if method == "POST":
                assert body is not None, f"add a valid body for {name} to BODIES"
            for raw, shown in (("zzzzzzzz", "zzzzzzzz"), ("%E2%9C%93", "✓"), ("q" * 300, "q" * 300)):
                unknown = send(server.url, method, fill(pattern, {**ids, param: raw}), body)
                error = assert_error_shape(unknown, status=404, code="not_found")
                assert error["message"].endswith(f"not found: {shown}"), error
            blank = send(server.url, method, fill(pattern, {**ids, param: "%20"}), body)
            error = assert_error_shape(blank, status=400, code="invalid")
            assert error["message"].endswith("id must not be empty"), error
            checked += 1
    assert checked >= 10
    assert len(service.get_audit()) == audit_rows  # nothing was written


def test_every_post_refuses_bad_bodies(
    server: DashboardServer, ids: dict[str, str], service: DatabaseService
) -> None:
    url = server.url
    audit_rows = len(service.get_audit())
    posts = [(pattern, name) for method, pattern, name in routes(server) if method == "POST"]
    assert {name for _, name in posts} == set(BODIES) == set(WRONG_TYPES)
    for pattern, name in posts:
        path = fill(pattern, ids)
        deep = b'{"a": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
        for raw in (b"{not json", b"[1, 2]", b'"text"', b"null", b"\xff\xfe", b'{"a": 1e999999}', deep):
            reply = post_raw(url, path, raw)
            error = assert_error_shape(reply)
            assert reply.status == 400, (name, raw[:20], error)
            assert error["code"] in ("bad_json", "invalid", "bad_request"), (name, raw[:20], error)
        unknown = post_raw(url, path, json.dumps({**BODIES[name], "surprise": 1}).encode())
        error = assert_error_shape(unknown, status=400, code="invalid")
        assert "surprise" in error["message"], error
        for field, value in WRONG_TYPES[name].items():
            reply = post_raw(url, path, json.dumps({**BODIES[name], field: value}).encode())
            error = assert_error_shape(reply, status=400, code="invalid")
            assert field in error["message"], (name, field, error)
        form = call(url, path, method="POST", raw=b"title=x", headers={"Content-Type": "text/plain"})
        assert_error_shape(form, status=415, code="unsupported_media_type")
    assert len(service.get_audit()) == audit_rows  # no bad body changed anything


def test_every_get_refuses_bad_query_values(server: DashboardServer, ids: dict[str, str]) -> None:
    """Each GET either ignores a parameter it does not read, or refuses a bad value with the shape."""
    refused: set[str] = set()
    for method, pattern, _ in routes(server):
        if method != "GET":
            continue
        path = fill(pattern, ids)
        assert call(server.url, path).status == 200, path
        for key, value in BAD_QUERY.items():
            reply = call(server.url, f"{path}?{key}={value.replace(' ', '%20')}")
            if reply.status == 200:
                assert "error" not in reply.json(), (path, key)
                continue
            assert_error_shape(reply)
            assert reply.status in (400, 404), (path, key, reply.raw)
            refused.add(key)
    assert refused == set(BAD_QUERY)  # every parameter is read, and checked, by some endpoint


def test_every_task_endpoint_refuses_an_ambiguous_prefix(
    server: DashboardServer, ids: dict[str, str], rich: Rich, service: DatabaseService
) -> None:
    task_ids = list(rich.seed.tasks.values())
    while len({i[0] for i in task_ids}) == len(task_ids):  # until two task ids share a first character
        task_ids.append(service.create_task(rich.seed.alpha, f"filler {len(task_ids)}").id)
    shared = next(i[0] for i in task_ids if sum(j[0] == i[0] for j in task_ids) > 1)
    audit_rows = len(service.get_audit())
    checked = 0
    for method, pattern, name in routes(server):
        if "(?P<task>" not in pattern:
            continue
        reply = send(server.url, method, fill(pattern, {**ids, "task": shared}), BODIES.get(name))
        error = assert_error_shape(reply, status=400, code="ambiguous_id")
        assert f"task id prefix {shared!r} is ambiguous" in error["message"], error
        checked += 1
    assert checked == 3  # open, edit, move
    assert len(service.get_audit()) == audit_rows
