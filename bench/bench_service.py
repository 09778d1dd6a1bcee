"""Storage and service benchmark: DatabaseService against raw stdlib sqlite3.

Every write is measured twice, on two real database files side by side:

* **service** — one ``DatabaseService`` call per operation;
* **raw** — the stdlib ``sqlite3`` module issuing the *same statements* the
  service issues for that call (``BEGIN IMMEDIATE``, the row's INSERT or its
  ``SELECT *`` + UPDATE, the audit row's INSERT with the same JSON, ``COMMIT``),
  with ids and timestamps made the same way.

The two sides run in alternating chunks so that machine noise (the disk, the
other core) lands on both. ``ratio`` is service time / raw time: 1.00 means
the typed API costs nothing over hand-written SQL; the target is <= 1.5.

    python bench/bench_service.py            # full sizes (10,000 tasks, 100,000 sessions)
    python bench/bench_service.py --quick    # small sizes, a few seconds
    python bench/run.py [--quick]            # every bench/bench_*.py module
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nerv import DatabaseService, env
from nerv.db.connection import DEFAULT_BUSY_TIMEOUT_MS, synchronous_level
from nerv.db.migrations import MIGRATIONS, migrate
from nerv.ids import new_id, now_ms
from nerv.models import Session, Task

ACTOR = "bench"
# Board-like spread: most tasks are done, a few are in flight.
STATUS_MIX = ("done",) * 14 + ("todo",) * 4 + ("in_progress", "review")
TASK_COLUMNS = tuple(Task.__dataclass_fields__)
SESSION_COLUMNS = tuple(Session.__dataclass_fields__)
AUDIT_SQL = (
    "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class Sizes:
    tasks: int
    sessions: int
    rules: int
    chunk: int
    query_reps: int
    match_reps: int
    open_reps: int
    sync_ops: int
    help_reps: int


FULL = Sizes(
    tasks=10_000,
    sessions=100_000,
    rules=1_000,
    chunk=1_000,
    query_reps=200,
    match_reps=200,
    open_reps=20,
    sync_ops=2_000,
    help_reps=10,
)
QUICK = Sizes(
    tasks=1_000,
    sessions=5_000,
    rules=1_000,
    chunk=500,
    query_reps=50,
    match_reps=30,
    open_reps=5,
    sync_ops=300,
    help_reps=5,
)


@dataclass
class Row:
    name: str
    count: int
    service_s: float | None
    raw_s: float | None
    unit: str = "ops"  # "ops": throughput rows; "query": latency rows (times are p50 seconds)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.service_s is None or not self.raw_s:
            return None
        return self.service_s / self.raw_s


# -- the raw side -------------------------------------------------------------------


def raw_connect(path: Path) -> sqlite3.Connection:
    """The stdlib connection with the same pragmas nerv uses (tuple rows, autocommit)."""
    conn = sqlite3.connect(path, timeout=DEFAULT_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {DEFAULT_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous_level()}")
    return conn


def captured_migrations() -> list[tuple[str, list[str]]]:
    """The statements each nerv migration runs, recorded once on a scratch database."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    captured = []
    for step in MIGRATIONS:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        step.apply(conn)
        conn.set_trace_callback(None)
        captured.append((step.name, statements))
    conn.close()
    return captured


RAW_MIGRATIONS = captured_migrations()


def raw_open_and_migrate(path: Path) -> sqlite3.Connection:
    """What DatabaseService() does to a fresh file, written out by hand."""
    conn = raw_connect(path)
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for number, (name, statements) in enumerate(RAW_MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("PRAGMA user_version").fetchone()
        for statement in statements:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
            (number, name, now_ms()),
        )
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    return conn


class Raw:
    """Hand-written stdlib sqlite3 doing what each service call does."""

    def __init__(self, path: Path) -> None:
        self.conn = raw_connect(path)
        self.task_sql = (
            f"INSERT INTO tasks ({', '.join(TASK_COLUMNS)}) VALUES ({', '.join('?' for _ in TASK_COLUMNS)})"
        )
        self.session_sql = (
            f"INSERT INTO claude_sessions ({', '.join(SESSION_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in SESSION_COLUMNS)})"
        )

    def _audit(self, entity: str, ident: str, action: str, before: Any, after: Any, at: int) -> None:
        self.conn.execute(
            AUDIT_SQL,
            (
                new_id(),
                at,
                ACTOR,
                entity,
                ident,
                action,
                None if before is None else json.dumps(before, sort_keys=True),
                None if after is None else json.dumps(after, sort_keys=True),
            ),
        )

    def create_project(self, name: str) -> str:
        now = now_ms()
        row: dict[str, Any] = {
            "id": new_id(),
            "name": name,
            "goal": None,
            "created_at": now,
            "updated_at": now,
        }
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "INSERT INTO projects (id, name, goal, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            tuple(row.values()),
        )
        self._audit("project", row["id"], "create", None, row, now)
        self.conn.execute("COMMIT")
        return str(row["id"])

    def create_task(self, project_id: str, title: str, status: str) -> str:
        now = now_ms()
        row: dict[str, Any] = {
            "id": new_id(),
            "project_id": project_id,
            "cycle_id": None,
            "title": title,
            "description": None,
            "type": "implementation",
            "status": status,
            "created_at": now,
            "updated_at": now,
        }
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(self.task_sql, tuple(row.values()))
        self._audit("task", row["id"], "create", None, row, now)
        conn.execute("COMMIT")
        return str(row["id"])

    def create_session(self, project_id: str, task_id: str | None) -> str:
        now = now_ms()
        row: dict[str, Any] = {
            "id": new_id(),
            "project_id": project_id,
            "task_id": task_id,
            "status": "active",
            "started_at": now,
            "ended_at": None,
            "tokens_input": 0,
            "tokens_output": 0,
            "cost_usd": 0.0,
            "claude_session_id": None,
            "tokens_cache_read": 0,
            "tokens_cache_write_5m": 0,
            "tokens_cache_write_1h": 0,
            "model": None,
            "cwd": None,
            "transcript_path": None,
            "updated_at": now,
        }
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(self.session_sql, tuple(row.values()))
        self._audit("session", row["id"], "create", None, row, now)
        conn.execute("COMMIT")
        return str(row["id"])

    def update_session(self, ident: str, updates: dict[str, Any]) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        current = conn.execute("SELECT * FROM claude_sessions WHERE id = ?", (ident,)).fetchone()
        old = dict(zip(SESSION_COLUMNS, current, strict=True))
        now = now_ms()
        assignments = ", ".join(f"{c} = ?" for c in updates)
        conn.execute(
            f"UPDATE claude_sessions SET {assignments}, updated_at = ? WHERE id = ?",
            (*updates.values(), now, ident),
        )
        self._audit("session", ident, "update", {k: old[k] for k in updates}, updates, now)
        conn.execute("COMMIT")

    def tasks_by_status(self, project_id: str, status: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(
            "SELECT * FROM tasks WHERE project_id = ? AND status = ? ORDER BY created_at, rowid",
            (project_id, status),
        ).fetchall()

    def project_cost(self, project_id: str) -> float:
        return float(
            self.conn.execute(
                "SELECT coalesce(sum(cost_usd), 0.0) FROM claude_sessions WHERE project_id = ?", (project_id,)
            ).fetchone()[0]
        )


# -- measuring ----------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p50(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm the page cache and the statement cache
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def p50_pair(service_fn: Callable[[], Any], raw_fn: Callable[[], Any], reps: int) -> tuple[float, float]:
    """Median latency of each, sampled alternately so that both see the same machine."""
    service_fn()
    raw_fn()
    service_samples, raw_samples = [], []
    for _ in range(reps):
        service_samples.append(_timed(service_fn))
        raw_samples.append(_timed(raw_fn))
    return statistics.median(service_samples), statistics.median(raw_samples)


def alternate(
    total: int, chunk: int, service_step: Callable[[int], object], raw_step: Callable[[int], object]
) -> tuple[float, float]:
    """Run ``total`` steps on each side in alternating chunks; return (service_s, raw_s)."""
    service_s = raw_s = 0.0
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)

        def run_service(a: int = start, b: int = stop) -> None:
            for i in range(a, b):
                service_step(i)

        def run_raw(a: int = start, b: int = stop) -> None:
            for i in range(a, b):
                raw_step(i)

        service_s += _timed(run_service)
        raw_s += _timed(run_raw)
    return service_s, raw_s


@contextmanager
def environ(name: str, value: str | None) -> Iterator[None]:
    old = os.environ.get(name)
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


# -- the benchmarks -----------------------------------------------------------------


def bench_open(work: Path, sizes: Sizes) -> list[Row]:
    fresh_service = fresh_raw = 0.0
    for i in range(sizes.open_reps):

        def service(i: int = i) -> None:
            DatabaseService(work / f"open-service-{i}.db", actor=ACTOR).close()

        def raw(i: int = i) -> None:
            raw_open_and_migrate(work / f"open-raw-{i}.db").close()

        fresh_service += _timed(service)
        fresh_raw += _timed(raw)
    existing = work / "open-service-0.db"

    def open_service() -> None:
        DatabaseService(existing, actor=ACTOR).close()

    def open_raw() -> None:
        conn = raw_connect(existing)
        conn.execute("PRAGMA user_version").fetchone()
        conn.close()

    up_service, up_raw = p50_pair(open_service, open_raw, sizes.query_reps)
    n = sizes.open_reps
    return [
        Row(
            "open + migrate a fresh database",
            n,
            fresh_service / n,
            fresh_raw / n,
            unit="query",
            note=f"mean of {n}, {len(MIGRATIONS)} migrations",
        ),
        Row("open an up-to-date database", sizes.query_reps, up_service, up_raw, unit="query", note="p50"),
    ]


def bench_writes_and_queries(work: Path, sizes: Sizes) -> tuple[list[Row], DatabaseService]:
    svc = DatabaseService(work / "service.db", actor=ACTOR)
    raw_path = work / "raw.db"
    migrate(raw_connect(raw_path), raw_path)
    raw = Raw(raw_path)
    project = svc.create_project("bench")
    raw_project = raw.create_project("bench")
    rows: list[Row] = []

    task_ids: list[str] = []
    raw_task_ids: list[str] = []
    service_s, raw_s = alternate(
        sizes.tasks,
        sizes.chunk,
        lambda i: task_ids.append(svc.create_task(project.id, f"task {i}", status=STATUS_MIX[i % 20]).id),
        lambda i: raw_task_ids.append(raw.create_task(raw_project, f"task {i}", STATUS_MIX[i % 20])),
    )
    rows.append(Row("create_task", sizes.tasks, service_s, raw_s))

    session_ids: list[str] = []
    raw_session_ids: list[str] = []
    service_s, raw_s = alternate(
        sizes.sessions,
        sizes.chunk,
        lambda i: session_ids.append(svc.create_session(project.id, task_ids[i % len(task_ids)]).id),
        lambda i: raw_session_ids.append(
            raw.create_session(raw_project, raw_task_ids[i % len(raw_task_ids)])
        ),
    )
    rows.append(Row("create_session", sizes.sessions, service_s, raw_s))

    def usage(i: int) -> dict[str, Any]:
        return {
            "tokens_input": 1_000 + i % 977,
            "tokens_output": 200 + i % 331,
            "cost_usd": 0.001 * (1 + i % 97),
        }

    service_s, raw_s = alternate(
        sizes.sessions,
        sizes.chunk,
        lambda i: svc.update_session(session_ids[i], usage(i)),
        lambda i: raw.update_session(raw_session_ids[i], usage(i)),
    )
    rows.append(Row("update_session (tokens + cost)", sizes.sessions, service_s, raw_s))

    for status in ("in_progress", "done"):
        got = svc.get_tasks(project.id, status)
        assert len(got) == len(raw.tasks_by_status(raw_project, status))
        service_q, raw_q = p50_pair(
            lambda s=status: svc.get_tasks(project.id, s),  # type: ignore[misc]
            lambda s=status: raw.tasks_by_status(raw_project, s),  # type: ignore[misc]
            sizes.query_reps,
        )
        rows.append(
            Row(
                f"get_tasks(status={status!r})",
                sizes.query_reps,
                service_q,
                raw_q,
                unit="query",
                note=f"{len(got)} of {sizes.tasks} tasks returned, p50",
            )
        )
    assert abs(svc.get_project_cost(project.id) - raw.project_cost(raw_project)) < 1e-6
    service_q, raw_q = p50_pair(
        lambda: svc.get_project_cost(project.id), lambda: raw.project_cost(raw_project), sizes.query_reps
    )
    rows.append(
        Row(
            "get_project_cost",
            sizes.query_reps,
            service_q,
            raw_q,
            unit="query",
            note=f"sum over {sizes.sessions} sessions, p50",
        )
    )
    raw.conn.close()
    return rows, svc


def bench_match_rule(svc: DatabaseService, sizes: Sizes) -> list[Row]:
    import nerv.permissions as perms

    programs = ["git", "npm", "cargo", "make", "docker", "kubectl", "pytest", "python", "go", "yarn"]
    actions = ("allow", "allow", "allow", "ask", "deny")
    for i in range(sizes.rules - 1):
        program = programs[i % len(programs)]
        svc.create_rule(f"{program} sub{i}:*", actions[i % len(actions)], "Bash")
    svc.create_rule("npm test:*", "allow", "Bash")
    conn = svc.connection

    def raw_match(command: str) -> Any:
        # The statements match_rule issues (the enabled global rules under the call's index
        # keys, then the deciding rule's row) around the same pure matcher, without the service.
        tool_input = {"command": command}
        keys = list(dict.fromkeys(perms.call_keys("Bash", tool_input)))
        marks = ", ".join("?" * len(keys))
        rows = conn.execute(
            "SELECT id, tool, pattern, action, note FROM approval_rules WHERE enabled = 1 "
            f"AND match_key IN ({marks}) AND project_id IS NULL ORDER BY created_at, rowid",
            keys,
        ).fetchall()
        specs = [perms.RuleSpec(r[0], r[1], r[2] or None, r[3]) for r in rows]
        decision = perms.CompiledRules(specs).evaluate("Bash", tool_input)
        if decision.action is None or not decision.rules:
            return None
        return conn.execute("SELECT * FROM approval_rules WHERE id = ?", (decision.rules[0].id,)).fetchone()

    rows = []
    for command, expect in (("npm test", True), ("ls -la /tmp", False)):
        note = f"{sizes.rules} rules, {'hit' if expect else 'miss'}, p50"
        assert (raw_match(command) is not None) == expect
        try:
            found = svc.match_rule("Bash", command)
            assert (found is not None) == expect, (command, found)
        except Exception as exc:  # the permissions issue may not have landed yet
            service_q: float | None = None
            raw_q = p50(lambda c=command: raw_match(c), sizes.match_reps)  # type: ignore[misc]
            note += f"; service.match_rule failed: {type(exc).__name__}: {exc}"
        else:
            service_q, raw_q = p50_pair(
                lambda c=command: svc.match_rule("Bash", c),  # type: ignore[misc]
                lambda c=command: raw_match(c),  # type: ignore[misc]
                sizes.match_reps,
            )
        rows.append(
            Row(
                f"match_rule('Bash', {command!r})",
                sizes.match_reps,
                service_q,
                raw_q,
                unit="query",
                note=note,
            )
        )
    return rows


def bench_synchronous(work: Path, sizes: Sizes) -> list[Row]:
    """Commit throughput of the default NORMAL against FULL (an fsync of the WAL per commit)."""
    rows = []
    for level in ("NORMAL", "FULL"):
        with (
            environ(env.NERV_SYNCHRONOUS, level),
            DatabaseService(work / f"sync-{level}.db", actor=ACTOR) as svc,
        ):
            project_id = svc.create_project("sync").id

            def writes(svc: DatabaseService = svc, project_id: str = project_id) -> None:
                for i in range(sizes.sync_ops):
                    svc.create_task(project_id, f"t{i}")

            elapsed = _timed(writes)
        note = "the default" if level == "NORMAL" else "fsync of the WAL on every commit"
        rows.append(Row(f"create_task, synchronous={level}", sizes.sync_ops, elapsed, None, note=note))
    return rows


def bench_help(sizes: Sizes) -> list[Row]:
    exe = shutil.which("nerv")
    command = [exe, "--help"] if exe else [sys.executable, "-m", "nerv", "--help"]

    def run(cmd: Sequence[str]) -> float:
        return _timed(lambda: subprocess.run(cmd, check=True, capture_output=True))

    run(command)
    help_s = statistics.median(run(command) for _ in range(sizes.help_reps))
    bare_s = statistics.median(run([sys.executable, "-c", "pass"]) for _ in range(sizes.help_reps))
    return [
        Row(
            "nerv --help (wall time)",
            sizes.help_reps,
            help_s,
            bare_s,
            unit="query",
            note=f"median of {sizes.help_reps}; raw column = bare `python -c pass`",
        )
    ]


# -- reporting ----------------------------------------------------------------------


def _fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_rate(count: int, seconds: float | None) -> str:
    return "-" if not seconds else f"{count / seconds:,.0f}/s"


def report(rows: list[Row]) -> str:
    lines = [
        f"{'operation':<40} {'n':>7} {'service':>12} {'raw sqlite3':>12} {'ratio':>6}  note",
    ]
    for row in rows:
        if row.unit == "ops":
            service = _fmt_rate(row.count, row.service_s)
            raw = _fmt_rate(row.count, row.raw_s)
            per_op = _fmt_time(row.service_s / row.count) if row.service_s else "-"
            note = f"{per_op}/op" + (f"; {row.note}" if row.note else "")
        else:
            service, raw, note = _fmt_time(row.service_s), _fmt_time(row.raw_s), row.note
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(f"{row.name:<40} {row.count:>7} {service:>12} {raw:>12} {ratio:>6}  {note}")
    return "\n".join(lines)


def machine() -> str:
    uname = os.uname()
    return (
        f"{uname.sysname} {uname.release} {uname.machine}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, "
        f"synchronous={synchronous_level()}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--dir", metavar="DIR", help="where to put the database files (default: a temp dir)")
    args, _unknown = parser.parse_known_args(argv)
    sizes = QUICK if args.quick else FULL
    print(f"# bench_service ({'quick' if args.quick else 'full'}) — {machine()}", flush=True)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="nerv-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    try:
        rows += bench_open(work, sizes)
        write_rows, svc = bench_writes_and_queries(work, sizes)
        rows += write_rows
        with svc:
            rows += bench_match_rule(svc, sizes)
        rows += bench_synchronous(work, sizes)
        rows += bench_help(sizes)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    print(report(rows), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "quick": args.quick,
                    "rows": [
                        {
                            "name": r.name,
                            "count": r.count,
                            "unit": r.unit,
                            "service_s": r.service_s,
                            "raw_s": r.raw_s,
                            "ratio": r.ratio,
                            "note": r.note,
                        }
                        for r in rows
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    slow = [r for r in rows if r.unit == "ops" and r.raw_s and r.ratio and r.ratio > 1.5]
    if slow:
        print("over the 1.5x target: " + ", ".join(r.name for r in slow), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
