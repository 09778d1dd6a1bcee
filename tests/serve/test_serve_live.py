"""Live updates in a real browser: chromium (Playwright) on a real ``nerv serve`` process.

A call that the http hook queues appears in the approval queue, pushed by the server's
event stream, and is approved from the page; the footer shows what each session is doing
(working, waiting for permission, idle) -- which only the event stream delivers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import get, post

from nerv import DatabaseService

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
TIMEOUT_MS = 10_000


@pytest.fixture
def served(db_path: Path) -> Iterator[str]:
    """``nerv serve --port 0`` as a subprocess; its URL."""
    with DatabaseService(db_path) as service:
        service.set_setting("approval.mode", "queue")
        service.set_setting("approval.timeout_seconds", 40)
    proc = subprocess.Popen([sys.executable, "-m", "nerv", "--db", str(db_path), "serve", "--port", "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("nerv dashboard: "), line
    try:
        yield line.removeprefix("nerv dashboard: ").strip()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)


@pytest.fixture
def page(served: str) -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium): browser tests skipped")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            problems: list[str] = []
            tab.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            tab.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
            tab.goto(f"{served}#approvals")
            tab.wait_for_selector("#view-approvals:not([hidden])")
            yield tab
            assert not problems, problems
        finally:
            browser.close()


def test_a_queued_call_appears_live_and_is_approved_from_the_page(
    page: Any, served: str, nerv_home: Path
) -> None:
    from playwright.sync_api import expect

    token = (nerv_home / "serve.token").read_text().strip()
    call = {"hook_event_name": "PreToolUse", "session_id": "live-one-session", "cwd": "/tmp",
            "tool_name": "Bash", "tool_input": {"command": "make deploy-live"}}
    answers: list[Any] = []
    waiter = threading.Thread(
        target=lambda: answers.append(post(served, "/hooks/claude", call, token=token, timeout=60).json()))
    waiter.start()
    card = page.locator(".request", has_text="make deploy-live")
    expect(card.locator(".tool")).to_have_text("Bash")
    expect(page.locator('.live[data-session="live-one-session"]')).to_have_text("live-one working")

    notice = {"hook_event_name": "Notification", "session_id": "live-two-session", "cwd": "/tmp",
              "notification_type": "permission_prompt", "message": "Claude needs your permission to use Bash"}
    assert post(served, "/hooks/claude", notice, token=token).status == 200
    waiting = page.locator('.live[data-session="live-two-session"]')
    expect(waiting).to_have_text("live-two waiting for permission")

    card.get_by_role("button", name="Approve").click()
    waiter.join(timeout=30)
    assert answers and answers[0]["hookSpecificOutput"]["permissionDecision"] == "allow"
    expect(card).to_have_count(0)

    stop = {"hook_event_name": "Stop", "session_id": "live-one-session", "cwd": "/tmp"}
    assert post(served, "/hooks/claude", stop, token=token).status == 200
    expect(page.locator('.live[data-session="live-one-session"]')).to_have_text("live-one idle")


def test_the_event_stream_sends_a_change_when_another_process_writes(served: str, db_path: Path) -> None:
    """GET /api/events: a first event at once, another after a CLI write (no browser needed)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(served)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    conn.request("GET", "/api/events")
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/event-stream")

    def next_event() -> dict[str, Any]:
        lines = []
        while True:
            line = response.fp.readline().decode().rstrip("\n")
            if line == "" and lines:
                break
            if line and not line.startswith(":"):
                lines.append(line)
        assert lines[0] == "event: change"
        parsed: dict[str, Any] = json.loads(lines[1].removeprefix("data: "))
        return parsed

    first = next_event()
    subprocess.run([sys.executable, "-m", "nerv", "--db", str(db_path), "project", "create", "live-write"],
                   check=True, capture_output=True)
    second = next_event()
    assert second["version"] > first["version"]
    conn.close()
    assert get(served, "/api/live").json()["sessions"] == {}
