"""Several processes writing the same file at once never see "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from nerv import DatabaseService

WORKER = Path(__file__).with_name("svc_worker.py")
PROCESSES = 8
WRITES = 500


def test_eight_processes_writing_concurrently(db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path) as service:
        project = service.create_project("contended")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(db_path), str(barrier), str(i), str(WRITES), project.id],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(barrier.glob("ready-*"))) < PROCESSES:
            assert all(p.poll() is None for p in procs), "a worker died before the barrier"
            assert time.monotonic() < deadline, "workers never reached the barrier"
            time.sleep(0.005)
        start = time.perf_counter()
        (barrier / "go").touch()
        outputs = [p.communicate(timeout=120) for p in procs]
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    reports = []
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    errors = [e for r in reports for e in r["errors"]]
    assert errors == [], errors[:5]
    assert not any("locked" in e for e in errors)
    assert sum(r["written"] for r in reports) == PROCESSES * WRITES
    with DatabaseService(db_path) as service:
        tasks = service.get_tasks(project.id)
        assert len(tasks) == PROCESSES * WRITES
        assert len({t.id for t in tasks}) == PROCESSES * WRITES
        audit = service.get_audit(entity_type="task")
        assert len(audit) == PROCESSES * WRITES
        assert {a.entity_id for a in audit} == {t.id for t in tasks}
        assert {a.actor for a in audit} == {f"worker-{i}" for i in range(PROCESSES)}
        assert service.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert elapsed < 30, f"{PROCESSES}x{WRITES} writes took {elapsed:.1f}s"
