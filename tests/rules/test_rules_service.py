"""RulesMixin: syntax checks, match_key, SQL prefilter by key and scope, precedence; default rules."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from nerv import DatabaseService
from nerv.errors import ValidationError
from nerv.permissions import DEFAULT_RULES, CompiledRules, RuleSpec, candidate_key


@pytest.fixture
def empty(service: DatabaseService) -> DatabaseService:
    """The service with the default rules removed."""
    service.connection.execute("DELETE FROM approval_rules")
    return service


def test_new_database_has_the_default_rules(service: DatabaseService, nerv_home: Path) -> None:
    rules = service.get_rules()
    texts = {(r.rule_text, r.action): r for r in rules}
    for text, action, note in DEFAULT_RULES:
        rule = texts[(text, action)]
        assert rule.note == note and rule.enabled and rule.project_id is None
        assert rule.match_key == candidate_key(rule.tool, rule.pattern or None)
    # A NERV_HOME other than ~/.nerv gets its own Edit deny rule.
    home_rule = [r for r in rules if r.rule_text == f"Edit(/{nerv_home}/**)"]
    assert len(home_rule) == 1 and home_rule[0].action == "deny"
    assert service.match_rule("Edit", str(nerv_home / "state.db")) == home_rule[0]
    indexes = {
        r[0] for r in service.connection.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
    }
    assert "approval_rules_match" in indexes


def test_create_validates_and_stores_the_match_key(empty: DatabaseService) -> None:
    rule = empty.create_rule_from_text("Bash(npm test:*)", "allow", note="tests")
    assert (rule.tool, rule.pattern, rule.match_key, rule.note) == ("Bash", "npm test:*", "Bash:npm", "tests")
    assert empty.create_rule(None, "deny", "mcp__github__delete_repo").match_key == "mcp__github"
    assert empty.create_rule("*", "allow", "Read").match_key == "Read"
    for text, message in [
        ("Bash(npm test", "closing"),
        ("Bash()", "empty specifier"),
        ("Bash(a:*b:*)", ":*"),
        ("Bash(check:nope)", "unknown check"),
        ("", "empty"),
        ("mcp__*(x)", "cannot take a specifier"),
    ]:
        with pytest.raises(ValidationError, match=message):
            empty.create_rule_from_text(text, "allow")
    assert len(empty.get_rules()) == 3  # nothing stored for the refused ones


def test_update_rekeys(empty: DatabaseService) -> None:
    rule = empty.create_rule("npm test:*", "allow", "Bash")
    moved = empty.update_rule(rule.id, {"pattern": "yarn test:*"})
    assert moved.match_key == "Bash:yarn"
    assert empty.match_rule("Bash", "yarn test") == moved
    assert empty.match_rule("Bash", "npm test") is None
    with pytest.raises(ValidationError):
        empty.update_rule(rule.id, {"pattern": "x:*y:*"})


def test_match_rule_precedence_and_scope(empty: DatabaseService) -> None:
    project = empty.create_project("p")
    other = empty.create_project("q")
    allow = empty.create_rule_from_text("Bash(git:*)", "allow")
    ask = empty.create_rule_from_text("Bash(git push:*)", "ask")
    deny = empty.create_rule_from_text("Bash(git push --force:*)", "deny", project_id=project.id)
    assert empty.match_rule("Bash", "git status") == allow
    assert empty.match_rule("Bash", "git push --force") == ask  # the project deny is not in force globally
    assert empty.match_rule("Bash", "git push --force", project.id) == deny
    assert empty.match_rule("Bash", "git push --force", other.id) == ask
    assert empty.match_rule("Bash", "ls") is None
    whole = empty.match_tool_call("Bash", {"command": "git log && git push --force x"}, project.id)
    assert whole == deny
    decision = empty.evaluate_tool_call("Bash", {"command": "git log && git status"})
    assert decision.action == "allow" and decision.parts == ("git log", "git status")


def test_match_tool_call_with_paths(empty: DatabaseService, tmp_path: Path) -> None:
    rule = empty.create_rule_from_text("Edit(/src/**)", "allow")
    assert (
        empty.match_tool_call(
            "Write",
            {"file_path": str(tmp_path / "src" / "a.py")},
            cwd=str(tmp_path),
            project_root=str(tmp_path),
        )
        == rule
    )
    assert (
        empty.match_tool_call(
            "Write", {"file_path": str(tmp_path / "a.py")}, cwd=str(tmp_path), project_root=str(tmp_path)
        )
        is None
    )


def test_sql_prefilter_decides_like_the_whole_rule_set(empty: DatabaseService) -> None:
    """Loading only the rules whose key a call has gives the same decision as compiling them all."""
    rng = random.Random(3)
    words = ["git", "npm", "make", "ls", "rm", "curl", "sudo", "python"]
    texts: set[tuple[str, str]] = set()
    while len(texts) < 150:
        kind = rng.random()
        w = rng.choice(words)
        if kind < 0.5:
            texts.add(
                (
                    f"Bash({w} {rng.choice(['test', 'push', 'run', '-rf', 'x'])}:*)",
                    rng.choice(["allow", "ask", "deny"]),
                )
            )
        elif kind < 0.65:
            texts.add((f"Bash(* {rng.choice(['--force', '-rf', '--version'])})", rng.choice(["ask", "deny"])))
        elif kind < 0.8:
            texts.add((f"{rng.choice(['Read', 'Edit'])}(/{w}/**)", rng.choice(["allow", "deny"])))
        elif kind < 0.9:
            texts.add((f"mcp__{w}", rng.choice(["allow", "deny"])))
        else:
            texts.add((f"WebFetch(domain:{w}.com)", "allow"))
    for text, action in sorted(texts):
        empty.create_rule_from_text(text, action)
    everything = CompiledRules(
        [RuleSpec(r.id, r.tool, r.pattern or None, r.action) for r in empty.get_rules()]
    )
    calls = []
    for _ in range(300):
        a, b = rng.choice(words), rng.choice(words)
        calls.append(("Bash", {"command": f"{a} test --force && {b} -rf x | timeout 5 {a} run"}))
        calls.append(("Bash", {"command": f"FOO=1 {a} push; echo $({b} x)"}))
        calls.append((rng.choice(["Read", "Edit", "Write"]), {"file_path": f"/tmp/r/{a}/f.txt"}))
        calls.append((f"mcp__{a}__tool", {"q": "x"}))
        calls.append(("WebFetch", {"url": f"https://{a}.com/x"}))
    from nerv.permissions import MatchContext

    ctx = MatchContext(cwd="/tmp/r", project_root="/tmp/r")
    for tool, tool_input in calls:
        full = everything.evaluate(tool, tool_input, ctx)
        fast = empty.evaluate_tool_call(tool, tool_input, cwd="/tmp/r", project_root="/tmp/r")
        assert (fast.action, [r.id for r in fast.rules]) == (full.action, [r.id for r in full.rules]), (
            tool_input
        )


def test_import_claude_rules_is_idempotent(empty: DatabaseService) -> None:
    permissions = {
        "allow": ["Bash(npm run test:*)", "Read(./src/**)", "WebFetch(domain:github.com)", "mcp__x"],
        "ask": ["Bash(git push:*)"],
        "deny": ["Read(./.env)", "Bash(curl:*)", "Bash(bad"],
        "defaultMode": "acceptEdits",
    }
    first = empty.import_claude_rules(permissions)
    assert len(first.added) == 7 and first.skipped == []
    assert first.invalid and "Bash(bad" in first.invalid[0]
    second = empty.import_claude_rules(permissions)
    assert second.added == [] and len(second.skipped) == 7
    assert len(empty.get_rules()) == 7
    assert empty.match_rule("Bash", "curl x") is not None


def test_import_refuses_unknown_tools_and_allow_globs(empty: DatabaseService) -> None:
    result = empty.import_claude_rules({
        "allow": ["bash(npm test:*)", "*", "mcp__*", "Agent(model:haiku)", "Task(explore)"],
        "deny": ["Bsh(rm:*)", "mcp__*", "Agent(model:opus)"],
    })
    assert sorted(r.rule_text for r in result.added) == ["Agent(model:opus)", "Task(explore)", "mcp__*"]
    invalid = " | ".join(result.invalid)
    assert "allow bash(npm test:*): unknown tool 'bash': did you mean Bash?" in invalid
    assert "deny Bsh(rm:*): unknown tool 'Bsh': did you mean Bash?" in invalid
    assert "allow *: " in invalid and "allow mcp__*: " in invalid and "can only deny or ask" in invalid


def test_add_rule_from_text_is_idempotent_per_scope(empty: DatabaseService) -> None:
    rule, created = empty.add_rule_from_text("Bash(make:*)", "deny", note="first")
    again, created_again = empty.add_rule_from_text(" Bash( make:* ) ", "deny", note="second")
    assert (created, created_again, again.id, again.note) == (True, False, rule.id, "first")
    assert len(empty.get_rules()) == 1
    with pytest.raises(ValidationError, match="invalid rule action"):
        empty.add_rule_from_text("Bash(make:*)", "sometimes")
    with pytest.raises(ValidationError, match="did you mean Bash"):
        empty.add_rule_from_text("BASH(make:*)", "deny")
    assert len(empty.get_rules()) == 1


def test_decide_with_a_rule_is_one_transaction(empty: DatabaseService) -> None:
    request = empty.create_request("Bash", {"command": "npm test"})
    with pytest.raises(ValidationError):
        empty.decide_request(request.id, "approved", add_rule="Bash(npm test")
    pending = empty.get_request(request.id)
    assert pending is not None and pending.status == "pending"
    empty.decide_request(request.id, "approved", add_rule="Bash(npm test:*)")
    [rule] = empty.get_rules()
    assert (rule.action, rule.rule_text) == ("allow", "Bash(npm test:*)")
    second = empty.create_request("Bash", {"command": "npm test -w"})
    empty.decide_request(second.id, "approved", add_rule="Bash(npm test:*)")  # already there: kept as it is
    assert len(empty.get_rules()) == 1
    third = empty.create_request("Bash", {"command": "rm -rf x"})
    with pytest.raises(ValidationError, match="only be added"):
        empty.decide_request(third.id, "expired", add_rule="Bash(rm:*)")


def test_suggestions_from_history(empty: DatabaseService) -> None:
    for command in ["npm test", "npm test --watch", "npm test -- a", "npm test"]:
        request = empty.create_request("Bash", {"command": command}, cwd="/tmp")
        empty.decide_request(request.id, "approved")
    for command in ["git push --force", "git push -f origin", "git push origin +main"]:
        request = empty.create_request("Bash", {"command": command}, cwd="/tmp")
        empty.decide_request(request.id, "denied")
    mixed = empty.create_request("Bash", {"command": "make"}, cwd="/tmp")
    empty.decide_request(mixed.id, "approved")
    found = {(s.action, s.rule): s for s in empty.suggest_rules(3)}
    assert found[("allow", "Bash(npm test:*)")].approved == 4
    assert ("deny", "Bash(git push:*)") in found
    assert not any(rule == "Bash(make:*)" for _, rule in found)
    empty.create_rule_from_text("Bash(npm test:*)", "allow")
    assert ("allow", "Bash(npm test:*)") not in {(s.action, s.rule) for s in empty.suggest_rules(3)}


def test_scale_ten_thousand_rules(empty: DatabaseService) -> None:
    conn = empty.connection
    rows = []
    for i in range(10_000):
        tool, pattern = ("Bash", f"tool{i} run:*") if i % 10 else ("Read", f"/dir{i}/**")
        rows.append(
            (
                f"r{i:015d}",
                pattern,
                "deny" if i % 7 == 0 else "allow",
                tool,
                i,
                None,
                1,
                None,
                i,
                candidate_key(tool, pattern),
            )
        )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO approval_rules (id, pattern, action, tool, created_at, project_id, enabled, "
        "note, updated_at, match_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    import time

    start = time.perf_counter()
    for i in range(1, 200):
        empty.match_rule("Bash", f"tool{i} run --x && tool{i + 1} run")
    per_call = (time.perf_counter() - start) / 199
    assert per_call < 0.02, per_call  # a few hundred microseconds in practice
    assert empty.match_rule("Bash", "tool7 run").action == "deny"  # type: ignore[union-attr]
    plan = " ".join(
        str(r[3])
        for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM approval_rules WHERE enabled = 1 AND match_key IN ('a', 'b')"
        )
    )
    assert "approval_rules_match" in plan
