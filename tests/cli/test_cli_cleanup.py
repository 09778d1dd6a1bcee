"""Clean-up commands: demo --remove, project delete --cascade (with its confirmation), cycle and
decision delete."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

from cli_helpers import assert_error, ok

from nerv import DatabaseService
from nerv.cli.setup import DEMO_PROJECT
from nerv.models import Project


def test_demo_remove_takes_the_demo_and_nothing_else(invoke: Any, service: DatabaseService) -> None:
    mine = service.create_project("mine")
    task = service.create_task(mine.id, "real work")
    assert ok(invoke("demo")).stdout.endswith("\nwhen done with it: nerv demo --remove\n")
    demo = next(p for p in service.get_projects() if p.name == DEMO_PROJECT)
    out = ok(invoke("demo", "--remove")).stdout
    assert out == f"removed demo project {demo.id[:8]} with 1 decisions, 7 tasks, 1 cycles, 1 repos\n"
    assert service.get_projects() == [mine] and service.get_task(task.id) is not None
    assert ok(invoke("demo", "--remove")).stdout == "no demo project to remove\n"
    assert ok(invoke("demo", "--remove", "--json")).json() == {"removed": []}
    # Create, remove, create again: the demo is repeatable.
    created = ok(invoke("demo", "--json")).json()["project"]["id"]
    removed = ok(invoke("demo", "--remove", "--json")).json()
    assert removed == {
        "removed": [{"deleted": created, "with": {"cycles": 1, "decisions": 1, "repos": 1, "tasks": 7}}]
    }
    audited = {(e.entity_type, e.entity_id) for e in service.get_audit(entity_type="project")}
    assert ("project", created) in audited and ("project", demo.id) in audited


def test_project_delete_cascade_needs_confirmation(
    invoke: Any, project: Project, service: DatabaseService
) -> None:
    task = service.create_task(project.id, "t")
    service.create_session(project.id, task.id)
    assert_error(invoke("project", "delete", project.id[:6]), 4, "still has 1 tasks, 1 sessions", "--cascade")
    # No terminal to ask on and no --yes: a clear refusal, nothing deleted.
    line = assert_error(invoke("project", "delete", project.id, "--cascade"), 2, "not confirmed")
    assert "1 tasks" in line and "1 sessions" in line and "--yes" in line
    assert service.get_project(project.id) is not None
    got = ok(invoke("project", "delete", project.id[:6], "--cascade", "--yes", "--json")).json()
    assert got == {"deleted": project.id, "with": {"sessions": 1, "tasks": 1}}
    assert service.get_projects() == [] and service.get_task(task.id) is None
    assert_error(invoke("project", "delete", project.id, "--cascade", "--yes"), 3, "project not found")


def _on_a_terminal(args: list[str], answer: bytes) -> tuple[int, str]:
    """Run ``nerv ARGS`` with a pseudo-terminal as stdin/stdout/stderr, typing ``answer``."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    try:
        while b"[y/N]" not in seen:
            ready, _, _ = select.select([leader], [], [], 60)
            assert ready, f"no prompt: {seen!r}"
            seen += os.read(leader, 1024)
        os.write(leader, answer)
        while True:
            ready, _, _ = select.select([leader], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(leader, 1024)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        code = proc.wait(timeout=60)
        os.close(leader)
    return code, seen.decode()


def test_project_delete_cascade_asks_on_a_terminal(nerv_home: Path, service: DatabaseService) -> None:
    keep = service.create_project("keep")
    doomed = service.create_project("doomed")
    service.create_task(doomed.id, "t")
    code, screen = _on_a_terminal(["project", "delete", doomed.id, "--cascade"], b"n\n")
    assert f"Delete project {doomed.id[:8]} 'doomed' and 1 tasks? [y/N]" in screen
    assert code == 1 and "not confirmed: nothing was deleted" in screen
    assert service.get_project(doomed.id) is not None
    code, screen = _on_a_terminal(["project", "delete", doomed.id, "--cascade"], b"y\n")
    assert code == 0 and f"deleted project {doomed.id[:8]} with 1 tasks" in screen
    assert service.get_projects() == [keep]


def test_cycle_delete(invoke: Any, project: Project, service: DatabaseService) -> None:
    cycle = service.create_cycle(project.id)
    task = service.create_task(project.id, "t", cycle_id=cycle.id)
    out = ok(invoke("cycle", "delete", cycle.id[:6])).stdout
    assert out == f"deleted cycle {cycle.id[:8]}; its 1 task(s) and decision(s) are kept\n"
    assert service.get_cycle(cycle.id) is None and service.get_task(task.id).cycle_id is None  # type: ignore[union-attr]
    empty = service.create_cycle(project.id)
    assert ok(invoke("cycle", "delete", empty.id, "--json")).json() == {"deleted": empty.id, "released": []}
    assert_error(invoke("cycle", "delete", empty.id), 3, "cycle not found")


def test_decision_delete(invoke: Any, project: Project, service: DatabaseService) -> None:
    old = service.create_decision(project.id, "old")
    new = service.create_decision(project.id, "new")
    service.supersede_decision(old.id, new.id)
    assert_error(invoke("decision", "delete", new.id), 4, f"supersedes {old.id[:8]}")
    assert ok(invoke("decision", "delete", old.id, "--json")).json() == {"deleted": old.id}
    assert ok(invoke("decision", "delete", new.id[:6])).stdout == f"deleted decision {new.id[:8]}\n"
    assert service.get_decisions(project.id) == []
    assert_error(invoke("decision", "delete", new.id), 3, "decision not found")


def test_cleanup_in_a_subprocess(run_cli: Any, service: DatabaseService) -> None:
    ok(run_cli("demo"))
    assert "removed demo project" in ok(run_cli("demo", "--remove")).stdout
    assert service.get_projects() == []
