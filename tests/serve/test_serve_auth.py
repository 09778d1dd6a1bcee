"""The token and the local-only defences of nerv serve."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import get, post

from nerv import DatabaseService
from nerv.errors import NervError
from nerv.serve import token as tokens
from nerv.serve.server import ControlServer

DENIED_CALL = {"hook_event_name": "PreToolUse", "session_id": "auth-1", "cwd": "/tmp", "tool_name": "Bash",
               "tool_input": {"command": "sudo true"}}
SESSION_START = {"hook_event_name": "SessionStart", "session_id": "auth-2", "cwd": "/tmp"}


def _counts(db_path: Path) -> list[int]:
    conn = sqlite3.connect(db_path)
    try:
        return [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("audit_log", "claude_sessions", "metrics")]
    finally:
        conn.close()


def test_token_is_created_once_private_and_kept(control: ControlServer, nerv_home: Path) -> None:
    path = nerv_home / "serve.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == control.hook_token and len(control.hook_token) >= 40
    assert tokens.load_or_create() == control.hook_token  # a second start reuses it


def test_a_token_file_others_can_read_is_refused(nerv_home: Path) -> None:
    token = tokens.load_or_create()
    os.chmod(nerv_home / "serve.token", 0o644)
    with pytest.raises(NervError, match="readable by other users"):
        tokens.load_or_create()
    assert tokens.read_token() == token


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer wrong", "Basic abc", "bearer x y"])
def test_missing_or_wrong_token_gets_401_and_changes_nothing(
    control: ControlServer, db_path: Path, authorization: str | None
) -> None:
    before = _counts(db_path)
    headers = {} if authorization is None else {"Authorization": authorization}
    for path, body in (("/hooks/claude", SESSION_START), ("/hooks/claude", DENIED_CALL),
                       ("/v1/logs", {"resourceLogs": []})):
        reply = post(control.url, path, body, headers=headers)
        assert reply.status == 401, reply.body
        assert reply.json()["error"]["code"] == "unauthorized"
        assert reply.headers["www-authenticate"].startswith("Bearer")
    assert _counts(db_path) == before
    assert control.activity.snapshot() == {}  # not even the in-memory activity moved


def test_the_right_token_is_accepted_and_the_event_recorded(control: ControlServer, db_path: Path) -> None:
    before = _counts(db_path)
    reply = post(control.url, "/hooks/claude", SESSION_START, token=control.hook_token)
    assert reply.status == 200 and reply.body == b""
    assert _counts(db_path)[1] == before[1] + 1
    reply = post(control.url, "/hooks/claude", DENIED_CALL, token=control.hook_token)
    assert reply.json()["hookSpecificOutput"]["permissionDecision"] == "deny"


def test_foreign_host_cross_origin_and_wrong_method_are_refused(control: ControlServer) -> None:
    port = control.port
    reply = post(control.url, "/hooks/claude", DENIED_CALL, token=control.hook_token,
                 headers={"Host": f"evil.example:{port}"})
    assert reply.status == 403 and reply.json()["error"]["code"] == "forbidden_host"
    reply = post(control.url, "/hooks/claude", DENIED_CALL, token=control.hook_token,
                 headers={"Origin": "https://evil.example"})
    assert reply.status == 403 and reply.json()["error"]["code"] == "cross_origin"
    reply = post(control.url, "/hooks/claude", DENIED_CALL, token=control.hook_token,
                 headers={"Content-Type": "text/plain"})
    assert reply.status == 415
    assert get(control.url, "/hooks/claude").status == 405
    # The dashboard is still there, on the same server, and the token stays out of every page.
    page = get(control.url, "/")
    assert page.status == 200 and control.hook_token.encode() not in page.body
    assert control.hook_token.encode() not in get(control.url, "/api/health").body


def test_off_loopback_every_request_needs_the_token(db_path: Path, nerv_home: Path) -> None:
    from nerv.serve.server import make_control_server

    DatabaseService(db_path).close()
    srv = make_control_server(db_path, host="0.0.0.0", port=0)
    import threading

    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        url = srv.url
        browser_token = (nerv_home / "web-token").read_text().strip()
        assert srv.token == browser_token and browser_token != srv.hook_token
        for path in ("/api/health", "/", "/?token=wrong", "/api/events", "/api/live"):
            assert get(url, path).status == 401, path
            assert get(url, path, {"Authorization": f"Bearer {srv.hook_token}"}).status == 401, path
        auth = {"Authorization": f"Bearer {browser_token}"}
        assert get(url, "/api/health", auth).status == 200
        assert get(url, "/api/live", auth).json()["sessions"] == {}
        login = get(url, f"/?token={browser_token}")
        assert login.status == 303 and "HttpOnly" in login.headers["set-cookie"]
        cookie = login.headers["set-cookie"].split(";")[0]
        assert get(url, "/api/health", {"Cookie": cookie}).status == 200
        # Claude Code's endpoints take their own token, and only it.
        call = {**DENIED_CALL}
        assert post(url, "/hooks/claude", call, token=browser_token).status == 401
        reply = post(url, "/hooks/claude", call, token=srv.hook_token)
        assert reply.json()["hookSpecificOutput"]["permissionDecision"] == "deny"
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        srv.server_close()


def test_nerv_serve_and_its_web_alias_start_print_the_url_and_stop(db_path: Path) -> None:
    for command in ("serve", "web"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "nerv", "--db", str(db_path), command, "--port", "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert proc.stderr is not None
        try:
            line = proc.stderr.readline()
            assert line.startswith("nerv dashboard: http://127.0.0.1:"), line
            url = line.split(": ", 1)[1].strip()
            assert "hooks/claude" in proc.stderr.readline()
            token = (db_path.parent / "serve.token").read_text().strip()
            reply = post(url, "/hooks/claude", DENIED_CALL, token=token)
            assert json.loads(reply.body)["hookSpecificOutput"]["permissionDecision"] == "deny"
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and "stopped" in err


def test_a_port_in_use_is_one_line_and_exit_1(control: ControlServer, db_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "serve", "--port", str(control.port)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1 and result.stderr.startswith("nerv: error: cannot listen"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 60


def test_stopping_the_server_denies_the_calls_it_holds(db_path: Path, nerv_home: Path) -> None:
    """A queued call waiting in the server when it stops gets deny (and its request is expired),
    never a cut connection, which Claude Code would treat as a non-blocking error and run the call."""
    import threading

    with DatabaseService(db_path) as service:
        service.set_setting("approval.mode", "queue")
        service.set_setting("approval.timeout_seconds", 60)
    proc = subprocess.Popen([sys.executable, "-m", "nerv", "--db", str(db_path), "serve", "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    url = proc.stderr.readline().split(": ", 1)[1].strip()
    token = (nerv_home / "serve.token").read_text().strip()
    call = {**DENIED_CALL, "tool_input": {"command": "make release"}}
    replies: list[Any] = []
    waiter = threading.Thread(target=lambda: replies.append(post(url, "/hooks/claude", call, token=token)))
    waiter.start()
    try:
        with DatabaseService(db_path) as service:
            for _ in range(600):
                if service.get_requests(status="pending"):
                    break
                time.sleep(0.05)
            (held,) = service.get_requests(status="pending")
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    waiter.join(timeout=30)
    (reply,) = replies
    out = reply.json()["hookSpecificOutput"]
    assert out["permissionDecision"] == "deny" and held.id[:8] in out["permissionDecisionReason"]
    with DatabaseService(db_path) as service:
        stored = service.get_request(held.id)
    assert stored is not None and stored.status == "expired"
    assert stored.reason == "nerv serve stopped before a decision"


def test_oversized_chunked_or_unsized_bodies_are_refused(control: ControlServer) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(control.url)
    auth = {"Authorization": f"Bearer {control.hook_token}", "Content-Type": "application/json"}
    cases = (({"Content-Length": str(64 * 1024 * 1024)}, 413), ({"Transfer-Encoding": "chunked"}, 411),
             ({}, 411), ({"Content-Length": "-3"}, 400))
    for extra, status in cases:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
        try:
            conn.putrequest("POST", "/hooks/claude")
            for name, value in {**auth, **extra}.items():
                conn.putheader(name, value)
            conn.endheaders()
            assert conn.getresponse().status == status, extra
        finally:
            conn.close()


def test_install_service_writes_a_user_unit(db_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "xdg"
    result = subprocess.run(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "serve", "--install-service", "--port", "8799"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "XDG_CONFIG_HOME": str(config)},
    )
    assert result.returncode == 0, result.stderr
    unit = (config / "systemd" / "user" / "nerv-serve.service").read_text()
    assert f"-m nerv --db {db_path} serve --host 127.0.0.1 --port 8799" in unit
    assert "systemctl --user enable --now nerv-serve" in result.stdout
