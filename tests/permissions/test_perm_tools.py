"""WebFetch, MCP and other tools; precedence; match_command."""

from __future__ import annotations

import pytest

from nerv.permissions import CompiledRules, Decision, MatchContext, RuleSpec, RuleSyntaxError


def compiled(*rules: tuple[str, str]) -> CompiledRules:
    return CompiledRules(RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules))


def fetch(rule: str, url: str) -> str | None:
    return compiled(("allow", rule)).evaluate("WebFetch", {"url": url}).action


@pytest.mark.parametrize(
    ("rule", "hits", "misses"),
    [
        ("WebFetch(domain:example.com)",
         ["https://example.com", "https://example.com/a?b", "http://EXAMPLE.com.", "https://u:p@example.com:8443/",
          "https://evil.com@example.com/", "https://exam\tple.com/", "https://ex%61mple.com/",
          "https://example.com\\@evil.com"],
         ["https://api.example.com", "https://example.com.evil.com", "https://evilexample.com",
          "https://example.com:x@evil.com", "mailto:a@example.com",
          "not a url"]),
        ("WebFetch(domain:*.example.com)", ["https://api.example.com/x", "https://a.b.example.com"],
         ["https://example.com", "https://notexample.com", "https://example.com.evil.io"]),
        ("WebFetch(domain:*)", ["https://anything.io/x"], ["file:///etc/passwd"]),
        ("WebFetch(https://docs.python.org/*)", ["https://docs.python.org/3/"], ["https://docs.python.org.evil/"]),
        ("WebFetch", ["https://x", "whatever"], []),
    ],
)
def test_webfetch(rule: str, hits: list[str], misses: list[str]) -> None:
    for url in hits:
        assert fetch(rule, url) == "allow", url
    for url in misses:
        assert fetch(rule, url) is None, url


def test_webfetch_without_url() -> None:
    assert compiled(("allow", "WebFetch(domain:x.com)")).evaluate("WebFetch", {}).action is None
    assert compiled(("deny", "WebFetch")).evaluate("WebFetch", {}).action == "deny"


@pytest.mark.parametrize(
    ("rule", "hits", "misses"),
    [
        ("mcp__github", ["mcp__github__create_issue", "mcp__github__x", "mcp__github"],
         ["mcp__githubx__a", "mcp__gitlab__a", "github"]),
        ("mcp__github__*", ["mcp__github__create_issue", "mcp__github"], ["mcp__gitlab__a"]),
        ("mcp__github__create_issue", ["mcp__github__create_issue"],
         ["mcp__github__create_issues", "mcp__github__delete_repo", "mcp__github"]),
        ("mcp__github__get_*", ["mcp__github__get_issue"], ["mcp__github__create_issue"]),
        ("mcp__*", ["mcp__a__b", "mcp__github"], ["Bash", "Read"]),
    ],
)
def test_mcp(rule: str, hits: list[str], misses: list[str]) -> None:
    rules = compiled(("allow", rule))
    for tool in hits:
        assert rules.evaluate(tool, {"x": 1}).action == "allow", tool
    for tool in misses:
        assert rules.evaluate(tool, {"x": 1}).action is None, tool


def test_tool_glob_cannot_take_a_specifier() -> None:
    with pytest.raises(RuleSyntaxError, match="cannot take a specifier"):
        compiled(("allow", "mcp__*(x)"))


def test_tool_glob_can_deny_bash() -> None:
    rules = compiled(("allow", "Bash(ls)"), ("deny", "*"))
    assert rules.evaluate("Bash", {"command": "ls"}).action == "deny"
    assert rules.evaluate("Read", {"file_path": "/x"}).action == "deny"


def test_other_tools() -> None:
    rules = compiled(("allow", "WebSearch"), ("allow", "Task(explore)"), ("deny", "Task(danger*)"),
                     ("allow", "mcp__db__query(SELECT *)"))
    assert rules.evaluate("WebSearch", {"query": "x"}).action == "allow"
    assert rules.evaluate("Task", {"subagent_type": "explore", "prompt": "p"}).action == "allow"
    assert rules.evaluate("Task", {"subagent_type": "general", "description": "explore"}).action is None
    assert rules.evaluate("Task", {"subagent_type": "dangerous"}).action == "deny"
    assert rules.evaluate("TodoWrite", {"todos": []}).action is None
    # Unknown tools: deny/ask if any string value matches, allow only if all do.
    assert rules.evaluate("mcp__db__query", {"sql": "SELECT 1"}).action == "allow"
    assert rules.evaluate("mcp__db__query", {"sql": "SELECT 1", "note": "DROP"}).action is None
    assert rules.evaluate("mcp__db__query", {"limit": 5}).action is None
    deny = compiled(("allow", "mcp__db"), ("deny", "mcp__db__query(*DROP*)"))
    assert deny.evaluate("mcp__db__query", {"sql": "select", "x": "DROP TABLE t"}).action == "deny"


# -- precedence --------------------------------------------------------------------
@pytest.mark.parametrize("order", [0, 1, 2])
def test_deny_beats_ask_beats_allow_whatever_the_order(order: int) -> None:
    rules = [("allow", "Bash(git push origin main)"), ("ask", "Bash(git push:*)"), ("deny", "Bash(git:*)")]
    rules = rules[order:] + rules[:order]
    assert compiled(*rules).evaluate("Bash", {"command": "git push origin main"}).action == "deny"
    without_deny = [r for r in rules if r[0] != "deny"]
    assert compiled(*without_deny).evaluate("Bash", {"command": "git push origin main"}).action == "ask"


def test_specific_allow_does_not_override_broad_deny() -> None:
    rules = compiled(("deny", "Bash(aws *)"), ("allow", "Bash(aws s3 ls)"))
    assert rules.evaluate("Bash", {"command": "aws s3 ls"}).action == "deny"
    rules = compiled(("deny", "Read(~/**)"), ("allow", "Read(~/notes.txt)"))
    decision = rules.evaluate("Read", {"file_path": "/h/notes.txt"}, MatchContext(cwd="/w", home="/h"))
    assert decision.action == "deny"


def test_first_rule_in_input_order_is_reported() -> None:
    rules = compiled(("deny", "Bash(rm:*)"), ("deny", "Bash(rm -rf:*)"), ("deny", "Bash(*)"))
    decision = rules.evaluate("Bash", {"command": "rm -rf x"})
    assert decision.rules[0].id == "r0"
    assert decision.reason.startswith("denied by Bash(rm:*)")


def test_decision_shapes() -> None:
    rules = compiled(("deny", "Bash(rm -rf:*)"), ("allow", "Bash(npm test:*)"))
    denied = rules.evaluate("Bash", {"command": "npm test && rm -rf /"})
    assert denied == Decision("deny", (RuleSpec("r0", "Bash", "rm -rf:*", "deny"),),
                              "denied by Bash(rm -rf:*) for part 'rm -rf /'", ("npm test", "rm -rf /"))
    undecided = rules.evaluate("Bash", {"command": "npm test | curl x"})
    assert undecided.action is None and undecided.rules == ()
    assert undecided.reason == "no rule allows part 'curl x'"
    assert rules.evaluate("Read", {"file_path": "/x"}).reason == "no rule for Read"


def test_match_command() -> None:
    rules = compiled(("allow", "Bash(npm test:*)"), ("deny", "Read(//etc/**)"),
                     ("allow", "WebFetch(domain:x.com)"), ("ask", "Edit(//etc/**)"), ("allow", "Task(a)"))
    allow = rules.match_command("Bash", "npm test")
    assert allow is not None and allow.id == "r0"
    assert rules.match_command("Bash", "npm test && make") is None
    assert rules.match_command("Bash", "npm 'x") is None
    deny = rules.match_command("Read", "/etc/shadow")
    assert deny is not None and deny.id == "r1"
    web = rules.match_command("WebFetch", "https://x.com/a")
    assert web is not None and web.id == "r2"
    ask = rules.match_command("Write", "/srv/etc/hosts")
    assert ask is None
    read_deny = rules.match_command("Write", "/etc/hosts")  # a Read deny also blocks writing
    assert read_deny is not None and read_deny.id == "r1"
    task = rules.match_command("Task", "a")
    assert task is not None and task.id == "r4"


def test_bad_rules_are_rejected_at_compile_time() -> None:
    with pytest.raises(RuleSyntaxError, match="unknown action"):
        CompiledRules([RuleSpec("x", "Bash", None, "permit")])
    with pytest.raises(RuleSyntaxError, match="rule x"):
        CompiledRules([RuleSpec("x", "WebFetch", "domain:", "allow")])
    assert CompiledRules([RuleSpec("x", "Bash", "", "allow")]).count == 1
