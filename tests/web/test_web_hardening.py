"""The dashboard off loopback, and hostile clients (issue 9, faults 8 and 9).

Off-loopback listening needs the access token for every request (401 otherwise, nothing
changes); nested bodies and numbers out of range are 400, not 500; a slow client is
disconnected.
"""

from __future__ import annotations

import http.client
import json
import socket
import stat
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from web_helpers import Seed, start_web, stop_web

from nerv import DatabaseService
from nerv.web import DashboardServer
from nerv.web.server import DashboardHandler


def _request(
    base: str, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    sent = dict(headers or {})
    if data is not None:
        sent = {"Content-Type": "application/json", **sent}
    try:
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _audit_rows(db_path: Path) -> int:
    with DatabaseService(db_path) as svc:
        return int(svc.connection.execute("SELECT count(*) FROM audit_log").fetchone()[0])


# -- fault 9: a token off loopback -------------------------------------------------------------


def test_off_loopback_every_request_needs_the_token(
    db_path: Path, nerv_home: Path, seed: Seed, service: DatabaseService
) -> None:
    web = start_web(db_path, "--host", "0.0.0.0")
    try:
        assert web.proc.stderr is not None
        notice = web.proc.stderr.readline()
        token_file = nerv_home / "web-token"
        token = token_file.read_text().strip()
        assert len(token) >= 32 and token in notice and "shown once" in notice
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        before = _audit_rows(db_path)
        approve = f"/api/approvals/{seed.request}/approve"
        for method, path, body in [
            ("GET", "/", None),
            ("GET", "/static/app.js", None),
            ("GET", "/api/projects", None),
            ("POST", approve, {}),
            ("POST", f"/api/tasks/{seed.tasks['Write the parser']}/move", {"status": "done"}),
        ]:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "nerv_token=wrong"}):
                status, _, raw = _request(web.url, method, path, body=body, headers=headers)
                assert status == 401, (method, path, headers)
                assert json.loads(raw)["error"]["code"] == "unauthorized"
        assert _audit_rows(db_path) == before  # nothing changed
        assert service.get_request(seed.request).status == "pending"  # type: ignore[union-attr]

        bearer = {"Authorization": f"Bearer {token}"}
        status, _, raw = _request(web.url, "GET", "/api/projects", headers=bearer)
        assert status == 200 and json.loads(raw)
        # the browser way: /?token=T sets a cookie, then the page and its calls work
        status, headers, _ = _request(web.url, "GET", f"/?token={token}")
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"].split(";", 1)[0]
        assert "HttpOnly" in headers["set-cookie"] and "SameSite=Strict" in headers["set-cookie"]
        status, _, page = _request(web.url, "GET", "/", headers={"Cookie": cookie})
        assert status == 200 and b"<html" in page.lower()
        status, _, _ = _request(web.url, "POST", approve, body={}, headers={"Cookie": cookie})
        assert status == 200
        assert service.get_request(seed.request).status == "approved"  # type: ignore[union-attr]
        assert _request(web.url, "GET", "/?token=wrong")[0] == 401
    finally:
        stop_web(web)
    # a second run reuses the token and does not show it again
    again = start_web(db_path, "--host", "0.0.0.0")
    try:
        assert again.proc.stderr is not None
        notice = again.proc.stderr.readline()
        assert token not in notice and str(nerv_home / "web-token") in notice
        bearer = {"Authorization": f"Bearer {token}"}
        status, _, _ = _request(again.url, "GET", "/api/projects", headers=bearer)
        assert status == 200
    finally:
        stop_web(again)


def test_loopback_needs_no_token(db_path: Path, nerv_home: Path, seed: Seed) -> None:
    web = start_web(db_path)
    try:
        assert _request(web.url, "GET", "/api/projects")[0] == 200
    finally:
        stop_web(web)
    assert not (nerv_home / "web-token").exists()


def test_make_server_refuses_off_loopback_without_a_token(db_path: Path, nerv_home: Path) -> None:
    from nerv.errors import NervError
    from nerv.web import make_server

    with pytest.raises(NervError, match="needs an access token"):
        make_server(db_path, host="0.0.0.0", port=0)


# -- fault 8: hostile bodies and slow clients ---------------------------------------------------


def test_nested_bodies_and_out_of_range_numbers_are_400(
    server: DashboardServer, seed: Seed, service: DatabaseService
) -> None:
    deep = b'{"status": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    task = seed.tasks["Write the parser"]
    status, _, raw = _request(server.url, "POST", f"/api/tasks/{task}/move", body=deep)
    assert status == 400 and json.loads(raw)["error"]["code"] == "bad_json"
    for path in ("/api/audit?since=" + "9" * 40, "/api/audit?limit=" + "9" * 40):
        status, _, raw = _request(server.url, "GET", path)
        assert status == 400, (path, raw)
    assert service.get_task(task).status == "todo"  # type: ignore[union-attr]


def test_a_slow_client_is_disconnected(
    server: DashboardServer, seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardHandler, "timeout", 0.5)
    host, port = server.server_address[:2]
    with socket.create_connection((str(host), int(port)), timeout=10) as slow:
        slow.sendall(b"GET /api/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finishes its headers
        started = time.monotonic()
        data = slow.recv(4096)
        while data:
            data = slow.recv(4096)
        assert time.monotonic() - started < 9  # closed by the server, not by our own timeout
    # the server still answers everyone else
    assert _request(server.url, "GET", "/api/projects")[0] == 200
