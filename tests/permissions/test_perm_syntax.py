"""Rule text: parse_rule, format_rule, RuleSpec.parse, candidate_key."""

from __future__ import annotations

import pytest

from nerv.errors import ValidationError
from nerv.permissions import RuleSpec, RuleSyntaxError, candidate_key, format_rule, parse_rule


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bash(npm test:*)", ("Bash", "npm test:*")),
        ("Read", ("Read", None)),
        ("  Edit(/src/**)  ", ("Edit", "/src/**")),
        ("Bash( npm test )", ("Bash", "npm test")),
        ("WebFetch(domain:example.com)", ("WebFetch", "domain:example.com")),
        ("mcp__github", ("mcp__github", None)),
        ("mcp__github__create_issue", ("mcp__github__create_issue", None)),
        ("mcp__my-server__*", ("mcp__my-server__*", None)),
        ("Bash(:(){ :|:& };:)", ("Bash", ":(){ :|:& };:")),
        ("Bash(echo ())", ("Bash", "echo ()")),
        ("Bash(*)", ("Bash", "*")),
        ("Bash(check:pipe-to-shell)", ("Bash", "check:pipe-to-shell")),
        ("Bash(check:*)", ("Bash", "check:*")),
        ("Bash(git commit -m 'a\nb')", ("Bash", "git commit -m 'a\nb'")),
    ],
)
def test_parse_rule(text: str, expected: tuple[str, str | None]) -> None:
    assert parse_rule(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty permission rule"),
        ("   ", "empty permission rule"),
        ("Bash(", "missing its closing ')'"),
        ("Bash(npm test", "missing its closing ')'"),
        ("Bash)", "unmatched ')'"),
        ("Bash(x)y", "unexpected text after ')'"),
        ("(npm test)", "has no tool name"),
        ("Bash()", "empty specifier"),
        ("Bash(  )", "empty specifier"),
        ("Ba sh", "invalid tool name"),
        ("Bash (x)", "invalid tool name"),
        ("WebFetch(domain:)", "needs a host name"),
        ("WebFetch(domain:exa mple.com)", "invalid domain"),
        ("Bash(check:no-such-check)", "unknown check"),
        ("Bash(npm:*test)", "':*' must be at the end"),
        ("Bash(a:* b:*)", "':*' must be at the end"),
    ],
)
def test_parse_rule_errors(text: str, message: str) -> None:
    with pytest.raises(RuleSyntaxError) as info:
        parse_rule(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_rule_syntax_error_is_a_value_error_and_a_nerv_validation_error() -> None:
    assert issubclass(RuleSyntaxError, ValueError)
    assert issubclass(RuleSyntaxError, ValidationError)
    assert RuleSyntaxError("x").exit_code == 2


@pytest.mark.parametrize(
    ("tool", "spec", "text"),
    [("Bash", "ls *", "Bash(ls *)"), ("Read", None, "Read"), ("Read", "", "Read"), ("Bash", "*", "Bash(*)")],
)
def test_format_rule(tool: str, spec: str | None, text: str) -> None:
    assert format_rule(tool, spec) == text


@pytest.mark.parametrize("text", ["Bash(npm test:*)", "Read", "Edit(~/.ssh/**)", "mcp__x__y", "Bash(a (b))"])
def test_format_parse_round_trip(text: str) -> None:
    assert format_rule(*parse_rule(text)) == text


def test_rulespec_parse_and_text() -> None:
    rule = RuleSpec.parse("r1", "Bash(npm test:*)", "allow")
    assert rule == RuleSpec("r1", "Bash", "npm test:*", "allow")
    assert rule.text == "Bash(npm test:*)"
    with pytest.raises(RuleSyntaxError, match="unknown rule action"):
        RuleSpec.parse("r2", "Bash", "permit")


@pytest.mark.parametrize(
    ("tool", "pattern", "key"),
    [
        ("Bash", "npm test:*", "Bash:npm"),
        ("Bash", "npm test", "Bash:npm"),
        ("Bash", "npm:*", "Bash:npm"),
        ("Bash", "ls *", "Bash:ls"),
        ("Bash", "npm*", "Bash"),
        ("Bash", "* --version", "Bash"),
        ("Bash", None, "Bash"),
        ("Bash", "*", "Bash"),
        ("Bash", "check:pipe-to-shell", "Bash"),
        ("Read", "~/.ssh/**", "Read"),
        ("Write", "/src/**", "Write"),
        ("WebFetch", "domain:x.com", "WebFetch"),
        ("mcp__github", None, "mcp__github"),
        ("mcp__github__create_issue", None, "mcp__github"),
        ("mcp__github__*", None, "mcp__github"),
        ("mcp__*", None, "*"),
        ("Task", "explore", "Task"),
    ],
)
def test_candidate_key(tool: str, pattern: str | None, key: str) -> None:
    assert candidate_key(tool, pattern) == key
