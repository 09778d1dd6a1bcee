"""Fixtures for the dashboard tests: a seeded database and the real server (thread or subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nerv import DatabaseService
from nerv.web import DashboardServer, make_server


@dataclass
class Seed:
    alpha: str  # project ids
    beta: str
    tasks: dict[str, str]  # title -> id (project alpha)
    session: str
    request: str  # a pending approval request (project alpha)


@pytest.fixture
def seed(service: DatabaseService) -> Seed:
    """Two projects; alpha has a task in each column, a session with a cost, a pending request."""
    alpha = service.create_project("alpha", goal="ship the dashboard")
    beta = service.create_project("beta")
    tasks = {}
    for title, status, kind in (
        ("Write the parser", "todo", "implementation"),
        ("Document the API", "todo", "docs"),
        ("Build the board", "in_progress", "implementation"),
        ("Flaky login test", "interrupted", "bug-fix"),
        ("Review the schema", "review", "research"),
        ("Set up CI", "done", "chore"),
    ):
        tasks[title] = service.create_task(alpha.id, title, status=status, type=kind).id
    service.create_task(beta.id, "Beta only task")
    session = service.create_session(
        alpha.id, tasks["Build the board"], cost_usd=1.25, tokens_input=1000, tokens_output=200, model="claude-x"
    )
    service.use_project(alpha.id)
    request = service.create_request(
        "Bash", {"command": "npm test -- --ci", "description": "run the tests"}, project_id=alpha.id, cwd="/tmp"
    )
    return Seed(alpha.id, beta.id, tasks, session.id, request.id)


@pytest.fixture
def server(db_path: Path, nerv_home: Path) -> Iterator[DashboardServer]:
    """The real dashboard server on a free port, serving from a background thread."""
    srv = make_server(db_path, port=0)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        thread.join(timeout=10)
        srv.server_close()


@dataclass
class WebProcess:
    url: str
    proc: subprocess.Popen[str]


def start_web(db_path: Path, *args: str, timeout: float = 20.0) -> WebProcess:
    """``python -m nerv --db PATH web --port 0 ARGS`` as a subprocess; its URL read from stderr."""
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "web", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("nerv dashboard: "):
            return WebProcess(line.removeprefix("nerv dashboard: ").strip(), proc)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"nerv web did not start (exit {proc.returncode}): {err}")


def stop_web(web: WebProcess) -> tuple[int, str]:
    """SIGTERM, then the exit code and the rest of stderr."""
    web.proc.terminate()
    try:
        _, err = web.proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        web.proc.kill()
        _, err = web.proc.communicate()
    return web.proc.returncode, err


@pytest.fixture
def web_process(db_path: Path, seed: Seed) -> Iterator[WebProcess]:
    """The seeded database served by a real ``nerv web`` subprocess."""
    web = start_web(db_path)
    try:
        yield web
    finally:
        stop_web(web)
