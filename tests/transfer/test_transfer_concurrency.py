"""Six kinds of writers at once for a few seconds (issue 9's target; bench-length runs: set
NERV_STRESS_SECONDS). No user sees "database is locked", no write is lost, every change has
exactly one audit row, session totals equal their metrics, and ``nerv db check`` is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from nerv import DatabaseService

SECONDS = float(os.environ.get("NERV_STRESS_SECONDS", "10"))

# Each worker loops until the stop file exists, then prints {"ok": n, "errors": [...]} as JSON.
WORKER = r"""
import json, os, subprocess, sys, time
from pathlib import Path
kind, db, stop, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
ok, errors, n = 0, [], 0
nerv = [sys.executable, "-m", "nerv", "--db", str(db)]

def cli(*args):
    p = subprocess.run([*nerv, *args], capture_output=True, text=True)
    if p.returncode != 0 or "locked" in p.stderr:
        errors.append(p.stderr.strip() or f"exit {p.returncode}")
        return None
    return p.stdout

if kind in ("service", "approver"):
    from nerv import DatabaseService
    svc = DatabaseService(db, actor=kind)
    project = svc.get_projects()[0]
while not stop.exists():
    n += 1
    try:
        if kind == "cli":
            if cli("task", "create", f"cli {n}", "--project", os.environ["PROJECT"]) is not None:
                ok += 1
        elif kind == "service":
            svc.create_task(project.id, f"service {n}")
            ok += 1
        elif kind == "ingest":
            folder = work / "claude" / "projects" / "p"
            folder.mkdir(parents=True, exist_ok=True)
            line = {"type": "assistant", "sessionId": f"s-{n % 3}", "cwd": "/w", "requestId": f"r{n}",
                    "timestamp": "2026-12-01T10:00:00Z",
                    "message": {"id": f"msg-{n}", "model": "claude-sonnet-4-5",
                                "usage": {"input_tokens": 10, "output_tokens": 5}}}
            with (folder / f"s-{n % 3}.jsonl").open("a") as f:
                f.write(json.dumps(line) + "\n")
            if cli("usage", "ingest", str(work / "claude" / "projects")) is not None:
                ok += 1
        elif kind == "requests":
            from nerv import DatabaseService as S
            with S(db, actor="hook") as s:
                s.create_request("Bash", {"command": f"make {n}"}, project_id=os.environ["PROJECT"])
            ok += 1
        elif kind == "approver":
            for request in svc.get_requests(status='pending'):
                try:
                    svc.decide_request(request.id, "approved")
                    ok += 1
                except Exception as exc:  # decided meanwhile by nobody else: must not happen
                    errors.append(f"{type(exc).__name__}: {exc}")
        elif kind == "backup":
            target = work / ("b.db" if n % 2 else "e.json")
            args = ("backup", str(target), "--force") if n % 2 else ("export", "-o", str(target))
            if cli(*args) is not None:
                ok += 1
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    time.sleep(0.02)
print(json.dumps({"ok": ok, "errors": errors}))
"""

KINDS = ("cli", "service", "ingest", "requests", "approver", "backup")


def test_six_kinds_of_writers_at_once(db_path: Path, tmp_path: Path, run_cli: Any) -> None:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("stress")
    stop = tmp_path / "stop"
    env = {**os.environ, "PROJECT": project.id}
    procs = {
        kind: subprocess.Popen(
            [sys.executable, "-c", WORKER, kind, str(db_path), str(stop), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for kind in KINDS
    }
    time.sleep(SECONDS)
    stop.write_text("")
    results: dict[str, dict[str, Any]] = {}
    for kind, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, (kind, err)
        results[kind] = json.loads(out)
        assert results[kind]["errors"] == [], (kind, results[kind]["errors"][:3])
        assert "locked" not in err, (kind, err)
    for kind in KINDS:
        assert results[kind]["ok"] > 0, (kind, results)  # every kind really wrote

    with DatabaseService(db_path) as svc:
        conn = svc.connection
        tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
        # no lost write: every create that reported success is there
        assert tasks == results["cli"]["ok"] + results["service"]["ok"]
        # exactly one audit row per change
        for entity, table in (("task", "tasks"), ("approval_request", "approval_requests")):
            rows = conn.execute(
                "SELECT entity_id, count(*) FROM audit_log WHERE entity_type = ? AND action = 'create' "
                "GROUP BY entity_id",
                (entity,),
            ).fetchall()
            ids = {r[0] for r in conn.execute(f"SELECT id FROM {table}")}
            assert {r[0] for r in rows} == ids and all(r[1] == 1 for r in rows), entity
        approved = conn.execute(
            "SELECT count(*) FROM approval_requests WHERE status = 'approved'"
        ).fetchone()[0]
        assert approved == results["approver"]["ok"]
        decisions = conn.execute(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'approval_request' AND action != 'create'"
        ).fetchone()[0]
        assert decisions == approved
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] > 0
    check = run_cli("db", "check", "--json")
    assert check.returncode == 0, check.stdout
    assert check.json()["totals_mismatches"] == []
