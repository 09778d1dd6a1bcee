"""Input shapes and tool names (issue 8, classes 3 and 7): what the matcher does with odd calls.

* a missing or non-string ``command`` / ``file_path`` / ``url`` never skips deny rules and is
  never allowed;
* a Read deny also blocks Edit / Write of that path;
* ``Agent(...)`` and its old name ``Task(...)`` are one tool;
* deny / ask rules on one top-level parameter: ``Bash(run_in_background:true)``, ``Agent(model:opus)``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nerv.permissions import CompiledRules, MatchContext, RuleSpec, call_keys, candidate_key

CTX = MatchContext(cwd="/repo", project_root="/repo", home="/home/me")


def compiled(*rules: tuple[str, str]) -> CompiledRules:
    return CompiledRules(RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules))


def decide(rules: CompiledRules, tool: str, tool_input: Any) -> str | None:
    return rules.evaluate(tool, tool_input, CTX).action


# -- malformed input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "command", [["rm", "-rf", "/"], {"c": "rm -rf /"}, ["sudo", "x"], "sudo x"],
)
def test_a_command_that_is_not_a_string_still_meets_deny_rules(command: Any) -> None:
    rules = compiled(("allow", "Bash"), ("deny", "Bash(rm -rf:*)"), ("deny", "Bash(sudo:*)"))
    assert decide(rules, "Bash", {"command": command}) == "deny"


@pytest.mark.parametrize("command", [None, 3, 2.5, True, ["ls"], {"c": "ls"}, [], {}, [["ls"]]])
def test_a_command_that_is_not_a_string_is_never_allowed(command: Any) -> None:
    tool_input = {} if command is None else {"command": command}
    for rule in ("Bash", "Bash(*)", "Bash(ls)", "Bash(ls:*)"):
        decision = compiled(("allow", rule)).evaluate("Bash", tool_input, CTX)
        assert decision.action is None, (rule, command, decision)
        assert "not allowed" in decision.reason
    assert decide(compiled(("deny", "Bash")), "Bash", tool_input) == "deny"
    assert decide(compiled(("allow", "Bash"), ("ask", "Bash")), "Bash", tool_input) == "ask"


@pytest.mark.parametrize("tool_input", [None, "ls", ["ls"], 3])
def test_tool_input_that_is_not_an_object_is_never_allowed(tool_input: Any) -> None:
    for tool in ("Bash", "Read", "WebFetch"):
        assert decide(compiled(("allow", tool)), tool, tool_input) is None, (tool, tool_input)
        assert decide(compiled(("deny", tool)), tool, tool_input) == "deny"
    assert call_keys("Read", tool_input) == ["Read", "*"]


@pytest.mark.parametrize("tool_name", [None, 3, "", ["Bash"]])
def test_a_call_without_a_tool_name_is_never_allowed(tool_name: Any) -> None:
    assert decide(compiled(("allow", "Bash"), ("allow", "Read")), tool_name, {"command": "ls"}) is None
    assert call_keys(tool_name, {"command": "ls"}) in (["*"], ["", "*"])


def test_a_subagent_type_that_is_not_a_string_is_never_allowed() -> None:
    rules = compiled(("allow", "Agent(*)"), ("allow", "Agent(explore)"))
    assert decide(rules, "Agent", {"subagent_type": "explore"}) == "allow"
    assert decide(rules, "Agent", {"subagent_type": ["explore"]}) is None
    deny = compiled(("allow", "Agent"), ("deny", "Agent(danger*)"))
    assert decide(deny, "Agent", {"subagent_type": ["dangerous"]}) == "deny"


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([("Bash", "command"), ("Read", "file_path"), ("Write", "file_path"),
                        ("WebFetch", "url")]), JSON.filter(lambda v: not isinstance(v, str)))
def test_law_non_string_subjects_are_never_allowed_and_whole_denies_hold(tool_field: tuple[str, str],
                                                                         value: Any) -> None:
    tool, field = tool_field
    family = {"Write": "Edit"}.get(tool, tool)
    allow_all = compiled(("allow", tool), ("allow", f"{family}(*)"))
    assert decide(allow_all, tool, {field: value}) != "allow"
    assert decide(compiled(("allow", tool), ("deny", tool)), tool, {field: value}) == "deny"


# -- a Read deny blocks writes ------------------------------------------------------------------------
@pytest.mark.parametrize("tool", ["Edit", "Write", "MultiEdit", "NotebookEdit"])
@pytest.mark.parametrize(
    ("rule", "path"),
    [("Read(~/.ssh/**)", "/home/me/.ssh/id_rsa"), ("Read(//home/me/.ssh/id_rsa)", "~/.ssh/id_rsa"),
     ("Read(.env)", "/repo/pkg/.env"), ("Read(secrets/**)", "/repo/a/secrets/k"),
     ("Read(/.git/**)", ".git/config")],
)
def test_a_read_deny_blocks_editing_the_file(tool: str, rule: str, path: str) -> None:
    field = "notebook_path" if tool == "NotebookEdit" else "file_path"
    rules = compiled(("allow", "Edit"), ("deny", rule))
    assert decide(rules, tool, {field: path}) == "deny"
    assert decide(rules, tool, {field: "/repo/notes.txt"}) == "allow"


def test_only_read_denies_reach_edits() -> None:
    rules = compiled(("allow", "Edit"), ("ask", "Read(/docs/**)"), ("allow", "Read(/src/**)"),
                     ("deny", "Glob(/gen/**)"))
    assert decide(rules, "Edit", {"file_path": "/repo/docs/a.md"}) == "allow"
    assert decide(rules, "Write", {"file_path": "/repo/gen/x"}) == "allow"
    assert decide(compiled(("allow", "Read(/src/**)")), "Edit", {"file_path": "/repo/src/a"}) is None
    # and an Edit deny does not block reading
    edit_deny = compiled(("allow", "Read"), ("deny", "Edit(/src/**)"))
    assert decide(edit_deny, "Read", {"file_path": "/repo/src/a"}) == "allow"


def test_a_whole_read_deny_blocks_every_edit() -> None:
    assert decide(compiled(("allow", "Edit"), ("deny", "Read")), "Write", {"file_path": "/repo/a"}) == "deny"


def test_bash_file_checks_get_the_read_deny_through_other() -> None:
    """The entry the Bash matcher uses for redirect targets: ``_other("Edit", {"file_path": p}, ctx)``."""
    rules = compiled(("allow", "Edit(/**)"), ("deny", "Read(~/.ssh/**)"))
    decision = rules._other("Edit", {"file_path": "~/.ssh/authorized_keys"}, CTX)
    assert decision.action == "deny" and decision.rules[0].text == "Read(~/.ssh/**)"
    assert rules._other("Edit", {"file_path": "out.txt"}, CTX).action == "allow"


# -- Agent and Task ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rule_tool", ["Agent", "Task"])
@pytest.mark.parametrize("call_tool", ["Agent", "Task"])
def test_agent_and_task_are_one_tool(rule_tool: str, call_tool: str) -> None:
    rules = compiled(("allow", f"{rule_tool}(explore)"), ("deny", f"{rule_tool}(danger*)"))
    assert decide(rules, call_tool, {"subagent_type": "explore", "prompt": "p"}) == "allow"
    assert decide(rules, call_tool, {"subagent_type": "dangerous"}) == "deny"
    assert decide(compiled(("deny", rule_tool)), call_tool, {"subagent_type": "x"}) == "deny"
    assert candidate_key(rule_tool, "explore") in call_keys(call_tool, {"subagent_type": "explore"})


# -- parameter rules --------------------------------------------------------------------------------
def test_bash_parameter_rules() -> None:
    rules = compiled(("allow", "Bash(npm test:*)"), ("deny", "Bash(run_in_background:true)"),
                     ("ask", "Bash(dangerouslyDisableSandbox:true)"))
    assert decide(rules, "Bash", {"command": "npm test"}) == "allow"
    assert decide(rules, "Bash", {"command": "npm test", "run_in_background": False}) == "allow"
    denied = rules.evaluate("Bash", {"command": "npm test", "run_in_background": True}, CTX)
    assert denied.action == "deny"
    assert denied.reason == "denied by Bash(run_in_background:true) (run_in_background=true)"
    assert decide(rules, "Bash", {"command": "npm test", "dangerouslyDisableSandbox": True}) == "ask"
    assert decide(rules, "Bash", {"command": "npm test", "run_in_background": "true"}) == "deny"


def test_parameter_ask_never_hides_a_deny() -> None:
    rules = compiled(("ask", "Agent(model:opus)"), ("deny", "Agent(danger)"), ("allow", "Agent"))
    assert decide(rules, "Agent", {"subagent_type": "danger", "model": "opus"}) == "deny"
    assert decide(rules, "Agent", {"subagent_type": "ok", "model": "opus"}) == "ask"
    assert decide(rules, "Agent", {"subagent_type": "ok", "model": "OPUS"}) == "ask"
    assert decide(rules, "Agent", {"subagent_type": "ok", "model": "sonnet"}) == "allow"
    assert decide(rules, "Task", {"subagent_type": "ok", "model": "opus"}) == "ask"
    assert decide(rules, "Agent", {"subagent_type": "ok"}) == "allow"


def test_parameter_rules_never_allow_and_keep_their_meaning_as_commands() -> None:
    # A stored allow parameter rule (refused by `rules add`) matches nothing.
    stored_allow = compiled(("allow", "Agent(model:haiku)"))
    assert decide(stored_allow, "Agent", {"subagent_type": "x", "model": "haiku"}) is None
    # 'timeout' is a program: Bash(timeout:*) stays the prefix rule for it.
    rules = compiled(("deny", "Bash(timeout:*)"))
    assert decide(rules, "Bash", {"command": "timeout 5 ls"}) == "deny"
    assert decide(rules, "Bash", {"command": "make", "timeout": 5}) is None
    # Plugin agents are namespaced with ':' and stay subagent_type globs.
    plugin = compiled(("allow", "Agent(review-kit:code-reviewer)"))
    assert decide(plugin, "Agent", {"subagent_type": "review-kit:code-reviewer"}) == "allow"


def test_parameter_rules_are_loaded_for_every_call_of_their_tool() -> None:
    assert candidate_key("Bash", "run_in_background:true") == "Bash"
    assert "Bash" in call_keys("Bash", {"command": "npm test", "run_in_background": True})
    assert candidate_key("Agent", "model:opus") == "Agent"
    assert "Agent" in call_keys("Task", {"subagent_type": "x"})


def test_an_agent_call_without_a_type_is_the_general_purpose_agent() -> None:
    rules = compiled(("allow", "Agent"), ("deny", "Agent(general-purpose)"))
    assert decide(rules, "Agent", {"prompt": "p"}) == "deny"
    assert decide(rules, "Task", {"prompt": "p"}) == "deny"
    assert decide(rules, "Agent", {"subagent_type": "explore"}) == "allow"
    specific = compiled(("allow", "Agent(explore)"))
    assert decide(specific, "Agent", {"prompt": "p"}) is None


def test_mcp_specifier_rules_see_nested_strings() -> None:
    rules = compiled(("allow", "mcp__db__query(SELECT *)"), ("deny", "mcp__db__query(*DROP*)"))
    assert decide(rules, "mcp__db__query", {"sql": "SELECT 1", "limit": 5, "dry": True}) == "allow"
    assert decide(rules, "mcp__db__query", {"sql": ["DROP TABLE t"]}) == "deny"
    assert decide(rules, "mcp__db__query", {"sql": "SELECT 1", "opts": {"then": "DROP TABLE t"}}) == "deny"
    assert decide(rules, "mcp__db__query", {"sql": "SELECT 1", "opts": {"then": "DELETE FROM t"}}) is None
    assert decide(rules, "mcp__db__query", {"sql": "SELECT 1", "more": ["SELECT 2", ["SELECT 3"]]}) == "allow"


def test_a_deny_on_any_text_of_a_malformed_command_beats_an_ask_on_another() -> None:
    rules = compiled(("allow", "Bash"), ("ask", "Bash(ls:*)"), ("deny", "Bash(rm:*)"))
    assert decide(rules, "Bash", {"command": ["ls", "rm -rf /"]}) == "deny"
    assert decide(rules, "Bash", {"command": {"a": "ls", "b": "rm x"}}) == "deny"
    assert decide(rules, "Bash", {"command": ["ls x"]}) == "ask"


# -- precedence laws over the non-Bash tools ----------------------------------------------------------
TOOL_RULES = [
    "Read", "Read(/**)", "Read(~/.ssh/**)", "Read(secrets/**)", "Read(*.env)", "Read(//etc/**)", "Edit",
    "Edit(/src/**)", "Write(/x)", "Glob", "WebFetch", "WebFetch(domain:example.com)",
    "WebFetch(domain:*.x.org)", "WebFetch(https://docs.x.org/*)", "Agent", "Agent(explore)", "Task(danger*)",
    "Agent(model:opus)", "mcp__db", "mcp__db__query(SELECT *)", "mcp__*",
]
TOOL_CALLS = [
    ("Read", {"file_path": "/repo/src/a.py"}), ("Read", {"file_path": "/home/me/.ssh/id_rsa"}),
    ("Read", {"file_path": "/repo/a/secrets/k"}), ("Write", {"file_path": "/repo/src/../x"}),
    ("Edit", {"file_path": "~/.ssh/config"}), ("Glob", {"pattern": "{/etc,src}/*"}),
    ("Read", {"file_path": 3}),
    ("WebFetch", {"url": "https:example.com"}), ("WebFetch", {"url": "https://api.x.org/"}),
    ("WebFetch", {"url": "https://docs.x.org/a"}), ("WebFetch", {"url": "https://münchen.de"}),
    ("Agent", {"subagent_type": "explore", "model": "opus"}), ("Task", {"subagent_type": "dangerous"}),
    ("Agent", {"prompt": "p"}), ("mcp__db__query", {"sql": "SELECT 1", "x": ["DROP"]}),
]
rule_sets = st.lists(st.tuples(st.sampled_from(["allow", "ask", "deny"]), st.sampled_from(TOOL_RULES)),
                     max_size=6)
RANK = {"deny": 0, "ask": 1, None: 2, "allow": 3}


def evaluate_all(rules: list[tuple[str, str]], call: tuple[str, dict[str, Any]]) -> str | None:
    specs = [RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules)]
    return CompiledRules(specs).evaluate(call[0], call[1], CTX).action


@settings(max_examples=400, deadline=None)
@given(rule_sets, st.sampled_from(TOOL_RULES), st.sampled_from(TOOL_CALLS))
def test_law_adding_a_deny_or_ask_never_allows_more(rules: list[tuple[str, str]], extra: str,
                                                     call: tuple[str, dict[str, Any]]) -> None:
    before = evaluate_all(rules, call)
    for action in ("deny", "ask"):
        after = evaluate_all([*rules, (action, extra)], call)
        assert after != "allow" or before == "allow", (rules, extra, call)
        if before in ("deny", "ask"):
            assert RANK[after] <= RANK[before], (rules, action, extra, call)


@settings(max_examples=400, deadline=None)
@given(rule_sets, st.sampled_from(TOOL_RULES), st.sampled_from(TOOL_CALLS))
def test_law_adding_an_allow_never_lifts_a_deny_or_ask(rules: list[tuple[str, str]], extra: str,
                                                       call: tuple[str, dict[str, Any]]) -> None:
    before = evaluate_all(rules, call)
    after = evaluate_all([*rules, ("allow", extra)], call)
    if before in ("deny", "ask"):
        assert after == before, (rules, extra, call)
