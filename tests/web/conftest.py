"""Fixtures for the dashboard tests: a seeded database and the real server (thread or subprocess)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import DESKTOP, Rich, Seed, WebProcess, start_web, stop_web

from nerv import DatabaseService
from nerv.ids import now_ms
from nerv.web import DashboardServer, make_server
from server_thread import serving


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
def rich(service: DatabaseService, seed: Seed) -> Rich:
    """The seed, plus cycles, decisions, rules and per-model usage in project alpha.

    Session "Build the board" then holds $1.25 recorded on it directly (model m-1, today),
    $0.50 of claude-opus-4-1 today and $0.25 of claude-sonnet-4-5 three days ago: $2.00.
    """
    first = service.create_cycle(seed.alpha, goal="Make the board usable")
    service.update_task(seed.tasks["Set up CI"], {"cycle_id": first.id})
    service.update_task(seed.tasks["Review the schema"], {"cycle_id": first.id})
    service.complete_cycle(first.id, learnings="Keyboard moves matter")
    second = service.create_cycle(seed.alpha, goal="Costs users trust")
    for title in ("Write the parser", "Build the board", "Flaky login test"):
        service.update_task(seed.tasks[title], {"cycle_id": second.id})
    wal = service.create_decision(
        seed.alpha, "Use SQLite in WAL mode", context="One file, many readers", decision="WAL",
        alternatives="A server database", consequences="Local only", status="accepted", cycle_id=first.id,
    )
    poll = service.create_decision(seed.alpha, "Poll the queue every 2 s")
    push = service.create_decision(seed.alpha, "Push the queue to the page")
    service.supersede_decision(poll.id, push.id)
    service.record_metric(
        seed.session, model="claude-opus-4-1", input_tokens=400, output_tokens=100, cost_usd=0.5
    )
    service.record_metric(
        seed.session, model="claude-sonnet-4-5", input_tokens=300, output_tokens=50, cost_usd=0.25,
        recorded_at=now_ms() - 3 * 86_400_000,
    )
    rule = service.create_rule_from_text("Bash(npm test:*)", "allow", project_id=seed.alpha, note="tests")
    beta_rule = service.create_rule_from_text("Bash(make:*)", "allow", project_id=seed.beta)
    decisions = {d.title: d.id for d in (wal, poll, push)}
    return Rich(seed, [first.id, second.id], decisions, rule.id, beta_rule.id)


@pytest.fixture
def server(db_path: Path, nerv_home: Path) -> Iterator[DashboardServer]:
    """The real dashboard server on a free port, serving from a background thread."""
    srv = make_server(db_path, port=0)
    with serving(srv):
        yield srv


@pytest.fixture
def web_process(db_path: Path, seed: Seed) -> Iterator[WebProcess]:
    """The seeded database served by a real ``nerv web`` subprocess."""
    web = start_web(db_path)
    try:
        yield web
    finally:
        stop_web(web)


# -- a real browser: Debian's chromium, driven by Playwright ------------------------------------

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000  # only a failing expectation waits this long; busy machines are slow


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def open_page(browser: Any, web_process: WebProcess) -> Iterator[Callable[[tuple[int, int]], Any]]:
    """Opens fresh pages of the running dashboard at a viewport size; a script or console
    error on any of them fails the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    contexts: list[Any] = []
    problems: list[str] = []

    def make(size: tuple[int, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        contexts.append(context)
        tab = context.new_page()
        tab.set_default_timeout(TIMEOUT_MS)
        tab.base_url = web_process.url
        tab.allow_http_errors = False  # a test that provokes a refusal on purpose sets it

        def console(msg: Any) -> None:
            refused = msg.text.startswith("Failed to load resource: the server responded with a status of 4")
            if msg.type == "error" and not (refused and tab.allow_http_errors):
                problems.append(f"console error: {msg.text}")

        tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        tab.on("console", console)
        return tab

    try:
        yield make
    finally:
        for context in contexts:
            context.close()
    assert not problems, problems


@pytest.fixture
def page(open_page: Callable[[tuple[int, int]], Any]) -> Any:
    """A fresh desktop-sized page on the running dashboard."""
    return open_page(DESKTOP)
