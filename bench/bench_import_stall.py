"""How long a concurrent writer stalls while ``nerv import`` runs (issue 9, fault 5).

    python bench/bench_import_stall.py                 # 300,000 rows
    python bench/bench_import_stall.py --quick         # 30,000 rows
    python bench/bench_import_stall.py --rows 1000000 --write-docs

A writer process creates one task after another through the service (as ``nerv task
create`` does, with the CLI's polite wait for a long writer) and records how long each
write took; ``nerv import`` of an export holding ROWS audit rows runs meanwhile in its own
process. Reported: the import's time, the longest stall of the writer, its writes, and
whether any write failed (none may: the writer waits instead of "database is locked").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from perfdoc import DOC, replace_section  # noqa: E402

SECTION = "## Writers during a long import"

WRITER = r"""
import json, sys, time
from pathlib import Path
from nerv import DatabaseService
from nerv.cli.context import wait_for_long_writers
path, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
svc = DatabaseService(path, actor="bench-writer")
wait_for_long_writers(path)
project = svc.create_project("writer")
times, failures = [], []
while not stop.exists():
    started = time.perf_counter()
    try:
        svc.create_task(project.id, f"task {len(times)}")
    except Exception as exc:
        failures.append(str(exc))
    times.append((time.perf_counter() - started, time.time()))
    time.sleep(0.01)
out.write_text(json.dumps({"times": times, "failures": failures}))
"""


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _export(work: Path, rows: int) -> Path:
    from nerv import DatabaseService
    from nerv.transfer.export import export

    source = work / "source.db"
    with DatabaseService(source) as svc:
        svc.create_project("bulk")
        conn = svc.connection
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
            "VALUES (?, ?, 'bulk', 'task', ?, 'create', NULL, ?)",
            ((f"k{i:015d}", i, f"e{i}", '{"pad": "' + "p" * 200 + '"}') for i in range(rows)),
        )
        conn.execute("COMMIT")
        path = work / "big.ndjson"
        with path.open("w", encoding="utf-8") as out:
            export(conn, out, fmt="ndjson")
    return path


def measure(work: Path, rows: int) -> dict[str, float | int]:
    from nerv import DatabaseService

    export_file = _export(work, rows)
    db = work / "state.db"
    DatabaseService(db).close()
    stop, out = work / "stop", work / "writer.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "NERV_BUSY_TIMEOUT_MS": "30000"}
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db), str(stop), str(out)], env=env)
    time.sleep(1.0)  # the writer's steady state first
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nerv", "--db", str(db), "import", str(export_file), "--quiet"],
        env=env,
        check=True,
    )
    import_s = time.perf_counter() - started
    time.sleep(1.0)
    stop.write_text("")
    writer.wait(timeout=120)
    data = json.loads(out.read_text())
    durations = [d for d, _ in data["times"]]
    return {
        "rows": rows,
        "import_s": import_s,
        "longest_stall_s": max(durations),
        "writes": len(durations),
        "failed_writes": len(data["failures"]),
    }


def report(result: dict[str, float | int]) -> str:
    return (
        "| rows imported | import | longest stall of a concurrent writer | writes | failed writes |\n"
        "|---:|---:|---:|---:|---:|\n"
        f"| {result['rows']:,} | {result['import_s']:.1f} s | {result['longest_stall_s']:.1f} s | "
        f"{result['writes']:,} | {result['failed_writes']} |"
    )


DOC_TEXT = """`python bench/bench_import_stall.py --rows N --write-docs`: a writer process creates tasks
through the service in a loop (with the CLI's wait for a long writer) while `nerv import` brings in
an export of N audit rows. The import stays one all-or-nothing transaction, so a concurrent writer
waits about as long as the import's apply phase (the validation pass runs before the lock is
taken); it waits instead of failing: no write failed, none said "database is locked". The CLI
says once on stderr what it waits for (`nerv: waiting for `nerv import FILE` (pid N) to
finish...`); a writer that cannot wait (the hook, whose answer is then `ask`) gets a one-line
error naming the import. Bounding the stall itself needs a staged import that publishes in
chunks; that is not done yet."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="30,000 rows")
    parser.add_argument("--rows", type=int, metavar="N", help="rows to import (default 300,000)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/performance.md (this section)")
    args, _unknown = parser.parse_known_args(argv)
    rows = args.rows or (30_000 if args.quick else 300_000)
    with tempfile.TemporaryDirectory(prefix="nerv-bench-stall-") as tmp:
        result = measure(Path(tmp), rows)
    table = report(result)
    print(table, flush=True)
    if result["failed_writes"]:
        print("a concurrent write failed", file=sys.stderr)
        return 1
    if args.write_docs:
        replace_section(SECTION, f"{DOC_TEXT}\n\nMachine: {machine()}.\n\n{table}", DOC)
    return 0


if __name__ == "__main__":
    sys.exit(main())
