"""Ten thousand rules: the index must not change any answer (timing lives in bench/)."""

from __future__ import annotations

import pytest

from nerv.permissions import CompiledRules, MatchContext, RuleSpec, call_keys, candidate_key

CTX = MatchContext(cwd="/work", home="/home/me")


def make_rules() -> list[RuleSpec]:
    rules: list[RuleSpec] = []
    for i in range(9000):
        rules.append(RuleSpec(f"a{i}", "Bash", f"tool{i} run:*", "allow"))
    for i in range(0, 9000, 18):  # 500 deny rules, same first words as the allows
        rules.append(RuleSpec(f"d{i}", "Bash", f"tool{i} run --danger*", "deny"))
    for i in range(200):  # wildcard-leading rules share one bucket
        rules.append(RuleSpec(f"q{i}", "Bash", f"* --ask{i}", "ask"))
    for i in range(200):
        rules.append(RuleSpec(f"r{i}", "Read", f"//data/{i}/**", "deny"))
    for i in range(50):
        rules.append(RuleSpec(f"m{i}", f"mcp__srv{i}", None, "allow"))
    for i in range(50):
        rules.append(RuleSpec(f"w{i}", "WebFetch", f"domain:site{i}.example", "allow"))
    assert len(rules) == 10000
    return rules


@pytest.fixture(scope="module")
def big() -> CompiledRules:
    return CompiledRules(make_rules())


@pytest.mark.parametrize(
    ("command", "action", "ids"),
    [
        ("tool0 run", "allow", ["a0"]),
        ("tool8999 run --fast", "allow", ["a8999"]),
        ("tool18 run --danger", "deny", ["d18"]),
        ("tool19 run --danger", "allow", ["a19"]),
        ("tool5 run && tool6 run | tool7 run x", "allow", ["a5", "a6", "a7"]),
        ("tool5 run && tool36 run --dangerous", "deny", ["d36"]),
        ("tool5 run && tool9000 run", None, []),
        ("tool5 runner", None, []),
        ("tool1 run --ask150", "ask", ["q150"]),
        ("timeout 5 tool3 run", "allow", ["a3"]),
        ("tool3 run $(tool54 run --danger)", "deny", ["d54"]),
    ],
)
def test_bash_answers(big: CompiledRules, command: str, action: str | None, ids: list[str]) -> None:
    decision = big.evaluate("Bash", {"command": command})
    assert decision.action == action
    assert [r.id for r in decision.rules] == ids


def test_other_tools(big: CompiledRules) -> None:
    assert big.evaluate("Read", {"file_path": "/data/150/x"}, CTX).rules[0].id == "r150"
    assert big.evaluate("Read", {"file_path": "/data/1500/x"}, CTX).action is None
    assert big.evaluate("mcp__srv7__query", {}).rules[0].id == "m7"
    assert big.evaluate("WebFetch", {"url": "https://site9.example/x"}).rules[0].id == "w9"
    assert big.count == 10000


def test_prefilter_by_key_agrees_with_the_full_set(big: CompiledRules) -> None:
    rules = make_rules()
    for command in ("tool5 run && tool36 run --danger", "tool1 run --ask7", "tool2 run", "nope"):
        keys = set(call_keys("Bash", {"command": command}))
        subset = CompiledRules(r for r in rules if candidate_key(r.tool, r.pattern) in keys)
        assert subset.count < 1000
        assert subset.evaluate("Bash", {"command": command}) == big.evaluate("Bash", {"command": command})
