"""kill -9 in the middle of an import leaves the database exactly as it was."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from transfer_helpers import export_text, populate, snapshot

from nerv import DatabaseService

ROWS = 100_000


def _big_export(path: Path, tmp_path: Path) -> None:
    """An ndjson export with ROWS audit rows (plus a project), written straight from raw SQL."""
    source = tmp_path / "big-source.db"
    with DatabaseService(source) as svc:
        svc.create_project("bulk project")
        conn = svc.connection
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
            "VALUES (?, ?, 'bulk', 'task', ?, 'create', NULL, ?)",
            ((f"k{i:015d}", i, f"e{i}", '{"pad": "' + "p" * 240 + '"}') for i in range(ROWS)),
        )
        conn.execute("COMMIT")
        path.write_text(export_text(svc, "ndjson"), encoding="utf-8")


def _write_locked(db: Path) -> bool:
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return True
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
    return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_kill_9_during_import_changes_nothing(db_path: Path, tmp_path: Path, run_cli: Any) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    big = tmp_path / "big.ndjson"
    _big_export(big, tmp_path)
    before = snapshot(db_path)
    wal = db_path.with_name(db_path.name + "-wal")
    base = _size(wal)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "import", str(big), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        # Kill once the import holds the write transaction *and* has spilled uncommitted pages to the WAL.
        while True:
            assert proc.poll() is None, "the import finished before it could be killed: make the file larger"
            assert time.monotonic() < deadline, "the import never started writing"
            if _size(wal) > base + 4 * 1024 * 1024 and _write_locked(db_path):
                break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _size(wal) > base  # the killed transaction had written frames
    after = snapshot(db_path)
    assert after == before
    assert run_cli("db", "check").returncode == 0
    # the same import, not interrupted, brings everything in
    result = run_cli("import", str(big), "--json", check=True).json()
    assert result["inserted"] >= ROWS + 2  # and the bulk project with its audit row
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'bulk'").fetchone()[0] == ROWS
    conn.close()
