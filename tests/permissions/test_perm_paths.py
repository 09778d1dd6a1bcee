"""Read/Edit rules: gitignore-style patterns, anchors, traversal and tool families."""

from __future__ import annotations

import pytest

from nerv.permissions import CompiledRules, MatchContext, RuleSpec

CTX = MatchContext(cwd="/repo/pkg", project_root="/repo", home="/home/me")


def compiled(*rules: tuple[str, str]) -> CompiledRules:
    return CompiledRules(RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules))


def decide(rule: str, tool: str, path: str, ctx: MatchContext = CTX, field: str = "file_path") -> str | None:
    return compiled(("deny", rule)).evaluate(tool, {field: path}, ctx).action


@pytest.mark.parametrize(
    ("rule", "hits", "misses"),
    [
        # //path: filesystem root
        ("Read(//etc/passwd)", ["/etc/passwd", "//etc/passwd", "/etc/./passwd", "/tmp/../etc/passwd"],
         ["/etc/passwd.bak", "/repo/etc/passwd"]),
        ("Read(//etc/**)", ["/etc", "/etc/a", "/etc/a/b/c"], ["/etcetera/a", "/x/etc/a"]),
        # ~/path: home
        ("Read(~/.ssh/**)",
         ["/home/me/.ssh", "/home/me/.ssh/id_rsa", "~/.ssh/config", "/home/me/x/../.ssh/k"],
         ["/home/me/.sshx/a", "/root/.ssh/id_rsa", "/repo/.ssh/a"]),
        ("Read(~/Documents/*.pdf)", ["/home/me/Documents/a.pdf"], ["/home/me/Documents/sub/a.pdf"]),
        ("Read(~/.aws/credentials)", ["/home/me/.aws/credentials"], ["/home/me/.aws/config"]),
        # /path: project root
        ("Edit(/src/**/*.ts)", ["/repo/src/a.ts", "/repo/src/x/y/a.ts"], ["/repo/pkg/src/a.ts", "/src/a.ts"]),
        ("Edit(/src/*.ts)", ["/repo/src/a.ts"], ["/repo/src/x/a.ts"]),
        ("Edit(/config)", ["/repo/config", "/repo/config/a/b"], ["/repo/configs", "/repo/pkg/config"]),
        ("Edit(/)", ["/repo/anything/at/all", "/repo"], ["/etc/passwd", "/repofoo/x"]),
        # path and ./path: working directory
        ("Read(*.env)", ["/repo/pkg/.env", "/repo/pkg/a.env", "/repo/pkg/deep/er/x.env", "/repo/pkg/x.env/y"],
         ["/repo/.env", "/repo/pkg/.envrc", "/other/x.env"]),
        ("Read(.env)", ["/repo/pkg/.env", "/repo/pkg/sub/.env"], ["/repo/.env", "/repo/pkg/.env.local"]),
        ("Read(./.env)", ["/repo/pkg/.env"], ["/repo/pkg/sub/.env"]),
        # deny and ask rules relative to the working directory match at any depth below it
        ("Read(src/*.py)", ["/repo/pkg/src/a.py", "/repo/pkg/x/src/a.py"],
         ["/repo/pkg/src/a/b.py", "/repo/src/a.py"]),
        ("Read(secrets/**)", ["/repo/pkg/secrets", "/repo/pkg/a/b/secrets/k", "/repo/pkg/secrets/x/y"],
         ["/repo/secrets/k", "/repo/pkg/secretsx/k", "/other/secrets/k"]),
        ("Read(./secrets/**)", ["/repo/pkg/secrets/k"], ["/repo/pkg/a/secrets/k"]),
        ("Read(../secrets/**)", ["/repo/secrets/a"], ["/repo/pkg/secrets/a", "/repo/pkg/x/../secrets/a"]),
        ("Read(**/node_modules/**)", ["/repo/pkg/node_modules/a", "/repo/pkg/a/node_modules/b/c"],
         ["/repo/node_modules/a"]),
        ("Read(dist/)", ["/repo/pkg/dist", "/repo/pkg/dist/a.js"], ["/repo/pkg/distx"]),
        # gitignore details
        ("Read(//tmp/a?c)", ["/tmp/abc", "/tmp/a.c"], ["/tmp/a/c", "/tmp/abbc"]),
        ("Read(//tmp/[ab]x)", ["/tmp/ax", "/tmp/bx"], ["/tmp/cx"]),
        ("Read(//tmp/[!ab]x)", ["/tmp/cx"], ["/tmp/ax", "/tmp//x"]),
        ("Read(//tmp/[a-c]z)", ["/tmp/bz"], ["/tmp/dz", "/tmp/-z"]),
        ("Read(//tmp/\\*lit)", ["/tmp/*lit"], ["/tmp/xlit"]),
        ("Read(//tmp/[x)", ["/tmp/[x"], ["/tmp/x"]),
        ("Read(//a/**/b)", ["/a/b", "/a/x/b", "/a/x/y/b"], ["/a/xb"]),
        ("Read(//a.b+c(d)/x)", ["/a.b+c(d)/x"], ["/aXb+c(d)/x"]),
    ],
)
def test_path_rule_forms(rule: str, hits: list[str], misses: list[str]) -> None:
    for path in hits:
        assert decide(rule, "Read" if rule.startswith("Read") else "Edit", path) == "deny", path
    for path in misses:
        assert decide(rule, "Read" if rule.startswith("Read") else "Edit", path) is None, path


def test_relative_inputs_resolve_against_cwd() -> None:
    assert decide("Read(//repo/secret)", "Read", "../secret") == "deny"
    assert decide("Read(.env)", "Read", ".env") == "deny"
    assert decide("Read(.env)", "Read", "a/../.env") == "deny"


@pytest.mark.parametrize(
    "path",
    [
        "/repo/src/../.env",
        "/repo/./.env",
        "/repo//.env",
        "/repo/pkg/../../repo/.env",
        "/repo/pkg/../.env",
        "../.env",
    ],
)
def test_traversal_cannot_escape_a_deny(path: str) -> None:
    rules = compiled(("allow", "Read(/**)"), ("deny", "Read(/.env)"))
    assert rules.evaluate("Read", {"file_path": path}, CTX).action == "deny"


def test_traversal_cannot_climb_out_of_an_allow() -> None:
    rules = compiled(("allow", "Edit(/src/**)"))
    assert rules.evaluate("Edit", {"file_path": "/repo/src/a.py"}, CTX).action == "allow"
    assert rules.evaluate("Edit", {"file_path": "/repo/src/../../etc/passwd"}, CTX).action is None
    assert rules.evaluate("Edit", {"file_path": "/repo/src/../.git/config"}, CTX).action is None


@pytest.mark.parametrize("tool", ["Edit", "Write", "MultiEdit", "NotebookEdit"])
def test_edit_rules_cover_every_editing_tool(tool: str) -> None:
    field = "notebook_path" if tool == "NotebookEdit" else "file_path"
    assert decide("Edit(~/.ssh/**)", tool, "/home/me/.ssh/authorized_keys", field=field) == "deny"
    assert decide("Edit", tool, "/anything", field=field) == "deny"


def test_specific_edit_tool_rule_covers_only_that_tool() -> None:
    rules = compiled(("deny", "Write(/src/**)"))
    assert rules.evaluate("Write", {"file_path": "/repo/src/a"}, CTX).action == "deny"
    assert rules.evaluate("Edit", {"file_path": "/repo/src/a"}, CTX).action is None


@pytest.mark.parametrize(
    ("tool", "tool_input"),
    [
        ("Read", {"file_path": "/home/me/.ssh/id_rsa"}),
        ("Glob", {"pattern": "*", "path": "/home/me/.ssh"}),
        ("Glob", {"pattern": "/home/me/.ssh/*"}),
        ("Glob", {"pattern": "../../home/me/.ssh/*"}),
        ("Grep", {"pattern": "BEGIN", "path": "/home/me/.ssh"}),
        ("Grep", {"pattern": "BEGIN", "path": "/home/me/.ssh/id_rsa"}),
        ("LS", {"path": "/home/me/.ssh"}),
        ("NotebookRead", {"notebook_path": "/home/me/.ssh/x.ipynb"}),
    ],
)
def test_read_rules_cover_search_tools(tool: str, tool_input: dict[str, str]) -> None:
    rules = compiled(("allow", "Read"), ("allow", "Glob"), ("allow", "Grep"), ("allow", "LS"),
                     ("deny", "Read(~/.ssh/**)"))
    assert rules.evaluate(tool, tool_input, CTX).action == "deny"


def test_search_tools_default_to_cwd() -> None:
    rules = compiled(("allow", "Read(/pkg/**)"))
    assert rules.evaluate("Grep", {"pattern": "x"}, CTX).action == "allow"
    assert rules.evaluate("Glob", {"pattern": "**/*.py"}, CTX).action == "allow"
    assert rules.evaluate("Glob", {"pattern": "../*.py"}, CTX).action is None  # reads /repo too
    assert rules.evaluate("LS", {}, CTX).action is None  # LS names no path: nothing to match


def test_allow_rules_relative_to_cwd_stay_anchored() -> None:
    rules = compiled(("allow", "Read(src/**)"))
    assert rules.evaluate("Read", {"file_path": "/repo/pkg/src/a.py"}, CTX).action == "allow"
    assert rules.evaluate("Read", {"file_path": "/repo/pkg/x/src/a.py"}, CTX).action is None


@pytest.mark.parametrize("value", [None, 3, "", ["/repo/pkg/a"], {"path": "/repo/pkg/a"}, "a\0b", True])
def test_missing_or_malformed_path_is_never_allowed(value: object) -> None:
    tool_input = {} if value is None else {"file_path": value}
    for rule in ("Read", "Read(/**)", "Read(**)"):
        decision = compiled(("allow", rule)).evaluate("Read", tool_input, CTX)
        assert decision.action is None, (rule, value)
        assert "not allowed" in decision.reason
    assert compiled(("deny", "Read")).evaluate("Read", tool_input, CTX).action == "deny"
    assert compiled(("ask", "Edit")).evaluate("Write", tool_input, CTX).action == "ask"


@pytest.mark.parametrize("value", [["/home/me/.ssh/id_rsa"], {"p": "~/.ssh/id_rsa"}, ["x", "~/.ssh/k"]])
def test_deny_rules_see_the_text_of_a_malformed_path(value: object) -> None:
    rules = compiled(("allow", "Read"), ("deny", "Read(~/.ssh/**)"))
    assert rules.evaluate("Read", {"file_path": value}, CTX).action == "deny"


def test_project_root_defaults_to_cwd_and_home_to_the_users() -> None:
    import os

    rules = compiled(("deny", "Read(/secret)"), ("deny", "Read(~/.token)"))
    assert rules.evaluate("Read", {"file_path": "/w/secret"}, MatchContext(cwd="/w")).action == "deny"
    home = os.path.expanduser("~")
    assert rules.evaluate("Read", {"file_path": home + "/.token"}, MatchContext(cwd="/w")).action == "deny"
    assert rules.evaluate("Read", {"file_path": os.getcwd() + "/secret"}).action == "deny"


def test_allow_reports_the_rule() -> None:
    rules = compiled(("allow", "Edit(/src/**)"))
    decision = rules.evaluate("Edit", {"file_path": "/repo/src/x.py"}, CTX)
    assert decision.action == "allow"
    assert [r.text for r in decision.rules] == ["Edit(/src/**)"]
    assert "/repo/src/x.py" in decision.reason


@pytest.mark.parametrize(
    "pattern",
    ["src/**/../../../etc/*", "*/../../x", "{/etc,src}/*", "src/{a,../../etc}/*", "**/{x,{y,/z}}", "src/{a"],
)
def test_glob_patterns_that_can_climb_out_are_never_allowed(pattern: str) -> None:
    rules = compiled(("allow", "Read(/**)"), ("allow", "Glob"))
    decision = rules.evaluate("Glob", {"pattern": pattern}, CTX)
    assert decision.action == "ask" and "climb out" in decision.reason, decision
    deny = compiled(("allow", "Glob"), ("deny", "Read(src/**)"))
    if pattern.startswith("src"):
        assert deny.evaluate("Glob", {"pattern": pattern}, CTX).action == "deny"


@pytest.mark.parametrize("pattern", ["**/*.{ts,tsx}", "src/**/*.py", "{a,b}/*.md", "*.txt"])
def test_ordinary_glob_patterns_are_allowed(pattern: str) -> None:
    rules = compiled(("allow", "Read(/**)"), ("allow", "Glob"))
    assert rules.evaluate("Glob", {"pattern": pattern}, CTX).action == "allow"
