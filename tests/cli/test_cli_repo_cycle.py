"""nerv repo ... and nerv cycle ..."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_error, ok

from nerv import DatabaseService
from nerv.models import Project


def test_repo_add_list_remove(
    invoke: Any, project: Project, service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "api").mkdir()
    (tmp_path / "web").mkdir()
    added = ok(invoke("repo", "add", "./web/../api", "--branch", "dev", "--json")).json()
    assert set(added) == {"id", "project_id", "name", "path", "default_branch", "created_at", "updated_at"}
    assert (added["path"], added["name"], added["default_branch"], added["project_id"]) == (
        str(tmp_path / "api"),
        "api",
        "dev",
        project.id,
    )
    out = ok(invoke("repo", "add", str(tmp_path / "web"), "--name", "frontend", "--branch", "main")).stdout
    assert out.startswith("added repo ") and "frontend" in out
    listed = ok(invoke("repo", "list", "--json")).json()
    assert [r["name"] for r in listed] == ["api", "frontend"]
    human = ok(invoke("repo", "list")).stdout.splitlines()
    assert human[0].split() == ["ID", "NAME", "BRANCH", "PATH", "ADDED"] and len(human) == 3
    duplicate = invoke("repo", "add", "api", "--branch", "dev")
    assert_error(duplicate, 4, "repo already exists (same project_id, path)")
    assert ok(invoke("repo", "remove", added["id"][:6], "--json")).json() == {"deleted": added["id"]}
    assert [r.name for r in service.get_repos(project.id)] == ["frontend"]
    assert_error(invoke("repo", "remove", added["id"]), 3, "repo not found")


def git(folder: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    proc = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed: repo branch tests skipped")
def test_repo_add_reads_the_branch_from_git(invoke: Any, project: Project, tmp_path: Path) -> None:
    local = tmp_path / "local"
    local.mkdir()
    git(local, "init", "-q", "-b", "trunk")
    assert ok(invoke("repo", "add", str(local), "--json")).json()["default_branch"] == "trunk"
    # The branch checked out counts even before the first commit; a later switch is seen by a new add.
    git(local, "commit", "-q", "--allow-empty", "-m", "first")
    git(local, "switch", "-q", "-c", "feature/x")
    clone_source = tmp_path / "upstream"
    clone_source.mkdir()
    git(clone_source, "init", "-q", "-b", "develop")
    git(clone_source, "commit", "-q", "--allow-empty", "-m", "first")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(clone_source), str(clone))
    git(clone, "switch", "-q", "-c", "my-work")
    # A clone: the remote's default branch, not whatever is checked out.
    assert ok(invoke("repo", "add", str(clone), "--json")).json()["default_branch"] == "develop"
    # A worktree of the local repository reports its own branch.
    worktree = tmp_path / "wt"
    git(local, "worktree", "add", "-q", "-b", "hotfix", str(worktree))
    assert ok(invoke("repo", "add", str(worktree), "--json")).json()["default_branch"] == "hotfix"
    # A detached HEAD names no branch: nerv asks instead of guessing.
    detached = tmp_path / "detached"
    git(local, "worktree", "add", "-q", "--detach", str(detached))
    assert_error(invoke("repo", "add", str(detached)), 2, "detached HEAD", "--branch NAME")
    given = ok(invoke("repo", "add", str(detached), "--branch", "trunk", "--json")).json()
    assert given["default_branch"] == "trunk"


def test_branch_from_the_head_file_without_git(tmp_path: Path) -> None:
    from nerv.gitrepo import _head_file_branch

    repo = tmp_path / "r"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/release/2.0\n")
    assert _head_file_branch(repo) == "release/2.0"
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".git").write_text("gitdir: ../r/.git\n")
    assert _head_file_branch(linked) == "release/2.0"
    (repo / ".git" / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert _head_file_branch(repo) is None
    assert _head_file_branch(tmp_path) is None


def test_repo_list_all_and_other_projects(
    invoke: Any, project: Project, service: DatabaseService, tmp_path: Path
) -> None:
    other = service.create_project("beta")
    service.add_repo(project.id, str(tmp_path / "a"))
    service.add_repo(other.id, str(tmp_path / "b"))
    assert [r["name"] for r in ok(invoke("repo", "list", "--project", project.id, "--json")).json()] == ["a"]
    assert [r["name"] for r in ok(invoke("repo", "list", "--all", "--json")).json()] == ["a", "b"]
    assert "PROJECT" in ok(invoke("repo", "list", "--all")).stdout.splitlines()[0]
    assert_error(invoke("repo", "list", "--all", "--project", other.id), 2, "either")
    assert (
        "no repositories"
        in ok(invoke("repo", "list", "--project", service.create_project("empty").id)).stdout
    )


def test_repo_bad_input(invoke: Any, project: Project, service: DatabaseService, tmp_path: Path) -> None:
    assert_error(invoke("repo", "add"), 2, "Missing argument")
    assert_error(invoke("repo", "add", "x", "--project", "nope"), 3, "project not found")
    missing = tmp_path / "does" / "not" / "exist"
    assert_error(invoke("repo", "add", str(missing)), 2, f"no such folder: {missing}")
    assert_error(invoke("repo", "add", str(missing), "--branch", "main"), 2, "no such folder")
    (tmp_path / "file.txt").write_text("x")
    assert_error(invoke("repo", "add", str(tmp_path / "file.txt"), "--branch", "main"), 2, "is a file")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert_error(invoke("repo", "add", str(plain)), 2, "cannot tell the default branch", "--branch NAME")
    assert service.get_repos(project.id) == []
    assert_error(invoke("repo", "remove"), 2, "Missing argument")


def test_cycle_create_list_show_complete(invoke: Any, project: Project, service: DatabaseService) -> None:
    first = ok(invoke("cycle", "create", "--goal", "first", "--json")).json()
    assert (first["number"], first["status"], first["goal"], first["project_id"]) == (
        1,
        "active",
        "first",
        project.id,
    )
    assert first["started_at"] is not None and first["completed_at"] is None
    out = ok(invoke("cycle", "create", "--status", "planned")).stdout
    assert out.startswith("created cycle #2 ") and "(planned)" in out
    assert [c["number"] for c in ok(invoke("cycle", "list", "--json")).json()] == [1, 2]
    assert [c["number"] for c in ok(invoke("cycle", "list", "--status", "planned", "--json")).json()] == [2]
    human = ok(invoke("cycle", "list")).stdout.splitlines()
    assert human[0].split()[:4] == ["#", "ID", "STATUS", "GOAL"] and len(human) == 3
    task = service.create_task(project.id, "in the cycle", cycle_id=first["id"])
    shown = ok(invoke("cycle", "show", first["id"][:6], "--json")).json()
    assert shown == first
    text = ok(invoke("cycle", "show", first["id"])).stdout
    assert "first" in text and task.id[:8] in text and "in the cycle" in text
    done = ok(invoke("cycle", "complete", first["id"][:6], "--learnings", "smaller steps", "--json")).json()
    assert (done["status"], done["learnings"]) == ("completed", "smaller steps")
    assert done["completed_at"] is not None
    assert_error(invoke("cycle", "complete", first["id"]), 2, "already completed")
    planned = service.get_cycles(project.id, "planned")[0]
    assert "completed cycle #2" in ok(invoke("cycle", "complete", planned.id)).stdout
    assert service.get_cycle(planned.id).started_at is not None  # type: ignore[union-attr]


def test_cycle_bad_input(invoke: Any, project: Project) -> None:
    assert_error(invoke("cycle", "create", "--status", "completed"), 2, "planned", "active")
    assert_error(invoke("cycle", "list", "--status", "done"), 2, "completed")
    assert_error(invoke("cycle", "show", "zzzz"), 3, "cycle not found")
    assert "no cycles" in ok(invoke("cycle", "list")).stdout


def test_repo_and_cycle_in_a_subprocess(run_cli: Any, project: Project, tmp_path: Path) -> None:
    repo = ok(run_cli("repo", "add", str(tmp_path), "--branch", "main", "--json")).json()
    assert repo["path"] == str(tmp_path)
    cycle = ok(run_cli("cycle", "create", "--goal", "g", "--json")).json()
    assert cycle["number"] == 1
