"""Read/Edit rules against real symbolic links on disk (issue 8, class 4).

An allow needs both the path as written and the file it reaches; a deny hits
either.  Every case builds real links in a tmp folder: a link inside the
project to a key outside it, linked directories, chains, relative targets,
``link/..``, loops, dangling links, and linked anchors (home, project root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerv import DatabaseService
from nerv.permissions import CompiledRules, MatchContext, RuleSpec
from nerv.permissions.paths import MAX_LINKS, physical


def compiled(*rules: tuple[str, str]) -> CompiledRules:
    return CompiledRules(RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules))


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """home/.ssh/id_rsa outside the project; repo/ the project and working directory."""
    home, repo = tmp_path / "home", tmp_path / "repo"
    (home / ".ssh" / "sub").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("KEY")
    (repo / "src").mkdir(parents=True)
    (repo / "src" / "a.py").write_text("print()")
    (repo / "public.txt").write_text("hello")
    links = {
        "key": home / ".ssh" / "id_rsa",  # a file link to a key outside the project
        "sshdir": home / ".ssh",  # a linked directory
        "chain1": repo / "chain2",
        "chain2": home / ".ssh" / "id_rsa",
        "deep": home / ".ssh" / "sub",  # deep/../id_rsa is the key, not repo/id_rsa
        "dangling": home / ".ssh" / "new_key",  # does not exist: a Write would create the key
        "inside": repo / "src" / "a.py",
        "secret-link": repo / "public.txt",
        "loop_a": repo / "loop_b",
        "loop_b": repo / "loop_a",
    }
    for name, target in links.items():
        (repo / name).symlink_to(target)
    (repo / "rel").symlink_to(Path("..") / "home" / ".ssh" / "id_rsa")  # a relative target
    return {"home": home, "repo": repo, "tmp": tmp_path}


def ctx(world: dict[str, Path], cwd: Path | None = None, root: Path | None = None,
        home: Path | None = None) -> MatchContext:
    return MatchContext(cwd=str(cwd or world["repo"]), project_root=str(root or world["repo"]),
                        home=str(home or world["home"]))


PROJECT = (("allow", "Read(/**)"), ("allow", "Edit(/**)"), ("allow", "Glob"), ("deny", "Read(~/.ssh/**)"))
TO_THE_KEY = ["key", "sshdir/id_rsa", "chain1", "rel", "deep/../id_rsa", "./sshdir/../.ssh/id_rsa",
              "src/../key"]


@pytest.mark.parametrize("path", TO_THE_KEY)
@pytest.mark.parametrize("tool", ["Read", "Edit", "Write"])
def test_links_into_a_denied_folder_are_denied(world: dict[str, Path], path: str, tool: str) -> None:
    rules = compiled(*PROJECT)
    for written in (path, str(world["repo"] / path)):
        decision = rules.evaluate(tool, {"file_path": written}, ctx(world))
        assert decision.action == "deny", (tool, written, decision)
        assert decision.rules[0].text == "Read(~/.ssh/**)"
        assert "reached through a symbolic link" in decision.reason, decision.reason


def test_lexical_reading_alone_would_have_allowed_them(world: dict[str, Path]) -> None:
    """The check above is not vacuous: each path is inside the project as written."""
    for path in TO_THE_KEY:
        written = os.path.normpath(world["repo"] / path)
        assert written.startswith(str(world["repo"]) + "/"), path
        assert physical(str(world["repo"] / path)) == str(world["home"] / ".ssh" / "id_rsa"), path


def test_a_dangling_link_is_judged_by_the_file_a_write_would_create(world: dict[str, Path]) -> None:
    rules = compiled(*PROJECT)
    assert rules.evaluate("Write", {"file_path": "dangling"}, ctx(world)).action == "deny"
    assert physical(str(world["repo"] / "dangling")) == str(world["home"] / ".ssh" / "new_key")


@pytest.mark.parametrize("path", ["key", "sshdir/id_rsa", "chain1", "rel", "deep/../id_rsa", "dangling"])
def test_an_allow_needs_the_link_and_its_target(world: dict[str, Path], path: str) -> None:
    rules = compiled(("allow", "Read(/**)"), ("allow", "Edit(/**)"))  # no deny at all
    for tool in ("Read", "Edit"):
        decision = rules.evaluate(tool, {"file_path": path}, ctx(world))
        assert decision.action is None, (tool, path, decision)
    # ... and both allowed together allow it
    both = compiled(("allow", "Read(/**)"), ("allow", f"Read(//{str(world['home']).lstrip('/')}/**)"))
    assert both.evaluate("Read", {"file_path": path}, ctx(world)).action == "allow"


def test_links_that_stay_inside_are_allowed(world: dict[str, Path]) -> None:
    rules = compiled(*PROJECT)
    for path in ("inside", "src/a.py", "secret-link", "public.txt", "src/new.py"):
        assert rules.evaluate("Read", {"file_path": path}, ctx(world)).action == "allow", path
        assert rules.evaluate("Edit", {"file_path": path}, ctx(world)).action == "allow", path


def test_a_deny_on_the_link_itself_holds(world: dict[str, Path]) -> None:
    rules = compiled(("allow", "Read(/**)"), ("deny", "Read(/secret-link)"))
    assert rules.evaluate("Read", {"file_path": "public.txt"}, ctx(world)).action == "allow"
    assert rules.evaluate("Read", {"file_path": "secret-link"}, ctx(world)).action == "deny"
    # and a deny on the target holds through the link
    rules = compiled(("allow", "Read(/**)"), ("deny", "Read(/public.txt)"))
    assert rules.evaluate("Read", {"file_path": "secret-link"}, ctx(world)).action == "deny"


@pytest.mark.parametrize(
    "tool_input", [{"path": "sshdir"}, {"pattern": "sshdir/*"}, {"pattern": "*", "path": "deep/.."}]
)
def test_search_tools_follow_linked_folders(world: dict[str, Path], tool_input: dict[str, str]) -> None:
    rules = compiled(*PROJECT, ("allow", "Grep"))
    assert rules.evaluate("Glob", tool_input, ctx(world)).action == "deny", tool_input
    if "path" in tool_input:
        assert rules.evaluate("Grep", {"pattern": "x", **tool_input}, ctx(world)).action == "deny"


def test_loops_are_never_allowed(world: dict[str, Path]) -> None:
    assert physical(str(world["repo"] / "loop_a")) is None
    rules = compiled(*PROJECT)
    for path in ("loop_a", "loop_b/x", "src/../loop_a"):
        decision = rules.evaluate("Read", {"file_path": path}, ctx(world))
        assert decision.action == "ask", (path, decision)
        assert "symbolic links" in decision.reason
    # a deny that the written path meets still wins
    deny = compiled(("allow", "Read(/**)"), ("deny", "Read(/loop_a)"))
    assert deny.evaluate("Read", {"file_path": "loop_a"}, ctx(world)).action == "deny"


def test_a_chain_longer_than_the_kernel_follows_is_unknowable(tmp_path: Path) -> None:
    for n in range(MAX_LINKS + 1):
        (tmp_path / f"l{n}").symlink_to(tmp_path / f"l{n + 1}")
    (tmp_path / f"l{MAX_LINKS + 1}").write_text("end")
    assert physical(str(tmp_path / "l1")) == str(tmp_path / f"l{MAX_LINKS + 1}")
    assert physical(str(tmp_path / "l0")) is None


def test_relative_paths_resolve_against_the_calls_cwd(world: dict[str, Path]) -> None:
    rules = compiled(*PROJECT)
    src = world["repo"] / "src"
    assert rules.evaluate("Read", {"file_path": "../key"}, ctx(world, cwd=src)).action == "deny"
    assert rules.evaluate("Read", {"file_path": "a.py"}, ctx(world, cwd=src)).action == "allow"


def test_linked_anchors_do_not_make_allows_stricter_or_denies_weaker(world: dict[str, Path]) -> None:
    tmp = world["tmp"]
    (tmp / "repo-link").symlink_to(world["repo"])
    (tmp / "home-link").symlink_to(world["home"])
    rules = compiled(*PROJECT)
    linked = ctx(world, cwd=tmp / "repo-link", root=tmp / "repo-link", home=tmp / "home-link")
    assert rules.evaluate("Read", {"file_path": "src/a.py"}, linked).action == "allow"
    full = str(tmp / "repo-link" / "src/a.py")
    assert rules.evaluate("Edit", {"file_path": full}, linked).action == "allow"
    for path in ("key", str(world["home"] / ".ssh/id_rsa"), str(tmp / "home-link/.ssh/id_rsa")):
        assert rules.evaluate("Read", {"file_path": path}, linked).action == "deny", path


def test_the_real_hook_denies_a_link_to_a_key(world: dict[str, Path], tmp_path: Path) -> None:
    """End to end: nerv-hook as a subprocess, rules in a real database."""
    nerv_home = tmp_path / "nerv"
    nerv_home.mkdir()
    with DatabaseService(nerv_home / "state.db") as service:
        service.create_rule_from_text("Read(/**)", "allow")
        service.create_rule_from_text(f"Read(//{str(world['home']).lstrip('/')}/.ssh/**)", "deny")
    payload = {
        "session_id": "symlink-1", "transcript_path": str(tmp_path / "t.jsonl"), "cwd": str(world["repo"]),
        "hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {"file_path": "key"},
    }
    env = {**os.environ, "NERV_HOME": str(nerv_home), "CLAUDE_PROJECT_DIR": str(world["repo"])}
    env.pop("NERV_DB", None)
    answers = []
    for file_path in ("key", "public.txt"):
        payload["tool_input"] = {"file_path": file_path}
        proc = subprocess.run([sys.executable, "-m", "nerv.hook"], input=json.dumps(payload).encode(),
                              capture_output=True, env=env, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        answers.append(json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"])
    assert answers == ["deny", "allow"]


# -- a law over random link trees, with the kernel's own answer as the oracle ------------------------
NAMES = ["a", "b", "c", "d"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    links=st.lists(st.tuples(st.sampled_from(["p", "p/a", "o"]), st.sampled_from(NAMES),
                             st.sampled_from(["p", "p/a", "p/b", "o", "o/a", "o/b", "p/c", "o/c", "x"]),
                             st.booleans()), max_size=6),
    path=st.lists(st.sampled_from([*NAMES, "..", ".", "p", "o"]), min_size=1, max_size=6),
)
def test_law_allowed_paths_really_stay_inside_and_denied_folders_are_never_reached(
        tmp_path_factory: pytest.TempPathFactory, links: list[tuple[str, str, str, bool]],
        path: list[str]) -> None:
    top = tmp_path_factory.mktemp("law")
    for folder in ("p/a", "p/b", "o/a", "o/b"):
        (top / folder).mkdir(parents=True, exist_ok=True)
    (top / "o" / "b" / "key").write_text("KEY")
    for where, name, target, relative in links:
        link = top / where / name
        if link.exists() or link.is_symlink():
            continue
        dest = top / target
        link.symlink_to(os.path.relpath(dest, link.parent) if relative else dest)
    project, outside = top / "p", top / "o"
    rules = compiled(("allow", "Read(/**)"), ("deny", f"Read(//{str(outside).lstrip('/')}/**)"))
    given_path = "/".join(path)
    decision = rules.evaluate("Read", {"file_path": given_path}, MatchContext(cwd=str(project / "a"),
                                                                              project_root=str(project)))
    full = os.path.join(project / "a", given_path)
    try:
        real = os.path.realpath(full, strict=False)
        loop = False
    except OSError:
        real, loop = "", True
    try:
        os.stat(full)
    except OSError as exc:
        loop = loop or exc.errno == 40  # ELOOP: the kernel cannot reach it either
    if decision.action == "allow":
        assert not loop
        assert os.path.normpath(full).startswith(str(project) + "/") or os.path.normpath(full) == str(project)
        assert real == str(project) or real.startswith(str(project) + "/"), (given_path, real)
    if not loop and (real == str(outside) or real.startswith(str(outside) + "/")):
        assert decision.action == "deny", (given_path, real, decision)


BASH_THROUGH_LINKS = ["cat deep/../id_rsa", "head -1 ./deep/../id_rsa", "cat key", "cat chain1",
                      "echo x > deep/../authorized_keys", "echo x >> sshdir/config"]


@pytest.mark.parametrize("command", BASH_THROUGH_LINKS)
def test_bash_file_arguments_and_redirects_follow_links_like_the_kernel(world: dict[str, Path],
                                                                        command: str) -> None:
    """Bash hands its file paths to the same entry as written: 'deep/..' is climbed from the link's target."""
    rules = compiled(("allow", "Bash(cat:*)"), ("allow", "Bash(head:*)"), ("allow", "Bash(echo:*)"),
                     ("allow", "Edit(/**)"), ("deny", "Read(~/.ssh/**)"))
    decision = rules.evaluate("Bash", {"command": command}, ctx(world))
    assert decision.action == "deny", (command, decision)
    assert rules.evaluate("Bash", {"command": "cat public.txt"}, ctx(world)).action == "allow"
