"""Worst-case non-Bash tool inputs of about 1 MB: how long one decision takes.

    PYTHONPATH=src python bench/bench_tool_inputs.py [--quick] [--write-docs]

Hostile shapes for the parts of the engine that read paths, URLs and other
tool inputs (issue 8's target: a 1 MB input answers in well under a second):
long paths and symlink walks, URLs whose host, port or path is huge or full
of percent-escapes and international characters, and generic globs with many
stars against long text.  Each case is decided in-process under the default
rules plus rules that exercise every matcher; the slowest of a few runs is
reported.  ``--write-docs`` writes the "## Permission engine: hostile tool
inputs" section of docs/performance.md.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from perfdoc import replace_section  # bench/perfdoc.py (bench/ is on sys.path when run)

from nerv.permissions import CompiledRules, MatchContext, RuleSpec, default_rules

HEADING = "## Permission engine: hostile tool inputs"


def rules() -> CompiledRules:
    extra = [
        ("allow", "Read", "/**"), ("allow", "Edit", "/**"), ("deny", "Read", "secrets/**"),
        ("allow", "WebFetch", "domain:example.com"), ("allow", "WebFetch", "https://*.python.org/*"),
        ("deny", "WebFetch", "*a*b*c*d*e*"), ("deny", "WebFetch", "domain:*.evil.com"),
        ("deny", "mcp__db__query", "*DROP*TABLE*x*"), ("ask", "Agent", "model:*o*p*u*s*"),
        ("allow", "Glob", None),
    ]
    specs = list(default_rules())
    specs += [RuleSpec(f"x{i}", tool, pattern, action) for i, (action, tool, pattern) in enumerate(extra)]
    return CompiledRules(specs)


def cases(size: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("Read: path of 'a/' segments", "Read", {"file_path": "a/" * (size // 2)}),
        ("Read: path of '../'", "Read", {"file_path": "../" * (size // 3)}),
        ("Write: one huge name", "Write", {"file_path": "x" * size}),
        ("Glob: '*/' pattern", "Glob", {"pattern": "*/" * (size // 2)}),
        ("Glob: nested braces", "Glob", {"pattern": "{a," * (size // 3)}),
        ("WebFetch: host of labels", "WebFetch", {"url": "https://" + "a." * (size // 2) + "com/"}),
        ("WebFetch: fullwidth host", "WebFetch", {"url": "https://" + "\uff45" * size}),
        ("WebFetch: %-escaped host", "WebFetch", {"url": "https://" + "%41" * (size // 3)}),
        ("WebFetch: IPv4 of parts", "WebFetch", {"url": "http://" + "1." * (size // 2)}),
        ("WebFetch: brackets", "WebFetch", {"url": "http://[" + ":" * size + "]"}),
        ("WebFetch: port digits", "WebFetch", {"url": "https://x.com:" + "0" * size + "1"}),
        ("WebFetch: user info", "WebFetch", {"url": "https://" + "@" * size + "x.com"}),
        ("WebFetch: non-ASCII path", "WebFetch",
         {"url": "https://docs.python.org/" + "a\u00e9" * (size // 2)}),
        ("WebFetch: query for globs", "WebFetch", {"url": "https://example.com/?" + "abcd" * (size // 4)}),
        ("mcp: text for a 4-star glob", "mcp__db__query", {"sql": "DROP TABLE " * (size // 11)}),
        ("Agent: parameter glob", "Agent", {"subagent_type": "x", "model": "op" * (size // 2)}),
        ("Write: list as a path", "Write", {"file_path": ["a"] * (size // 4)}),
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    size = 100_000 if quick else 1_000_000
    runs = 1 if quick else 3
    compiled = rules()
    ctx = MatchContext(cwd="/tmp", project_root="/tmp", home=os.path.expanduser("~"))
    rows: list[tuple[str, float, str | None]] = []
    for name, tool, tool_input in cases(size):
        worst = 0.0
        action: str | None = None
        for _ in range(runs):
            start = time.perf_counter()
            action = compiled.evaluate(tool, tool_input, ctx).action
            worst = max(worst, time.perf_counter() - start)
        rows.append((name, worst * 1000, action))
    width = max(len(name) for name, _, _ in rows)
    for name, ms, action in rows:
        print(f"{name:<{width}}  {ms:8.1f} ms  {action}")
    slowest = max(ms for _, ms, _ in rows)
    print(f"slowest: {slowest:.1f} ms (input ~{size:,} characters)")
    if "--write-docs" in args:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
        table = "\n".join(f"| {name} | {ms:.0f} | {action or 'none'} |" for name, ms, action in rows)
        replace_section(HEADING, f"""
`bench/bench_tool_inputs.py`: one decision (`CompiledRules.evaluate`, in-process, default rules plus
rules for every non-Bash matcher) on hostile inputs of about {size:,} characters; slowest of {runs} runs;
load average {load}. Slowest case: {slowest:.0f} ms.

| input | ms | decision |
|---|---|---|
{table}
""")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
