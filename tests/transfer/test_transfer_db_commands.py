"""nerv db version | migrate | check | checkpoint | vacuum."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import populate

from nerv import DatabaseService
from nerv.db.connection import connect
from nerv.db.migrations import MIGRATIONS, latest_version, migrate


def _grow(db_path: Path, rows: int = 5000) -> None:
    conn = connect(db_path)
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
        "VALUES (?, ?, 'bulk', 'task', 'x', 'create', NULL, ?)",
        ((f"grow{i:012d}", i, '{"pad": "' + "y" * 300 + '"}') for i in range(rows)),
    )
    conn.execute("COMMIT")
    conn.close()


def test_version_and_migrate(run_cli: Any, db_path: Path) -> None:
    missing = run_cli("db", "version", "--json", check=True).json()
    assert missing["exists"] is False and missing["schema_version"] == 0
    assert len(missing["pending"]) == latest_version()
    conn = connect(db_path)
    migrate(conn, db_path, target=2)
    conn.close()
    old = run_cli("db", "version", check=True)
    assert f"schema version 2 (latest {latest_version()})" in old.stdout and "pending" in old.stdout
    migrated = run_cli("db", "migrate", "--json", check=True).json()
    assert migrated["from_version"] == 2 and migrated["to_version"] == latest_version()
    assert migrated["applied"] == [m.name for m in MIGRATIONS[2:]]
    now = run_cli("db", "version", "--json", check=True).json()
    assert now["schema_version"] == latest_version() and now["pending"] == []
    assert [a["name"] for a in now["applied"]] == [m.name for m in MIGRATIONS]
    again = run_cli("db", "migrate", check=True)
    assert "up to date" in again.stdout


def test_check_passes_on_a_healthy_database(run_cli: Any, db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    result = run_cli("db", "check", "--json", check=True).json()
    assert result["ok"] is True and result["integrity"] == ["ok"]
    assert result["foreign_key_violations"] == 0 and result["schema_version"] == latest_version()
    assert result["journal_mode"] == "wal" and result["problems"] == []
    human = run_cli("db", "check", "--quick", check=True)
    assert human.stdout.strip().endswith("ok")


def test_check_fails_on_a_corrupted_file(run_cli: Any, db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    _grow(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    assert pages > 20
    with db_path.open("r+b") as f:  # scribble over a run of b-tree pages in the middle
        for page in range(pages // 2, pages // 2 + 4):
            f.seek(page * page_size + 8)
            f.write(b"\xde\xad\xbe\xef" * 64)
    result = run_cli("db", "check")
    assert result.returncode == 5
    assert result.stderr.startswith("nerv: error: database check failed: integrity check failed")
    assert "problem: integrity check failed" in result.stdout
    assert "Traceback" not in result.stderr
    as_json = run_cli("db", "check", "--json")
    assert as_json.returncode == 5 and as_json.json()["ok"] is False


def test_check_fails_on_a_file_that_is_not_a_database(run_cli: Any, db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    db_path.write_bytes(b"not a database, just text " * 200)
    result = run_cli("db", "check")
    assert result.returncode == 5 and "not a readable database" in result.stderr
    assert run_cli("--db", str(db_path.parent / "nope.db"), "db", "check").returncode == 5


def test_check_fails_on_broken_references_and_old_schema_is_a_warning(run_cli: Any, db_path: Path) -> None:
    with DatabaseService(db_path):
        pass
    conn = sqlite3.connect(db_path)  # foreign keys are off on a plain connection
    conn.execute(
        "INSERT INTO tasks (id, project_id, title, created_at, updated_at) VALUES ('t1', 'ghost', 'x', 1, 1)"
    )
    conn.commit()
    conn.close()
    result = run_cli("db", "check")
    assert result.returncode == 5 and "1 broken reference(s): tasks row" in result.stderr
    old = db_path.parent / "old.db"
    conn = connect(old)
    migrate(conn, old, target=3)
    conn.close()
    warned = run_cli("--db", str(old), "db", "check", check=True)
    assert "warning: schema version 3 is behind" in warned.stdout


@pytest.mark.parametrize("mode", ["passive", "full", "restart", "truncate"])
def test_checkpoint_modes(run_cli: Any, db_path: Path, mode: str) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
        _grow(db_path, 2000)
        wal = db_path.with_name(db_path.name + "-wal")
        assert wal.stat().st_size > 0
        # with a connection open the WAL persists: the mode decides what happens to it
        result = run_cli("db", "checkpoint", "--mode", mode, "--json", check=True).json()
        assert result["mode"] == mode and result["complete"] is True
        assert result["wal_bytes_before"] > 0
        if mode == "truncate":  # SQLite reports 0 frames once the WAL is truncated
            assert result["wal_bytes_after"] == 0 and wal.stat().st_size == 0
        else:
            assert result["wal_frames"] == result["checkpointed_frames"] > 0
            assert result["wal_bytes_after"] == result["wal_bytes_before"]
        assert svc.get_projects()  # still readable, same state


def test_checkpoint_truncate_reports_busy_readers(run_cli: Any, db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    keep_open = connect(db_path)  # the WAL is not folded in when the others close
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys\n"
            f"c = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN'); c.execute('SELECT count(*) FROM audit_log').fetchone()\n"
            "print('reading', flush=True); sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        _grow(db_path, 2000)  # committed after the reader's snapshot: truncate must wait for it
        env = {"NERV_BUSY_TIMEOUT_MS": "200"}
        busy = run_cli("db", "checkpoint", "--mode", "truncate", env=env)
        assert busy.returncode == 5 and "could not finish" in busy.stderr
        passive = run_cli("db", "checkpoint", env=env)
        assert passive.returncode == 0 and "checkpoint passive" in passive.stdout
    finally:
        reader.kill()
        reader.wait()
        for stream in (reader.stdin, reader.stdout):
            if stream is not None:
                stream.close()
    done = run_cli("db", "checkpoint", "--mode", "truncate", "--json", check=True).json()
    assert done["complete"] is True and done["wal_bytes_after"] == 0
    keep_open.close()


def test_vacuum_shrinks_after_deletes(run_cli: Any, db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
        project = svc.create_project("big")
        conn = svc.connection
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO tasks (id, project_id, title, description, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 1, 1)",
            ((f"bulk{i:08d}", project.id, "t", "z" * 500) for i in range(3000)),
        )
        conn.execute("COMMIT")
        conn.execute("DELETE FROM tasks WHERE id LIKE 'bulk%'")
    result = run_cli("db", "vacuum", "--json", check=True).json()
    assert result["bytes_after"] < result["bytes_before"]
    assert run_cli("db", "check").returncode == 0
