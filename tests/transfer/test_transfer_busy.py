"""A long import holds the write lock; other writers wait politely or are told who holds it
(issue 9, fault 5). The stall itself is measured by bench/bench_import_stall.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from test_transfer_kill import _big_export, _write_locked

from nerv import DatabaseService
from nerv.errors import DatabaseError


def test_writers_wait_for_an_import_instead_of_failing(
    db_path: Path, tmp_path: Path, run_cli: Any
) -> None:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("alpha")
    big = tmp_path / "big.ndjson"
    _big_export(big, tmp_path)
    importer = subprocess.Popen(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "import", str(big), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not _write_locked(db_path):
            assert importer.poll() is None, "the import finished before it took the lock"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        # A writer that cannot wait (like the hook) is told who holds the lock, in one line.
        with DatabaseService(db_path, busy_timeout=100) as svc, pytest.raises(DatabaseError) as info:
            svc.create_task(project.id, "refused")
        assert "`nerv import big.ndjson` (pid " in str(info.value) and "\n" not in str(info.value)
        assert importer.poll() is None, "the import finished too early to prove anything"
        # The CLI waits for it, says so once, and then succeeds.
        result = run_cli(
            "task", "create", "written during the import", "--project", project.id,
            env={"NERV_BUSY_TIMEOUT_MS": "200"},
        )
        assert importer.wait(timeout=300) == 0, importer.stderr.read() if importer.stderr else ""
    finally:
        if importer.poll() is None:
            importer.kill()
            importer.wait()
        if importer.stderr is not None:
            importer.stderr.close()
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("nerv: waiting for `nerv import big.ndjson` (pid ") == 1, result.stderr
    assert "locked" not in result.stderr
    with DatabaseService(db_path) as svc:
        titles = [t.title for t in svc.get_tasks(project.id)]
        assert titles == ["written during the import"]
        rows = svc.connection.execute(
            "SELECT count(*) FROM audit_log WHERE entity_type = 'task' AND action = 'create' "
            "AND actor = 'test'"
        ).fetchone()[0]
        assert rows == 1  # exactly one audit row for the one change
    assert not list(db_path.parent.glob(".state.db.busy-*"))  # the import's note is gone
