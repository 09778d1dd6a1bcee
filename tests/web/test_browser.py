"""The dashboard in a real browser: Debian's chromium driven by Playwright, the real ``nerv web``.

Skipped (with the reason) only when no chromium is installed; CI installs it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from web_helpers import Seed, card, column, open_view

from nerv import DatabaseService


def test_board_shows_the_tasks_and_moves_cards(page: Any, seed: Seed, service: DatabaseService) -> None:
    from playwright.sync_api import expect

    open_view(page, "board")
    expect(page.locator("#board-title")).to_have_text("Board · alpha")
    expected = {
        "todo": ["Write the parser", "Document the API"],
        "in_progress": ["Build the board"],
        "interrupted": ["Flaky login test"],
        "review": ["Review the schema"],
        "done": ["Set up CI"],
    }
    for status, titles in expected.items():
        expect(column(page, status).locator(".card-title")).to_have_text(titles)
    expect(column(page, "todo").locator(".count")).to_have_text("2")
    expect(page.locator(".card", has_text="Beta only task")).to_have_count(0)

    # the arrow button: one column on
    page.get_by_role("button", name="Move “Write the parser” to In progress").click()
    expect(column(page, "in_progress").locator(".card-title")).to_contain_text(["Write the parser"])
    expect(page.locator("#notice")).to_contain_text("Moved “Write the parser” to In progress")
    task = service.get_task(seed.tasks["Write the parser"])
    assert task is not None and task.status == "in_progress"

    # the menu: any column in one step
    page.get_by_label("Move “Write the parser” to…").select_option("done")
    expect(column(page, "done").locator(".card-title")).to_contain_text(["Write the parser"])
    task = service.get_task(seed.tasks["Write the parser"])
    assert task is not None and task.status == "done"

    # drag and drop
    card(page, "Document the API").drag_to(column(page, "review"))
    review = column(page, "review").locator(".card-title")
    expect(review).to_have_text(["Document the API", "Review the schema"])
    task = service.get_task(seed.tasks["Document the API"])
    assert task is not None and task.status == "review"
    expect(column(page, "todo").locator(".column-empty")).to_have_text("No tasks")


def test_board_follows_other_writers_and_projects(page: Any, seed: Seed, service: DatabaseService) -> None:
    """A move made elsewhere (the CLI, an agent) shows up; the project selector switches boards."""
    from playwright.sync_api import expect

    open_view(page, "board")
    expect(column(page, "todo").locator(".card-title")).to_have_count(2)
    service.move_task(seed.tasks["Write the parser"], "review")
    expect(column(page, "review").locator(".card-title")).to_contain_text(["Write the parser"])  # polled
    page.select_option("#project-select", seed.beta)
    expect(page.locator("#board-title")).to_have_text("Board · beta")
    expect(column(page, "todo").locator(".card-title")).to_have_text(["Beta only task"])
    assert f"project={seed.beta}" in page.url


def test_approve_a_pending_request(page: Any, seed: Seed, service: DatabaseService) -> None:
    from playwright.sync_api import expect

    open_view(page, "approvals")
    request = page.locator(f'.request[data-request-id="{seed.request}"]')
    expect(request.locator(".request-input")).to_have_text("npm test -- --ci")
    expect(request.locator(".tool")).to_have_text("Bash")
    expect(request.locator(".request-project")).to_have_text("alpha")
    expect(request.locator(".age")).to_have_text(re.compile(r"^\d+[smhd]"))
    expect(page.locator("#pending-badge")).to_have_text("1")

    # a request the hook files while the page is open appears by itself (2 s refresh)
    write = {"file_path": "/tmp/x.txt", "content": "hi"}
    hooked = service.create_request("Write", write, project_id=seed.beta)
    late = page.locator(f'.request[data-request-id="{hooked.id}"]')
    expect(late.locator(".request-input")).to_have_text("/tmp/x.txt")
    expect(page.locator("#pending-badge")).to_have_text("2")

    request.get_by_role("button", name="Approve").click()
    expect(request).to_have_count(0)
    stored = service.get_request(seed.request)
    assert stored is not None and stored.status == "approved" and stored.decided_by == "test"
    expect(page.locator("#recent-body tr").first).to_contain_text("approved")

    # deny, remembering a rule for the project
    late.locator("select.remember").select_option(index=1)
    late.get_by_role("button", name="Deny").click()
    expect(late).to_have_count(0)
    denied = service.get_request(hooked.id)
    assert denied is not None and denied.status == "denied"
    [rule] = [r for r in service.get_rules(seed.beta) if r.project_id == seed.beta]
    assert rule.action == "deny" and rule.rule_text == "Edit(//tmp/x.txt)"  # Write is in the Edit family
    expect(page.locator("#pending-list")).to_have_text("Nothing is waiting for approval.")
    expect(page.locator("#pending-badge")).to_be_hidden()


def test_costs_page_shows_the_seeded_cost(page: Any, seed: Seed, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_view(page, "costs")
    stats = page.locator(".stat")
    expect(stats.filter(has_text="Project total").locator(".stat-value")).to_have_text("$1.25")
    expect(stats.filter(has_text="Project today").locator(".stat-value")).to_have_text("$1.25")
    expect(page.locator("#projects-cost-body tr").first).to_contain_text("alpha")
    expect(page.locator("#projects-cost-body tr").first).to_contain_text("$1.25")
    session_row = page.locator("#sessions-cost-body tr")
    expect(session_row).to_have_count(1)
    expect(session_row).to_contain_text("Build the board")
    expect(session_row).to_contain_text("$1.25")
    expect(page.locator(".day")).to_have_count(14)
    expect(page.locator(".day").last).to_have_attribute("title", re.compile(r": \$1\.25$"))
    page.screenshot(path=str(tmp_path / "costs.png"), full_page=True)


def test_audit_page_lists_the_move(page: Any, seed: Seed, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_view(page, "board")
    page.get_by_role("button", name="Move “Set up CI” to Review").click()
    expect(column(page, "review").locator(".card-title")).to_contain_text(["Set up CI"])
    page.screenshot(path=str(tmp_path / "board.png"), full_page=True)

    page.get_by_role("tab", name="Audit").click()
    first = page.locator("#audit-body tr").first
    expect(first).to_contain_text("move")
    expect(first).to_contain_text("status: done → review")
    expect(first).to_contain_text("test")  # the actor
    expect(first.locator("code")).to_have_text(seed.tasks["Set up CI"][:8])
    page.select_option("#audit-entity", "project")
    expect(page.locator("#audit-body tr")).to_have_count(2)
    expect(page.locator("#audit-body")).not_to_contain_text("move")
