"""The dashboard's task, planning, rules, cost and countdown views in a real browser, as a user uses them.

Each test clicks, types and drags in chromium against the real ``nerv web`` process, then checks
both what the page shows and what the database holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from web_helpers import DESKTOP, NARROW, Rich, Seed, card, column, open_view

from nerv import DatabaseService
from nerv.ids import now_ms


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def test_create_open_and_edit_a_task(page: Any, rich: Rich, service: DatabaseService) -> None:
    alpha = rich.seed.alpha
    open_view(page, "board")
    expect(column(page, "todo").locator(".card-title")).to_have_count(2)
    page.get_by_role("button", name="New task").click()
    dialog = page.locator("#task-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Cycle")).to_have_value(rich.cycles[1])  # the active cycle is offered first
    dialog.get_by_label("Title").fill("Add a rules view")
    dialog.get_by_label("Description").fill("Switch rules on and off\nfrom the dashboard")
    dialog.get_by_label("Type").select_option("docs")
    dialog.get_by_role("button", name="Create task").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#notice")).to_contain_text("Created “Add a rules view”")
    expect(column(page, "todo").locator(".card-title")).to_have_text(
        ["Write the parser", "Document the API", "Add a rules view"]
    )
    [created] = [t for t in service.get_tasks(alpha) if t.title == "Add a rules view"]
    assert (created.description, created.type, created.status, created.cycle_id) == (
        "Switch rules on and off\nfrom the dashboard", "docs", "todo", rich.cycles[1]
    )

    # open it from its card
    card(page, "Add a rules view").get_by_role("link", name="Add a rules view").click()
    expect(page.locator("#view-task")).to_be_visible()
    assert page.url.endswith(f"#task/{created.id}")
    expect(page.locator("#task-title")).to_have_text("Add a rules view")
    expect(page.locator("#task-description")).to_have_text("Switch rules on and off\nfrom the dashboard")
    expect(page.locator("#task-meta")).to_contain_text("cycle 2 · Costs users trust")
    expect(page.locator("#task-sessions")).to_have_text("No session has worked on this task yet.")
    expect(page.locator("#task-models")).to_have_text("No usage recorded for this task.")
    expect(page.locator("#task-audit tr")).to_have_count(1)
    expect(page.locator("#task-audit tr").first).to_contain_text("create")

    # edit it: a blank title is refused with the server's message, the dialog stays open
    page.allow_http_errors = True
    page.get_by_role("button", name="Edit").click()
    expect(dialog.get_by_label("Title")).to_have_value("Add a rules view")
    dialog.get_by_label("Title").fill("   ")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#task-form-error")).to_have_text("title must not be empty")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Add the rules view")
    dialog.get_by_label("Status").select_option("review")
    dialog.get_by_label("Cycle").select_option("")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#task-title")).to_have_text("Add the rules view")
    expect(page.locator("#task-meta")).to_contain_text("no cycle")
    expect(page.locator("#task-meta .chip")).to_have_text("Review")
    first = page.locator("#task-audit tr").first
    expect(first).to_contain_text("update")
    expect(first).to_contain_text("title: Add a rules view → Add the rules view")
    stored = service.get_task(created.id)
    assert stored is not None
    assert (stored.title, stored.status, stored.cycle_id) == ("Add the rules view", "review", None)

    # back on the board it sits in its new column
    page.get_by_role("link", name="← Board").click()
    expect(column(page, "review").locator(".card-title")).to_contain_text(["Add the rules view"])


def test_a_stale_editor_does_not_overwrite(page: Any, seed: Seed, service: DatabaseService) -> None:
    task_id = seed.tasks["Set up CI"]
    page.allow_http_errors = True  # the 409
    open_view(page, f"task/{task_id}")
    page.get_by_role("button", name="Edit").click()
    service.update_task(task_id, {"title": "Set up CI on every push"})  # someone else, meanwhile
    page.locator("#task-dialog").get_by_label("Title").fill("Set up CI, faster")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#task-form-error")).to_contain_text("was changed meanwhile")
    stored = service.get_task(task_id)
    assert stored is not None and stored.title == "Set up CI on every push"


def test_task_detail_shows_its_sessions_and_cost(page: Any, rich: Rich) -> None:
    open_view(page, "board")
    card(page, "Build the board").get_by_role("link").click()
    stats = page.locator("#task-cost .stat")
    expect(stats.filter(has_text="Cost").locator(".stat-value")).to_have_text("$2.00")
    expect(stats.filter(has_text="Sessions").locator(".stat-value")).to_have_text("1")
    expect(stats.filter(has_text="Tokens").locator(".stat-value")).to_have_text("2,050")
    models = page.locator("#task-models tr")
    expect(models).to_have_count(3)
    expect(models.filter(has_text="claude-opus-4-1")).to_contain_text("$0.50")
    expect(models.filter(has_text="m-1")).to_contain_text("$1.25")
    row = page.locator("#task-sessions tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("m-1")
    expect(row).to_contain_text("$2.00")
    expect(page.locator("#task-audit tr")).to_have_count(2)  # created, then put in cycle 2

    page.allow_http_errors = True  # a link to a task that is gone
    open_view(page, "task/zzzzzzzz")
    expect(page.locator("#task-title")).to_have_text("No such task")
    expect(page.locator("#task-description")).to_have_text("task not found: zzzzzzzz")
    expect(page.locator("#task-sessions tr")).to_have_count(0)
    expect(page.get_by_role("button", name="Edit")).to_be_disabled()


def test_cycles_and_decisions(page: Any, rich: Rich) -> None:
    open_view(page, "cycles")
    cycles = page.locator(".cycle")
    expect(cycles.locator("h2")).to_have_text(["Cycle 2", "Cycle 1"])
    active = cycles.first
    expect(active.locator(".chip").first).to_have_text("active")
    expect(active).to_contain_text("Costs users trust")
    expect(active).to_contain_text("0 of 3 done")
    links = active.locator(".cycle-tasks a")
    expect(links).to_have_text(["Write the parser", "Build the board", "Flaky login test"])
    expect(cycles.nth(1)).to_contain_text("1 of 2 done")
    expect(cycles.nth(1)).to_contain_text("Learnings: Keyboard moves matter")
    expect(page.locator("#cycles-hint")).to_have_text("1 task is in no cycle.")
    active.get_by_role("link", name="Flaky login test").click()
    expect(page.locator("#task-title")).to_have_text("Flaky login test")

    page.get_by_role("tab", name="Decisions").click()
    decisions = page.locator(".decision")
    expect(decisions.locator("h2")).to_have_text(
        ["Push the queue to the page", "Poll the queue every 2 s", "Use SQLite in WAL mode"]
    )
    wal = decisions.nth(2)
    expect(wal.locator(".adr-part h3")).to_have_text(["Context", "Decision", "Alternatives", "Consequences"])
    expect(wal).to_contain_text("One file, many readers")
    page.locator("#decision-filter").get_by_label("Status").select_option("superseded")
    expect(decisions).to_have_count(1)
    expect(decisions.first.locator(".superseded")).to_have_text("Superseded by Push the queue to the page.")
    page.locator("#decision-filter").get_by_label("Status").select_option("accepted")
    expect(decisions.locator("h2")).to_have_text(["Use SQLite in WAL mode"])

    page.select_option("#project-select", rich.seed.beta)  # a project without any
    expect(page.locator("#decision-list")).to_contain_text("No accepted decisions.")
    page.locator("#decision-filter").get_by_label("Status").select_option("")
    expect(page.locator("#decision-list")).to_contain_text("No decisions recorded yet.")


def test_rules_switch_off_and_on(page: Any, rich: Rich, service: DatabaseService) -> None:
    sudo = next(r for r in service.get_rules() if r.rule_text == "Bash(sudo:*)")
    open_view(page, "rules")
    rows = page.locator("#rules-body tr")
    expect(rows.filter(has_text="Bash(npm test:*)")).to_contain_text("alpha")
    expect(rows.filter(has_text="Bash(make:*)")).to_have_count(0)  # beta's rule
    page.get_by_label("Find").fill("sudo:")
    expect(rows).to_have_count(1)
    switch = page.get_by_role("switch", name="Disable deny rule Bash(sudo:*)")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(page.locator("#notice")).to_contain_text("Disabled deny rule Bash(sudo:*)")
    switch = page.get_by_role("switch", name="Enable deny rule Bash(sudo:*)")
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(rows.first).to_have_class(re.compile(r"\bdisabled\b"))
    stored = service.get_rule(sudo.id)
    assert stored is not None and not stored.enabled
    switch.click()
    switch = page.get_by_role("switch", name="Disable deny rule Bash(sudo:*)")
    expect(switch).to_have_attribute("aria-checked", "true")
    stored = service.get_rule(sudo.id)
    assert stored is not None and stored.enabled
    entries = service.get_audit(entity_type="rule", entity_id=sudo.id)
    assert [e.action for e in entries][-2:] == ["disable", "enable"]

    page.get_by_label("Find").fill("")
    page.get_by_label("Action").select_option("allow")
    expect(rows).to_have_text([re.compile(r"Bash\(npm test:\*\)")])


def test_costs_range_models_and_no_data(page: Any, rich: Rich, tmp_path: Path) -> None:
    open_view(page, "costs")
    models = page.locator("#models-cost-body tr")
    expect(models).to_have_count(3)
    expect(models.first).to_contain_text("m-1")
    expect(models.first).to_contain_text("$1.25")
    expect(models.filter(has_text="claude-opus-4-1")).to_contain_text("$0.50")
    expect(models.filter(has_text="claude-sonnet-4-5")).to_contain_text("$0.25")
    selected = page.locator(".stat").filter(has_text="Project, selected range").locator(".stat-value")
    expect(selected).to_have_text("$2.00")
    expect(page.locator(".day")).to_have_count(14)
    page.screenshot(path=str(tmp_path / "costs-desktop.png"), full_page=True)

    page.get_by_label("Range").select_option("7")
    expect(page.locator(".day")).to_have_count(7)
    page.get_by_label("Range").select_option("90")
    expect(page.locator(".day")).to_have_count(90)
    expect(page.locator("#day-chart")).to_have_class(re.compile(r"\bdense\b"))

    page.get_by_label("Range").select_option("custom")
    page.get_by_label("From", exact=True).fill("2020-02-01")
    page.get_by_label("To", exact=True).fill("2020-02-29")
    page.get_by_role("button", name="Show").click()
    empty = page.locator("#costs-empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No usage recorded for alpha between 2020-02-01 and 2020-02-29")
    expect(selected).to_have_text("$0.00")
    expect(page.locator("#day-chart")).to_have_text("No data for this range.")
    expect(models).to_have_text(["No data for this range."])
    expect(page.locator("#sessions-cost-body")).to_have_text("No data for this range.")
    expect(page.locator("#projects-cost-body")).to_have_text("No data for this range.")
    total = page.locator(".stat").filter(has_text="Project total").locator(".stat-value")
    expect(total).to_have_text("$2.00")  # all time stays all time

    page.allow_http_errors = True
    page.get_by_label("To", exact=True).fill("2020-01-01")  # before From: the server's message is shown
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#notice")).to_contain_text("from (2020-02-01) is after to (2020-01-01)")


def test_queued_calls_count_down_to_their_expiry(page: Any, seed: Seed, service: DatabaseService) -> None:
    service.set_setting("approval.timeout_seconds", 600, project_id=seed.alpha)
    service.set_setting("approval.timeout_seconds", 1, project_id=seed.beta)
    late = service.create_request("Bash", {"command": "make deploy"}, project_id=seed.beta)
    # filed by a hook whose wait is capped shorter than the setting: its own deadline counts
    capped = service.create_request("Bash", {"command": "make"}, project_id=seed.alpha,
                                    expires_at=now_ms() + 95_000)
    open_view(page, "approvals")
    ours = page.locator(f'.request[data-request-id="{seed.request}"] .expires')
    expect(ours).to_have_text(re.compile(r"^expires in (10:00|[5-9]:[0-5]\d)$"))  # 600 s, minus page time
    hooked = page.locator(f'.request[data-request-id="{capped.id}"] .expires')
    expect(hooked).to_have_text(re.compile(r"^expires in [01]:[0-5]\d$"))  # 95 s, not the setting's 600
    expect(ours).not_to_have_class(re.compile(r"\bsoon\b"))
    gone = page.locator(f'.request[data-request-id="{late.id}"]')
    expect(gone.locator(".expires")).to_have_text("expired: the hook stopped waiting")
    expect(gone.locator(".expires")).to_have_class(re.compile(r"\bsoon\b"))
    expect(gone).to_have_class(re.compile(r"\bis-expired\b"))
    first = ours.text_content()
    expect(ours).not_to_have_text(first or "")  # it ticks by itself, between two polls


VIEWS = ("board", "cycles", "decisions", "rules", "approvals", "costs", "audit")


def page_fits(page: Any) -> None:
    """Nothing makes the page scroll sideways, and no table of the view needs a sideways scroll
    in its own box either."""
    sizes = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], sizes
    tables = page.evaluate(
        "[...document.querySelectorAll('.view:not([hidden]) .table-wrap')]"
        ".map((w) => [w.closest('section[id], .panel').querySelector('h1, h2').textContent,"
        " w.scrollWidth, w.clientWidth])"
    )
    wide = [t for t in tables if t[1] > t[2]]
    assert not wide, wide


def inside(page: Any, locator: Any) -> None:
    """The control is on screen horizontally: a user can reach it without scrolling sideways."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)


def test_every_view_fits_420_pixels(
    open_page: Callable[[tuple[int, int]], Any], rich: Rich, service: DatabaseService, tmp_path: Path
) -> None:
    """At 420 px: no sideways scrolling of the page, and the controls of each view can be used."""
    page = open_page(NARROW)
    task = rich.seed.tasks["Build the board"]
    for view in (*VIEWS, f"task/{task}"):
        open_view(page, view)
        page.wait_for_load_state("networkidle")
        page_fits(page)
        page.screenshot(path=str(tmp_path / f"{view.split('/')[0]}-420.png"), full_page=True)
    for view in ("board", "costs", "approvals"):
        desktop = open_page(DESKTOP)
        open_view(desktop, view)
        page_fits(desktop)
        desktop.screenshot(path=str(tmp_path / f"{view}-desktop.png"), full_page=True)

    # the tabs wrap instead of running off screen; each one is reachable
    for tab in page.get_by_role("tab").all():
        inside(page, tab)
    # board: the columns stack; a card moves by its menu and by drag and drop
    open_view(page, "board")
    inside(page, page.get_by_role("button", name="New task"))
    picker = page.get_by_label("Move “Write the parser” to…")
    inside(page, picker)
    picker.select_option("done")
    expect(column(page, "done").locator(".card-title")).to_contain_text(["Write the parser"])
    card(page, "Document the API").drag_to(column(page, "interrupted"))
    expect(column(page, "interrupted").locator(".card-title")).to_contain_text(["Document the API"])
    moved = service.get_task(rich.seed.tasks["Document the API"])
    assert moved is not None and moved.status == "interrupted"
    # the editor fits and works
    page.get_by_role("button", name="New task").click()
    dialog = page.locator("#task-dialog")
    for name in ("Title", "Description", "Type", "Status", "Cycle"):
        inside(page, dialog.get_by_label(name))
    dialog.get_by_label("Title").fill("Typed on a phone")
    inside(page, dialog.get_by_role("button", name="Create task"))
    dialog.get_by_role("button", name="Create task").click()
    expect(column(page, "todo").locator(".card-title")).to_contain_text(["Typed on a phone"])
    # approvals: both buttons on screen, and they work; a long command wraps in its table
    long = service.create_request(
        "Bash", {"command": "npm run lint -- src/a/very/long/path/to/some/deeply/nested/file.ts"},
        project_id=rich.seed.alpha,
    )
    service.decide_request(long.id, "denied")
    open_view(page, "approvals")
    expect(page.locator("#recent-body tr").first).to_contain_text("deeply/nested")
    widths = page.evaluate("[...document.querySelectorAll('#view-approvals .table-wrap')]"
                           ".map((w) => [w.scrollWidth, w.clientWidth])")
    assert widths and all(scroll <= client for scroll, client in widths), widths
    request = page.locator(f'.request[data-request-id="{rich.seed.request}"]')
    for name in ("Deny", "Approve"):
        inside(page, request.get_by_role("button", name=name))
    inside(page, request.locator("select.remember"))
    request.get_by_role("button", name="Approve").click()
    expect(request).to_have_count(0)
    decided = service.get_request(rich.seed.request)
    assert decided is not None and decided.status == "approved"
    page_fits(page)
    # rules: the switch is reachable
    open_view(page, "rules")
    switch = page.get_by_role("switch", name="Disable allow rule Bash(npm test:*)")
    inside(page, switch)
    switch.click()
    expect(page.get_by_role("switch", name="Enable allow rule Bash(npm test:*)")).to_be_visible()
    # costs: the range picker, custom dates included
    open_view(page, "costs")
    page.get_by_label("Range").select_option("custom")
    for name in ("From", "To"):
        inside(page, page.get_by_label(name, exact=True))
    inside(page, page.get_by_role("button", name="Show"))
    page.get_by_label("Range").select_option("90")
    expect(page.locator(".day")).to_have_count(90)
    page_fits(page)


def test_a_fresh_database_shows_empty_states(browser: Any, db_path: Path, service: DatabaseService) -> None:
    """No project, no usage, no request yet: every view says so instead of failing."""
    from web_helpers import start_web, stop_web

    web = start_web(db_path)
    context = browser.new_context(viewport={"width": NARROW[0], "height": NARROW[1]})
    problems: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
        page.base_url = web.url
        open_view(page, "board")
        expect(page.locator("#board")).to_have_text(
            "No project yet. Create one with nerv project create NAME."
        )
        page.get_by_role("button", name="New task").click()
        expect(page.locator("#notice")).to_have_text("Create a project first: nerv project create NAME")
        expect(page.locator("#task-dialog")).to_be_hidden()
        open_view(page, "cycles")
        expect(page.locator("#cycle-list")).to_contain_text("No project yet.")
        open_view(page, "decisions")
        expect(page.locator("#decision-list")).to_contain_text("No project yet.")
        open_view(page, "rules")
        expect(page.locator("#rules-body tr").first).to_contain_text("Bash(check:pipe-to-shell)")  # defaults
        open_view(page, "approvals")
        expect(page.locator("#pending-list")).to_have_text("Nothing is waiting for approval.")
        open_view(page, "costs")
        expect(page.locator("#costs-empty")).to_contain_text("No usage recorded between")
        expect(page.locator("#models-cost-body")).to_have_text("No data for this range.")
        expect(page.locator("#sessions-cost-body")).to_have_text("No project selected.")
        open_view(page, "audit")
        expect(page.locator("#audit-body")).to_have_text("No audit entries match.")
    finally:
        context.close()
        stop_web(web)
    assert problems == [], problems
    assert service.get_projects() == []


def test_the_page_works_off_loopback_with_the_token(
    browser: Any, db_path: Path, nerv_home: Path, seed: Seed, service: DatabaseService
) -> None:
    """Beyond loopback the page is reached through /?token=T once; its cookie then carries every call."""
    from web_helpers import start_web, stop_web

    web = start_web(db_path, "--host", "0.0.0.0")
    context = browser.new_context(viewport={"width": DESKTOP[0], "height": DESKTOP[1]})
    problems: list[str] = []
    try:
        token = (nerv_home / "web-token").read_text().strip()
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
        page.goto(f"{web.url}?token={token}")
        page.wait_for_url(re.compile(r"/$"))  # the token leaves the address bar
        expect(page.locator("#board-title")).to_have_text("Board · alpha")
        page.get_by_role("button", name="Move “Set up CI” to Review").click()
        expect(column(page, "review").locator(".card-title")).to_contain_text(["Set up CI"])
        moved = service.get_task(seed.tasks["Set up CI"])
        assert moved is not None and moved.status == "review"
        stranger = browser.new_context()
        try:
            answer = stranger.new_page().goto(web.url)
            assert answer is not None and answer.status == 401
        finally:
            stranger.close()
    finally:
        context.close()
        stop_web(web)
    assert problems == [], problems
