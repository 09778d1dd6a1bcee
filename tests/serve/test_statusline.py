"""nerv statusline (the real process on Claude Code's statusline JSON) and nerv usage reconcile."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService


def doc(session: str = "sl-1", cost: float = 1.2345, five: float = 31.5, seven: float = 12.0,
        cwd: str = "/tmp") -> dict[str, Any]:
    """A statusline document with the fields Claude Code documents."""
    return {
        "hook_event_name": "Status", "session_id": session, "transcript_path": f"/nowhere/{session}.jsonl",
        "cwd": cwd, "model": {"id": "claude-opus-4-6", "display_name": "Opus"},
        "workspace": {"current_dir": cwd, "project_dir": cwd}, "version": "2.1.50",
        "cost": {"total_cost_usd": cost, "total_duration_ms": 45000, "total_api_duration_ms": 2300,
                 "total_lines_added": 156, "total_lines_removed": 23},
        "rate_limits": {"five_hour": {"used_percentage": five, "resets_at": 1796320000},
                        "seven_day": {"used_percentage": seven, "resets_at": 1796900000}},
    }


def statusline(payload: Any, *, cli: bool = False, env: dict[str, str] | None = None) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    command = [sys.executable, "-m", *(["nerv", "statusline"] if cli else ["nerv.statusline"])]
    proc = subprocess.run(command, input=raw, capture_output=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def rows(db_path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def project_dir(db_path: Path, tmp_path: Path) -> Path:
    where = tmp_path / "shop"
    where.mkdir()
    with DatabaseService(db_path) as service:
        project = service.create_project("shop")
        service.add_repo(project.id, str(where))
        service.create_request("Bash", {"command": "make deploy"}, project_id=project.id)
    return where


def test_the_line_shows_project_cost_pending_and_limits_and_stores_them(
    db_path: Path, project_dir: Path
) -> None:
    line = statusline(doc(cwd=str(project_dir)))
    assert line.startswith("nerv shop · session $1.23 · today $0.00 · month $0.00 · 1 pending"), line
    assert line.endswith("5h 32% · 7d 12%")
    assert rows(db_path, "SELECT claude_session_id, cost_usd, lines_added FROM session_reports") == [
        ("sl-1", 1.2345, 156)
    ]
    snapshots = rows(db_path, "SELECT period, used_percentage, resets_at FROM rate_limit_snapshots "
                              "ORDER BY period")
    assert snapshots == [("five_hour", 31.5, 1796320000000), ("seven_day", 12.0, 1796900000000)]
    # Redrawn with the same figures: nothing new; a moved figure: one new snapshot, the cost updated.
    statusline(doc(cwd=str(project_dir)), cli=True)
    assert len(rows(db_path, "SELECT 1 FROM rate_limit_snapshots")) == 2
    statusline(doc(cost=2.5, five=40.0, cwd=str(project_dir)))
    assert len(rows(db_path, "SELECT 1 FROM rate_limit_snapshots")) == 3
    assert rows(db_path, "SELECT cost_usd FROM session_reports") == [(2.5,)]


def test_budget_warnings_show_in_the_line(db_path: Path) -> None:
    with DatabaseService(db_path) as service:
        service.create_session(None, cost_usd=9.0)
        service.set_setting("budget.daily_usd", 10)
        service.set_setting("budget.monthly_usd", 5)
    line = statusline(doc())
    assert "today $9.00/$10.00 ⚠ 90%" in line and "month $9.00/$5.00 ⚠ over budget" in line


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1]", b"\xff", b'{"cost": {"total_cost_usd": -5}}',
                                 b'{"cost": {"total_cost_usd": NaN}, "rate_limits": {"five_hour": "x"}}',
                                 b'{"session_id": 5, "workspace": [], "rate_limits": {"seven_day": {}}}'])
def test_hostile_input_still_prints_a_line_and_stores_nothing_wrong(db_path: Path, raw: bytes) -> None:
    DatabaseService(db_path).close()
    line = statusline(raw)
    assert line.startswith("nerv")
    assert rows(db_path, "SELECT count(*) FROM session_reports") == [(0,)]
    assert rows(db_path, "SELECT count(*) FROM rate_limit_snapshots") == [(0,)]


def test_no_database_prints_a_line_and_creates_none(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    line = statusline(doc(), env={"NERV_HOME": str(home)})
    assert line.startswith("nerv · session $1.23") and "no nerv database" in line
    assert not home.exists() or not (home / "state.db").exists()


def test_a_locked_database_still_prints_the_line(db_path: Path) -> None:
    DatabaseService(db_path).close()
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        line = statusline(doc())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert line.startswith("nerv · session $1.23") and "not recorded" in line


def test_statusline_imports_only_the_standard_library_and_small_nerv_modules(db_path: Path) -> None:
    DatabaseService(db_path).close()

    def imported(*args: str) -> set[str]:
        proc = subprocess.run([sys.executable, "-X", "importtime", *args], input=json.dumps(doc()).encode(),
                              capture_output=True, check=True)
        found = re.findall(rb"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", proc.stderr, re.M)
        return {n.decode() for n in found}

    modules = imported("-m", "nerv.statusline") - imported("-c", "pass")
    assert "nerv.store.telemetry" in modules and "nerv.usage.enforce" in modules  # it did its work
    for name in modules:
        if name.startswith("nerv."):
            assert name.split(".")[1] in ("env", "store", "usage", "ids", "errors", "db", "statusline"), name
            assert not name.startswith(("nerv.service", "nerv.cli", "nerv.usage.pricing")), name
        elif name.split(".")[0] not in ("org", "nerv"):  # org.python: the copy module probes for Jython
            top = name.split(".")[0].lstrip("_")
            assert top in sys.stdlib_module_names or name.split(".")[0] in sys.stdlib_module_names, name


def test_usage_reconcile_lists_sessions_whose_costs_differ(db_path: Path) -> None:
    with DatabaseService(db_path) as service:
        service.create_session(None, cost_usd=1.0)
        service.create_session(None, cost_usd=2.0)
    conn = sqlite3.connect(db_path)
    try:
        sessions = [r[0] for r in conn.execute("SELECT id FROM claude_sessions ORDER BY cost_usd")]
        for n, sid in enumerate(sessions):  # give them Claude Code ids, as the hook would
            conn.execute("UPDATE claude_sessions SET claude_session_id = ? WHERE id = ?", (f"cc-{n}", sid))
        conn.commit()
    finally:
        conn.close()
    statusline(doc(session="cc-0", cost=1.0))  # agrees
    statusline(doc(session="cc-1", cost=2.75))  # nerv is $0.75 short
    statusline(doc(session="cc-unknown", cost=0.5))  # never ingested
    nerv = [sys.executable, "-m", "nerv", "--db", str(db_path)]
    result = subprocess.run([*nerv, "usage", "reconcile", "--json"], capture_output=True, text=True,
                            check=True)
    found = json.loads(result.stdout)
    assert [s["claude_session_id"] for s in found["sessions"]] == ["cc-1", "cc-unknown"]
    first = found["sessions"][0]
    assert first["nerv_cost_usd"] == 2.0 and first["reported_cost_usd"] == 2.75
    assert first["difference_usd"] == pytest.approx(-0.75) and first["session_id"] == sessions[1]
    assert found["sessions"][1]["session_id"] is None
    every = subprocess.run([*nerv, "usage", "reconcile", "--all"], capture_output=True, text=True,
                           check=True).stdout
    assert "cc-0" in every and "+0.00" in every and "-0.75" in every
    loose = subprocess.run([sys.executable, "-m", "nerv", "--db", str(db_path), "usage", "reconcile",
                            "--tolerance", "1"], capture_output=True, text=True, check=True).stdout
    assert "no session differs by more than $1.00" in loose
    bad = subprocess.run([sys.executable, "-m", "nerv", "--db", str(db_path), "usage", "reconcile",
                          "--tolerance", "-1"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("nerv: error:")
