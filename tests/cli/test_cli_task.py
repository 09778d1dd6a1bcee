"""nerv task ...: every subcommand, prefixes, the board, colour."""

from __future__ import annotations

from typing import Any

from cli_helpers import ANSI, ambiguous_pair, assert_error, ok, unique_prefix

from nerv import DatabaseService
from nerv.db.schema import TASK_STATUSES
from nerv.models import Project


def test_create_json_has_every_field(invoke: Any, project: Project) -> None:
    created = ok(
        invoke("task", "create", "Write docs", "--description", "all of them", "--type", "docs", "--json")
    ).json()
    assert set(created) == {
        "id",
        "project_id",
        "cycle_id",
        "title",
        "description",
        "type",
        "status",
        "created_at",
        "updated_at",
    }
    assert created["project_id"] == project.id
    assert (created["title"], created["description"], created["type"], created["status"]) == (
        "Write docs",
        "all of them",
        "docs",
        "todo",
    )


def test_create_human_and_with_status_and_cycle(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    cycle = service.create_cycle(project.id)
    out = ok(invoke("task", "create", "Fix it", "--status", "review", "--cycle", cycle.id[:6])).stdout
    assert out.startswith("created task ") and "[review] Fix it" in out
    [task] = service.get_tasks(project.id)
    assert (task.status, task.cycle_id) == ("review", cycle.id)


def test_create_in_another_project_by_prefix(invoke: Any, project: Project, service: DatabaseService) -> None:
    other = service.create_project("beta")
    created = ok(invoke("task", "create", "elsewhere", "--project", project.id[:8], "--json")).json()
    assert created["project_id"] == project.id != other.id


def test_create_rejects_a_cycle_of_another_project(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    foreign = service.create_cycle(service.create_project("beta").id)
    assert_error(
        invoke("task", "create", "x", "--project", project.id, "--cycle", foreign.id),
        2,
        "belongs to another project",
    )
    assert service.get_tasks(project.id) == []


def test_create_bad_input(invoke: Any, project: Project) -> None:
    line = assert_error(invoke("task", "create", "x", "--status", "bogus"), 2, "bogus")
    for status in TASK_STATUSES:
        assert status in line  # the valid values are listed
    assert_error(invoke("task", "create", "x", "--type", "nope"), 2, "bug-fix", "implementation")
    assert_error(invoke("task", "create"), 2, "Missing argument")
    assert_error(invoke("task", "create", "   "), 2, "title must not be empty")
    assert_error(invoke("task", "create", "x", "--project", "zzzzzz"), 3, "project not found: zzzzzz")


def test_create_without_any_project(invoke: Any) -> None:
    assert_error(invoke("task", "create", "x"), 3, "nerv project create")


def test_list_filters_by_status_and_project(invoke: Any, project: Project, service: DatabaseService) -> None:
    a = service.create_task(project.id, "a")
    b = service.create_task(project.id, "b", status="done")
    other = service.create_project("beta")
    service.create_task(other.id, "c")
    listed = ok(invoke("task", "list", "--project", project.id, "--json")).json()
    assert [t["id"] for t in listed] == [a.id, b.id]
    done = ok(invoke("task", "list", "--project", project.id, "--status", "done", "--json")).json()
    assert [t["id"] for t in done] == [b.id]
    # The current project is the newest one (beta) when none is given.
    assert [t["title"] for t in ok(invoke("task", "list", "--json")).json()] == ["c"]
    human = ok(invoke("task", "list", "--project", project.id)).stdout.splitlines()
    assert human[0].split() == ["ID", "STATUS", "TYPE", "TITLE", "UPDATED"]
    assert human[1].startswith(a.id[:8]) and " a " in human[1]
    assert len(human) == 3
    assert (
        "no tasks with status review"
        in ok(invoke("task", "list", "--project", project.id, "--status", "review")).stdout
    )
    assert_error(invoke("task", "list", "--status", "later"), 2, "todo")


def test_show_by_unique_prefix(invoke: Any, project: Project, service: DatabaseService) -> None:
    tasks = [service.create_task(project.id, f"t{n}") for n in range(5)]
    ids = [t.id for t in tasks]
    prefix = unique_prefix(ids[2], ids)
    shown = ok(invoke("task", "show", prefix, "--json")).json()
    assert shown["id"] == ids[2] and shown["title"] == "t2"
    human = ok(invoke("task", "show", ids[2])).stdout
    assert f"id           {ids[2]}" in human and "alpha" in human


def test_ambiguous_prefix_is_an_error(invoke: Any, project: Project, service: DatabaseService) -> None:
    ids: list[str] = []
    shared = None
    while shared is None:
        ids.append(service.create_task(project.id, f"t{len(ids)}").id)
        shared = ambiguous_pair(ids)
    line = assert_error(invoke("task", "show", shared), 3, "ambiguous", f"'{shared}'")
    assert sum(i in line for i in ids if i.startswith(shared)) >= 2
    assert_error(invoke("task", "move", shared, "done"), 3, "ambiguous")
    assert_error(invoke("task", "show", "0"), 3, "task not found: 0")  # '0' is not in the id alphabet


def test_update_fields(invoke: Any, project: Project, service: DatabaseService) -> None:
    task = service.create_task(project.id, "old")
    cycle = service.create_cycle(project.id)
    changed = ok(
        invoke(
            "task",
            "update",
            task.id[:6],
            "--title",
            "new",
            "--status",
            "in_progress",
            "--description",
            "d",
            "--type",
            "bug-fix",
            "--cycle",
            cycle.id,
            "--json",
        )
    ).json()
    assert (
        changed["title"],
        changed["status"],
        changed["description"],
        changed["type"],
        changed["cycle_id"],
    ) == ("new", "in_progress", "d", "bug-fix", cycle.id)
    cleared = ok(invoke("task", "update", task.id, "--cycle", "none", "--json")).json()
    assert cleared["cycle_id"] is None
    assert "updated task" in ok(invoke("task", "update", task.id, "--title", "newer")).stdout
    assert service.get_task(task.id).title == "newer"  # type: ignore[union-attr]
    assert_error(invoke("task", "update", task.id), 2, "nothing to update")
    assert_error(invoke("task", "update", task.id, "--status", "finished"), 2, "finished")
    assert_error(invoke("task", "update", "zzzz", "--title", "x"), 3, "task not found")


def test_move_and_its_audit_action(invoke: Any, project: Project, service: DatabaseService) -> None:
    task = service.create_task(project.id, "movable")
    moved = ok(invoke("task", "move", task.id[:7], "review", "--json")).json()
    assert moved["status"] == "review"
    assert "to done" in ok(invoke("task", "move", task.id, "done")).stdout
    actions = [e.action for e in service.get_audit(entity_id=task.id)]
    assert actions == ["create", "move", "move"]
    assert_error(invoke("task", "move", task.id, "sideways"), 2, "interrupted")


def test_delete(invoke: Any, project: Project, service: DatabaseService) -> None:
    keep, gone = service.create_task(project.id, "keep"), service.create_task(project.id, "gone")
    assert ok(invoke("task", "delete", gone.id, "--json")).json() == {"deleted": gone.id}
    assert [t.id for t in service.get_tasks(project.id)] == [keep.id]
    assert_error(invoke("task", "delete", gone.id), 3, "task not found")
    service.create_session(project.id, keep.id)  # a session still refers to it
    assert_error(invoke("task", "delete", keep.id), 4)
    assert service.get_task(keep.id) is not None


def _board_tasks(service: DatabaseService, project: Project) -> dict[str, str]:
    titles = {
        "todo": "Write the README for new users, with every command explained in detail",
        "in_progress": "Build CLI",
        "interrupted": "Hook",
        "review": "Completion",
        "done": "Schema",
    }
    for status, title in titles.items():
        service.create_task(project.id, title, status=status)
    service.create_task(project.id, "Second todo", type="docs")
    return titles


def test_board_layout(invoke: Any, project: Project, service: DatabaseService) -> None:
    titles = _board_tasks(service, project)
    lines = ok(invoke("task", "board", "--width", "100")).stdout.splitlines()
    assert lines[0] == "alpha (" + project.id[:8] + ")"
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    header = [c.strip() for c in lines[1].split("│")]
    assert header == ["TODO (2)", "IN PROGRESS (1)", "INTERRUPTED (1)", "REVIEW (1)", "DONE (1)"]
    rows = [[c.strip() for c in line.split("│")] for line in lines[3:]]
    assert all(len(r) == 5 for r in rows)
    columns = {status: [r[i] for r in rows if r[i]] for i, status in enumerate(TASK_STATUSES)}
    for status, title in titles.items():
        cell = columns[status][0]
        assert title.startswith(cell.rstrip("…")), (status, cell)
    assert columns["todo"][0].endswith("…")  # the long title is cut
    assert columns["todo"][2] == "Second todo"
    # Under each title: its short id, and the type unless it is the default.
    assert columns["review"][1] == service.get_tasks(project.id, "review")[0].id[:8]
    assert columns["todo"][3] == service.get_tasks(project.id, "todo")[1].id[:8] + " docs"
    narrow = ok(invoke("task", "board", "--width", "60")).stdout.splitlines()
    assert all(len(line) <= 60 for line in narrow)
    assert_error(invoke("task", "board", "--width", "10"), 2)


def test_board_json_and_empty(invoke: Any, project: Project, service: DatabaseService) -> None:
    assert "no tasks yet" in ok(invoke("task", "board")).stdout
    task = service.create_task(project.id, "one", status="interrupted")
    board = ok(invoke("task", "board", "--json")).json()
    assert list(board) == sorted(TASK_STATUSES)
    assert [t["id"] for t in board["interrupted"]] == [task.id]
    assert all(board[s] == [] for s in TASK_STATUSES if s != "interrupted")


def test_board_default_width_in_a_subprocess(
    run_cli: Any, project: Project, service: DatabaseService
) -> None:
    _board_tasks(service, project)
    result = ok(run_cli("task", "board", env={"COLUMNS": ""}))
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert max(len(line) for line in lines) > 90  # the 100-column default is used, not a narrow one
    assert ANSI not in result.stdout


def test_colour_forced_and_no_color_wins(
    invoke: Any, project: Project, service: DatabaseService, monkeypatch: Any
) -> None:
    service.create_task(project.id, "coloured")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ANSI in ok(invoke("task", "list")).stdout
    assert ANSI in ok(invoke("task", "board")).stdout
    monkeypatch.setenv("NO_COLOR", "1")
    for args in (("task", "list"), ("task", "board"), ("task", "show", service.get_tasks(project.id)[0].id)):
        assert ANSI not in ok(invoke(*args)).stdout


def test_no_color_in_a_subprocess(run_cli: Any, project: Project, service: DatabaseService) -> None:
    service.create_task(project.id, "coloured")
    assert ANSI in ok(run_cli("task", "list", env={"FORCE_COLOR": "1"})).stdout
    assert ANSI not in ok(run_cli("task", "list", env={"FORCE_COLOR": "1", "NO_COLOR": "1"})).stdout


def test_task_round_trip_in_a_subprocess(run_cli: Any, project: Project) -> None:
    created = ok(run_cli("task", "create", "real process", "--json")).json()
    assert created["project_id"] == project.id
    moved = ok(run_cli("task", "move", created["id"][:6], "done", "--json")).json()
    assert moved["status"] == "done"
    assert_error(run_cli("task", "move", created["id"], "nowhere"), 2, "in_progress")
    assert_error(run_cli("task", "show", "zzzzzz"), 3, "task not found: zzzzzz")
