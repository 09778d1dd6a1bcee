"""Files a killed backup, restore or migration leaves behind (issue 9, fault 6).

Real processes are killed with SIGKILL while they write; the next run completes, and no
file of nerv's naming is left over. A file with a finished name is always finished.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nerv import DatabaseService
from nerv.db.migrations import latest_version, migrate
from nerv.db.tempfiles import remove_stale, stale_files, temp_name

TEMP = re.compile(r"^\..+\.(tmp|restore|partial)-\d+-[0-9a-f]{8}")
PAD = '{"pad": "' + "p" * 900 + '"}'


def _bulk(conn: sqlite3.Connection, rows: int = 40_000) -> None:
    """About 40 MB of audit rows: copying them takes long enough to be killed half way."""
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
        "VALUES (?, ?, 'bulk', 'task', 'x', 'create', NULL, ?)",
        ((f"bulk{i:012d}", i, PAD) for i in range(rows)),
    )
    conn.execute("COMMIT")


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP.match(p.name)) if folder.is_dir() else []


def _kill_when(args: list[str], ready: Callable[[], bool], env: dict[str, str] | None = None) -> None:
    """Run ``nerv ARGS``; SIGKILL it as soon as ``ready()`` (its unfinished file exists)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    try:
        deadline = time.monotonic() + 120
        while not ready():
            assert proc.poll() is None, "finished before it could be killed: make the database larger"
            assert time.monotonic() < deadline
            time.sleep(0.001)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _intact(path: Path) -> bool:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_a_killed_backup_is_cleaned_up_by_the_next_one(db_path: Path, nerv_home: Path, run_cli: Any) -> None:
    with DatabaseService(db_path) as svc:
        _bulk(svc.connection)
    backups = nerv_home / "backups"
    _kill_when(["backup"], lambda: bool(_temps(backups)))
    assert _temps(backups)  # the unfinished copy is still there...
    assert not [p for p in backups.iterdir() if p.name.endswith(".db")]  # ...and named as unfinished
    result = run_cli("backup", "--json", check=True).json()
    assert _temps(backups) == []
    assert [p.name for p in backups.iterdir()] == [Path(result["path"]).name]
    assert _intact(Path(result["path"]))


def test_a_killed_restore_is_cleaned_up_by_the_next_one(
    db_path: Path, nerv_home: Path, tmp_path: Path, run_cli: Any
) -> None:
    with DatabaseService(db_path) as svc:
        _bulk(svc.connection)
        svc.create_project("before the backup")
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    with DatabaseService(db_path) as svc:
        svc.create_project("after the backup")
    _kill_when(["restore", str(backup)], lambda: bool(_temps(db_path.parent)))
    assert _temps(db_path.parent)  # the staging copy (the size of the database) stayed behind
    run_cli("restore", str(backup), check=True)
    assert _temps(db_path.parent) == [] and _temps(nerv_home / "backups") == []
    with DatabaseService(db_path) as svc:
        assert [p.name for p in svc.get_projects()] == ["before the backup"]


def test_a_killed_migration_never_leaves_a_backup_that_looks_finished(tmp_path: Path, run_cli: Any) -> None:
    db = tmp_path / "old" / "state.db"
    with DatabaseService(db, migrate_schema=False) as svc:
        migrate(svc.connection, db, target=latest_version() - 1)
        _bulk(svc.connection)
    folder = db.parent
    _kill_when(["--db", str(db), "db", "migrate"], lambda: bool(_temps(folder)))
    assert _temps(folder)
    assert not [p for p in folder.iterdir() if p.name.endswith(".bak")]  # nothing passes for a backup
    run_cli("--db", str(db), "db", "migrate", check=True)
    assert _temps(folder) == []
    backups = [p for p in folder.iterdir() if p.name.endswith(".bak")]
    assert len(backups) == 1 and _intact(backups[0])
    copy = sqlite3.connect(backups[0])
    assert copy.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 40_000
    assert copy.execute("PRAGMA user_version").fetchone()[0] == latest_version() - 1
    copy.close()


def test_only_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    final = tmp_path / "state.db"
    mine = temp_name(final)  # this process: alive
    theirs = final.with_name(f".state.db.restore-{dead_pid}-0123abcd")
    companion = theirs.with_name(theirs.name + "-wal")
    unrelated = [tmp_path / ".state.db.tmp-notapid-0123abcd", tmp_path / "state.db", tmp_path / ".hidden"]
    for path in (mine, theirs, companion, *unrelated):
        path.write_bytes(b"x")
    assert stale_files(tmp_path) == sorted([theirs, companion])
    assert remove_stale(tmp_path) == sorted([theirs, companion])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (mine, *unrelated))
