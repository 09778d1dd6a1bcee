"""Fixtures for the dashboard tests: a seeded database and the real server (thread or subprocess)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import Seed, WebProcess, start_web, stop_web

from nerv import DatabaseService
from nerv.web import DashboardServer, make_server


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
        alpha.id, tasks["Build the board"], cost_usd=1.25, tokens_input=1000, tokens_output=200, model="m-1"
    )
    service.use_project(alpha.id)
    command = {"command": "npm test -- --ci", "description": "run the tests"}
    request = service.create_request("Bash", command, project_id=alpha.id, cwd="/tmp")
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


@pytest.fixture
def web_process(db_path: Path, seed: Seed) -> Iterator[WebProcess]:
    """The seeded database served by a real ``nerv web`` subprocess."""
    web = start_web(db_path)
    try:
        yield web
    finally:
        stop_web(web)
