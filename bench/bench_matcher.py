"""Time compiling 10,000 permission rules and evaluating 10,000 tool calls.

    PYTHONPATH=src python bench/bench_matcher.py

Prints operations per second; no thresholds (machines differ).
"""

from __future__ import annotations

import random
import time

from nerv.permissions import CompiledRules, MatchContext, RuleSpec, default_rules

N_RULES = 10_000
N_CALLS = 10_000


def build_rules() -> list[RuleSpec]:
    rng = random.Random(7)
    rules = list(default_rules())
    verbs = ["run", "test", "build", "lint", "push", "status"]
    while len(rules) < N_RULES:
        i = len(rules)
        kind = rng.random()
        if kind < 0.85:
            action = "deny" if i % 20 == 0 else "ask" if i % 20 == 1 else "allow"
            rules.append(RuleSpec(f"b{i}", "Bash", f"tool{i % 3000} {rng.choice(verbs)}:*", action))
        elif kind < 0.90:
            rules.append(RuleSpec(f"w{i}", "Bash", f"* --flag{i}", "ask"))
        elif kind < 0.97:
            rules.append(RuleSpec(f"p{i}", rng.choice(["Read", "Edit"]), f"/dir{i % 500}/**", "allow"))
        else:
            rules.append(RuleSpec(f"m{i}", f"mcp__srv{i % 100}", None, "allow"))
    return rules


def build_calls() -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(11)
    calls: list[tuple[str, dict[str, str]]] = []
    for i in range(N_CALLS):
        r = rng.random()
        if r < 0.5:
            verb = rng.choice(["run", "test"])
            calls.append(("Bash", {"command": f"tool{rng.randrange(3000)} {verb} --x"}))
        elif r < 0.7:
            a, b = rng.randrange(3000), rng.randrange(3000)
            calls.append(("Bash", {"command": f"cd /w && tool{a} build | tool{b} lint $(date) > log 2>&1"}))
        elif r < 0.8:
            calls.append(("Bash", {"command": f"timeout 30 NODE_ENV=test tool{i % 3000} test -- 'a b'"}))
        elif r < 0.95:
            calls.append((rng.choice(["Read", "Edit", "Grep"]), {"file_path": f"/p/dir{i % 700}/f{i}.py",
                                                               "path": f"/p/dir{i % 700}"}))
        else:
            calls.append((f"mcp__srv{i % 150}__tool", {"q": "x"}))
    return calls


def main() -> None:
    rules = build_rules()
    calls = build_calls()
    start = time.perf_counter()
    compiled = CompiledRules(rules)
    compile_s = time.perf_counter() - start
    ctx = MatchContext(cwd="/p", project_root="/p", home="/home/me")
    counts: dict[str | None, int] = {}
    # First pass: each rule's regex is compiled the first time it is tried.
    start = time.perf_counter()
    for tool, tool_input in calls:
        action = compiled.evaluate(tool, tool_input, ctx).action
        counts[action] = counts.get(action, 0) + 1
    cold_s = time.perf_counter() - start
    start = time.perf_counter()
    for tool, tool_input in calls:
        compiled.evaluate(tool, tool_input, ctx)
    warm_s = time.perf_counter() - start
    bash = [c for c in calls if c[0] == "Bash"]
    start = time.perf_counter()
    for tool, tool_input in bash:
        compiled.evaluate(tool, tool_input, ctx)
    bash_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(100):
        CompiledRules(rules).evaluate("Bash", {"command": "tool7 run --x && tool9 test"}, ctx)
    hook_s = (time.perf_counter() - start) / 100
    n = len(calls)
    print(f"compile {len(rules)} rules: {compile_s * 1000:.1f} ms ({len(rules) / compile_s:,.0f} rules/s)")
    print(f"evaluate {n} calls, first pass: {cold_s * 1000:.1f} ms ({n / cold_s:,.0f} ops/s)")
    print(f"evaluate {n} calls, again:      {warm_s * 1000:.1f} ms ({n / warm_s:,.0f} ops/s, "
          f"{warm_s / n * 1e6:.1f} us/op)")
    print(f"  {len(bash)} Bash calls only:   {len(bash) / bash_s:,.0f} ops/s")
    print(f"one hook call (compile {len(rules)} rules + 1 evaluation): {hook_s * 1000:.1f} ms")
    print("decisions:", {str(k): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))})

if __name__ == "__main__":
    main()
