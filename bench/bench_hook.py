"""Whole-process wall time of nerv-hook against the floor any Python hook pays.

    python bench/bench_hook.py                # 60 runs each, prints the results
    python bench/bench_hook.py --write-docs   # also update the "## Hook" section of docs/performance.md
    python bench/bench_hook.py --quick        # 15 runs each

The hook gets a real PreToolUse Bash payload (from the Claude Code
samples in tests/fixtures) against a database holding 10,000 rules; the floor is
``python -c "import json, sqlite3"`` with the same interpreter.  Both run with
bytecode cached, as on a user's machine: PYTHONDONTWRITEBYTECODE is removed
from the children's environment and every command runs once before timing.
Runs are interleaved so that machine noise hits both sides alike.
"""

from __future__ import annotations

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from perfdoc import replace_section  # bench/perfdoc.py (bench/ is on sys.path when run)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"
SAMPLE = ROOT / "tests" / "fixtures" / "claude-code-samples" / "hook-input-pretooluse-2025-07.json"
N_RULES = 10_000
TARGET = 1.5


def payload() -> bytes:
    event = {
        "session_id": "b23e5d8a-855f-44c5-95f0-075485a6ffcf", "transcript_path": "/tmp/none.jsonl",
        "cwd": "/tmp", "hook_event_name": "PreToolUse", "tool_name": "Bash",
        "tool_input": {"command": "gh issue view 445", "description": "Check GitHub issue 445"},
    }
    if SAMPLE.exists():
        events = [e for e in json.loads(SAMPLE.read_text()) if e.get("tool_name") == "Bash"]
        if events:
            event = events[1] if len(events) > 1 else events[0]
    return json.dumps(event).encode()


def build_db(path: Path) -> int:
    """A migrated database with N_RULES rules in all (the defaults included)."""
    from nerv import DatabaseService
    from nerv.ids import new_id, now_ms
    from nerv.permissions import candidate_key

    rng = random.Random(7)
    verbs = ["run", "test", "build", "lint", "push", "status"]
    with DatabaseService(path) as svc:
        conn = svc.connection
        have = conn.execute("SELECT count(*) FROM approval_rules").fetchone()[0]
        rows: list[tuple[object, ...]] = []
        i = 0
        while have + len(rows) < N_RULES:
            i += 1
            kind = rng.random()
            if kind < 0.85:
                action = "deny" if i % 20 == 0 else "ask" if i % 20 == 1 else "allow"
                tool, pattern = "Bash", f"tool{i} {rng.choice(verbs)}:*"
            elif kind < 0.90:
                action, tool, pattern = "ask", "Bash", f"* --flag{i}"
            elif kind < 0.97:
                action, tool, pattern = "allow", rng.choice(["Read", "Edit"]), f"/dir{i}/**"
            else:
                action, tool, pattern = "allow", f"mcp__srv{i}", ""
            now = now_ms()
            key = candidate_key(tool, pattern or None)
            rows.append((new_id(), pattern, action, tool, now, None, 1, None, now, key))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO approval_rules (id, pattern, action, tool, created_at, project_id, enabled, note, "
            "updated_at, match_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")
        return int(conn.execute("SELECT count(*) FROM approval_rules").fetchone()[0])


def candidates(db: Path, event: bytes) -> int:
    """How many rules the hook's SQL prefilter hands the matcher for this payload."""
    import sqlite3

    from nerv.permissions import call_keys
    from nerv.store.reads import rule_rows

    call = json.loads(event)
    conn = sqlite3.connect(db)
    try:
        return len(rule_rows(conn, call_keys(call["tool_name"], call["tool_input"]), None))
    finally:
        conn.close()


def worst_cases() -> dict[str, str]:
    """Hostile Bash commands: the issue's 36 KB fail-open and 1 MB of the shapes that cost most per byte."""
    mb = 1 << 20
    return {
        "`rm -rf build; exit 0; sh|sh|...` (36 KB)": "rm -rf build; exit 0; " + "sh|" * 12_000 + "sh",
        "`sh|sh|...` (1 MB)": "rm -rf build; exit 0; " + "sh|" * (mb // 3),
        "`a;a;...` (1 MB)": "a;" * (mb // 2),
        "`$(a)` lines (1 MB)": "$(a)\n" * (mb // 5),
        "`bash -c 'a;a;...'` (1 MB)": "bash -c '" + "a;" * (mb // 2) + "'",
        "`cd a; ` (10 KB, parsed in full)": "cd a; " * 1_660,
        "`a;a;...` (10 KB, parsed in full)": "a;" * 4_999,
    }


def worst_case_rows(env: dict[str, str], runs: int, floor_ms: float) -> list[str]:
    """Markdown rows: each hostile command's analysis time in this process (index keys and
    decision under the default rules), the whole hook process's wall time, both the worst of
    ``runs``, and the hook's answer."""
    from nerv.permissions import CompiledRules, call_keys, default_rules
    from nerv.permissions.commands import analyze_call

    rules = CompiledRules(default_rules())
    event = json.loads(payload())
    rows: list[str] = []
    for name, command in worst_cases().items():
        event["tool_input"] = {"command": command}
        stdin = json.dumps(event).encode()
        inside: list[float] = []
        times: list[float] = []
        answer = b""
        for run in range(runs):
            analyze_call(str(run), None)  # forget the kept analysis: measure the whole work
            start = time.perf_counter()
            call_keys("Bash", {"command": command})
            rules.evaluate("Bash", {"command": command})
            inside.append(time.perf_counter() - start)
            elapsed, answer = timed(hook_command(), stdin, env)
            times.append(elapsed)
        decided = json.loads(answer)["hookSpecificOutput"]["permissionDecision"] if answer.strip() else "none"
        rows.append(f"| {name} | {len(command):,} | {max(inside) * 1000:.0f} | {max(times) * 1000:.0f} "
                    f"({max(times) * 1000 - floor_ms:+.0f}) | {decided} |")
    return rows


def hook_command() -> list[str]:
    """The console script next to this interpreter (what `nerv hooks install` writes), else -m."""
    script = Path(sys.executable).with_name("nerv-hook")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nerv.hook"]


def timed(cmd: list[str], stdin: bytes, env: dict[str, str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, input=stdin, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()}")
    return elapsed, proc.stdout


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def write_section(text: str) -> None:
    """Replace (or append) the '## Hook' section of docs/performance.md, leaving the rest alone."""
    heading, _, body = text.partition("\n")
    replace_section(heading, body, DOC)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    runs = 15 if quick else 60
    with tempfile.TemporaryDirectory(prefix="nerv-bench-hook-") as tmp:
        home = Path(tmp) / "home"
        total = build_db(home / "state.db")
        env = {k: v for k, v in os.environ.items()
               if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("NERV_")}
        env["NERV_HOME"] = str(home)
        stdin = payload()
        fetched = candidates(home / "state.db", stdin)
        floor_cmd = [sys.executable, "-c", "import json, sqlite3"]
        hook_cmd = hook_command()
        module_cmd = [sys.executable, "-m", "nerv.hook"]
        for cmd in (floor_cmd, hook_cmd, module_cmd):  # warm: write bytecode, fill the page cache
            timed(cmd, stdin, env)
        floor: list[float] = []
        hook: list[float] = []
        module: list[float] = []
        answer = b""
        for _ in range(runs):
            floor.append(timed(floor_cmd, b"", env)[0])
            elapsed, answer = timed(hook_cmd, stdin, env)
            hook.append(elapsed)
            module.append(timed(module_cmd, stdin, env)[0])
        worst = worst_case_rows(env, 3 if quick else 5, pct(floor, 0.5) * 1000)
    f50, f90 = pct(floor, 0.5) * 1000, pct(floor, 0.9) * 1000
    h50, h90 = pct(hook, 0.5) * 1000, pct(hook, 0.9) * 1000
    m50, m90 = pct(module, 0.5) * 1000, pct(module, 0.9) * 1000
    ratio = h50 / f50
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    command = json.loads(stdin)["tool_input"]["command"]
    decided = answer.decode().strip() or "(nothing: no rule, approval.mode defer)"
    lines = [
        "## Hook",
        "",
        f"`bench/bench_hook.py` ({runs} interleaved runs each, bytecode cached; {machine()};",
        f"load average {load} at the end: other suites shared the CPUs, so absolute times are pessimistic,",
        "the ratio less so since both sides run interleaved).",
        f"PreToolUse payload from the samples (Bash `{command}`), {total:,} rules in the database, of which",
        f"the SQL prefilter hands {fetched} to the matcher (the mix has 5 % leading-wildcard Bash rules such",
        "as `Bash(* --flag7)`, which no index key can exclude; every Bash call meets them).",
        "",
        "| command | p50 ms | p90 ms |",
        "| --- | ---: | ---: |",
        f"| `python -c \"import json, sqlite3\"` (floor) | {f50:.1f} | {f90:.1f} |",
        f"| `{Path(hook_cmd[0]).name}{' ' + ' '.join(hook_cmd[1:]) if len(hook_cmd) > 1 else ''}` "
        f"(console script) | {h50:.1f} | {h90:.1f} |",
        f"| `python -m nerv.hook` | {m50:.1f} | {m90:.1f} |",
        "",
        f"Ratio hook p50 / floor p50: **{ratio:.2f}x** (target: at most {TARGET}x).",
        "",
        "Worst-case input (target: every answer in under 1 s, never allow, never no answer). nerv's",
        "work is the index keys plus the decision under the default rules, timed in the benchmark's",
        "process; the hook column is the whole process (in brackets: minus the floor's p50), same",
        "database; both the slowest of several runs.  Commands over 10,000 characters are never",
        "allowed and only their first 10,000 characters are read for deny and ask rules; at most",
        "1,000 simple commands are read; so the work is bounded whatever the size.",
        "",
        "| input | characters | nerv's work ms (max) | hook process ms (max) | answer |",
        "| --- | ---: | ---: | ---: | --- |",
        *worst,
        "",
        "How it stays near the floor: the hook imports only the standard library and nerv's small",
        "modules (`nerv.hook.io`, `nerv.store.*`, `nerv.ids`, `nerv.db.version`, and",
        "`nerv.permissions`",
        "for tool calls); an up-to-date database costs one `PRAGMA user_version` read; rules are",
        "prefiltered in SQL by `match_key IN (call keys)` over the `approval_rules_match` index, so only",
        "the few rules a call could meet are compiled (lazily). Session events skip the matcher entirely.",
        "`nerv.permissions.model` uses small slotted classes instead of frozen dataclasses: `dataclasses`",
        "imports `inspect`, which cost the hook 5-8 ms per start (measured with `python -X importtime`).",
        "`nerv hooks install` writes the console script's absolute path (not a version-manager shim,",
        "which can add tens of milliseconds of shell start-up).",
    ]
    text = "\n".join(lines)
    print(text)
    print(f"\nlast answer: {decided}")
    if "--write-docs" in args:
        write_section(text)
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
