"""nerv backup / nerv restore with real files and real concurrent processes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import populate, snapshot

from nerv import DatabaseService
from nerv.db.connection import connect
from nerv.db.migrations import latest_version, migrate

WRITER = r"""
import sys
from nerv.db.connection import connect, write_transaction
conn = connect(sys.argv[1])
seq = 0
while True:
    seq += 1
    with write_transaction(conn):
        conn.execute(
            "INSERT INTO projects (id, name, goal, created_at, updated_at) VALUES (?, ?, NULL, ?, ?)",
            (f"w{seq:012d}", f"written {seq}", seq, seq),
        )
    if seq == 20:
        print("writing", flush=True)
"""

HOLDER = r"""
import sys
from nerv.db.connection import connect
conn = connect(sys.argv[1])
if sys.argv[2] == "write":
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO projects (id, name, goal, created_at, updated_at) VALUES ('held', 'held', NULL, 1, 1)"
    )
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(conn.execute("SELECT count(*) FROM projects").fetchone()[0], flush=True)
"""


def _written(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM projects WHERE id GLOB 'w[0-9]*'").fetchone()[0])
    finally:
        conn.close()


@contextmanager
def _process(script: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # the child says it is ready
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def test_backup_during_continuous_writes_restores_every_committed_row(
    run_cli: Any, db_path: Path, tmp_path: Path
) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
        # enough data that the copy takes a while and the writer commits during it
        svc.connection.execute("BEGIN IMMEDIATE")
        svc.connection.executemany(
            "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
            "VALUES (?, ?, 'bulk', 'task', 'x', 'create', NULL, ?)",
            ((f"bulk{i:012d}", i, '{"pad": "' + "x" * 200 + '"}') for i in range(60_000)),
        )
        svc.connection.execute("COMMIT")
    dest = tmp_path / "online.db"
    with _process(WRITER, str(db_path)):
        committed_before = _written(db_path)
        assert committed_before >= 20
        result = run_cli("backup", str(dest), "--json", check=True).json()
        committed_after = _written(db_path)
    assert committed_after > committed_before  # the writer kept committing while the backup ran
    assert result["path"] == str(dest) and result["schema_version"] == latest_version()
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o600
    # the backup is a standalone file (no -wal needed) that passes the integrity check
    check = sqlite3.connect(dest)
    assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    restored = tmp_path / "restored" / "state.db"
    run_cli("--db", str(restored), "restore", str(dest), check=True)
    assert run_cli("--db", str(restored), "db", "check").returncode == 0
    count = _written(restored)
    assert committed_before <= count <= committed_after
    conn = sqlite3.connect(restored)
    ids = [r[0] for r in conn.execute("SELECT id FROM projects WHERE id GLOB 'w[0-9]*' ORDER BY id")]
    assert conn.execute("SELECT count(*) FROM audit_log WHERE actor = 'bulk'").fetchone()[0] == 60_000
    conn.close()
    assert ids == [f"w{i:012d}" for i in range(1, count + 1)]  # one consistent snapshot: no gaps


def test_default_destination_naming_mode_and_retention(run_cli: Any, db_path: Path, nerv_home: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    folder = nerv_home / "backups"
    folder.mkdir(mode=0o700)
    (folder / "notes.txt").write_text("keep me")
    (folder / "state-manual.db").write_text("not one of ours")
    (folder / "state-20000101-000000.db").write_text("an old timestamped backup")
    made = [run_cli("backup", "--keep", "2", "--json", check=True).json()["path"] for _ in range(3)]
    names = sorted(p.name for p in folder.iterdir())
    assert "notes.txt" in names and "state-manual.db" in names
    ours = [n for n in names if n.startswith("state-2")]
    assert len(ours) == 2 and "state-20000101-000000.db" not in ours
    assert {Path(p).name for p in made[1:]} == set(ours)
    for name in ours:
        assert stat.S_IMODE(os.stat(folder / name).st_mode) == 0o600
        assert name.endswith(".db") and len(name.split("-")[1]) == 8
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert not [n for n in names if n.startswith(".")]  # no temporary files left behind


def test_backup_refuses_to_overwrite_without_force(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path):
        pass
    dest = tmp_path / "b.db"
    dest.write_text("precious")
    refused = run_cli("backup", str(dest))
    assert refused.returncode == 2 and "already exists" in refused.stderr  # a bad value, not a bad database
    missing = run_cli("backup", str(tmp_path / "no" / "such" / "b.db"))
    assert (missing.returncode, missing.stderr) == (
        2, f"nerv: error: backup folder not found: {tmp_path / 'no' / 'such'}\n"
    )
    assert dest.read_text() == "precious"
    run_cli("backup", str(dest), "--force", check=True)
    assert sqlite3.connect(dest).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    missing = run_cli("--db", str(tmp_path / "none.db"), "backup", str(tmp_path / "x.db"))
    assert missing.returncode == 5 and "database not found" in missing.stderr


def test_restore_replaces_state_and_keeps_a_safety_copy(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    expected = snapshot(db_path)
    with DatabaseService(db_path) as svc:
        svc.create_project("made after the backup")
    changed = snapshot(db_path)
    with _process(HOLDER, str(db_path), "read") as reader:  # another process has the file open
        assert reader.stdin is not None and reader.stdout is not None
        reader.stdin.write("count\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == 3
        result = run_cli("restore", str(backup), "--json", check=True).json()
        reader.stdin.write("count\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == 2  # it sees the restored state, no stale -wal/-shm
    assert result["method"] == "online"
    assert snapshot(db_path) == expected
    safety = Path(result["safety_copy"])
    assert safety.exists() and stat.S_IMODE(os.stat(safety).st_mode) == 0o600
    assert snapshot(safety) == changed
    assert run_cli("db", "check").returncode == 0


def test_restore_refused_while_another_process_writes(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    with DatabaseService(db_path) as svc:
        svc.create_project("newer")
    before = snapshot(db_path)
    with _process(HOLDER, str(db_path), "write"):
        started = time.monotonic()
        result = run_cli("restore", str(backup))
        assert time.monotonic() - started < 20
    assert result.returncode == 5
    assert "another process is writing to" in result.stderr and "nothing was changed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(db_path) == before


def test_restore_migrates_an_older_backup(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    conn = connect(old)
    migrate(conn, old, target=3)
    conn.execute(
        "INSERT INTO projects (id, name, goal, created_at, updated_at) VALUES ('oldproj', 'old', NULL, 1, 1)"
    )
    conn.close()
    with DatabaseService(db_path):
        pass
    result = run_cli("restore", str(old), "--json", check=True).json()
    assert result["backup_schema_version"] == 3 and result["schema_version"] == latest_version()
    assert result["migrated"]
    with DatabaseService(db_path) as svc:
        assert [p.id for p in svc.get_projects()] == ["oldproj"]
    assert sqlite3.connect(old).execute("PRAGMA user_version").fetchone()[0] == 3  # the backup is untouched


def test_restore_refuses_newer_foreign_and_corrupt_files(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    before = snapshot(db_path)
    newer = tmp_path / "newer.db"
    with DatabaseService(newer):
        pass
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 100)
    for path, expected in [
        (newer, "schema version 99, newer than this nerv"),
        (foreign, "is not a nerv database"),
        (garbage, "is not a usable SQLite database"),
    ]:
        result = run_cli("restore", str(path))
        assert result.returncode == 5, result.stderr
        assert expected in result.stderr and "Traceback" not in result.stderr
    # A file that is not there is a bad value (2), not an unusable database (5).
    missing = run_cli("restore", str(tmp_path / "missing.db"))
    expected_line = f"nerv: error: backup not found: {tmp_path / 'missing.db'}\n"
    assert (missing.returncode, missing.stderr) == (2, expected_line)
    onto_itself = run_cli("restore", str(db_path))
    expected_line = "nerv: error: cannot restore a database onto itself\n"
    assert (onto_itself.returncode, onto_itself.stderr) == (2, expected_line)
    assert snapshot(db_path) == before
    assert not [p for p in db_path.parent.iterdir() if ".restore-" in p.name]


def test_restore_over_a_damaged_database(run_cli: Any, db_path: Path, tmp_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    expected = snapshot(db_path)
    db_path.write_bytes(b"\x00garbage" * 4096)
    result = run_cli("restore", str(backup), "--json", check=True).json()
    assert result["method"] == "replace" and "damaged" in result["safety_copy"]
    assert Path(result["safety_copy"]).read_bytes().startswith(b"\x00garbage")
    assert snapshot(db_path) == expected
    assert run_cli("db", "check").returncode == 0


def test_restore_into_a_missing_database(run_cli: Any, tmp_path: Path, db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        populate(svc)
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    target = tmp_path / "fresh" / "state.db"
    result = run_cli("--db", str(target), "restore", str(backup), "--json", check=True).json()
    assert result["safety_copy"] is None
    assert snapshot(target) == snapshot(db_path)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_quiet_without_a_terminal(run_cli: Any, db_path: Path, tmp_path: Path, command: str) -> None:
    with DatabaseService(db_path):
        pass
    backup = tmp_path / "b.db"
    run_cli("backup", str(backup), check=True)
    args = [str(tmp_path / "c.db")] if command == "backup" else [str(backup)]
    result = run_cli(command, *args, "--quiet", check=True)
    assert result.stdout == "" and result.stderr == ""
