"""Where the database lives, how every connection is set up, and unusable files."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerv import DatabaseService
from nerv.db.connection import connect, write_transaction
from nerv.errors import DatabaseError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[None]:
    """A permissive umask: nerv must not rely on the user's umask for privacy."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


# -- location and file modes -----------------------------------------------------------


def test_default_location_is_under_nerv_home(nerv_home: Path, umask: None) -> None:
    assert not nerv_home.exists()
    with DatabaseService() as svc:
        assert svc.path == nerv_home / "state.db"
        svc.create_project("p")
        assert mode(nerv_home) == 0o700
        assert mode(svc.path) == 0o600
        # SQLite gives the -wal and -shm files the database file's permissions.
        for suffix in ("-wal", "-shm"):
            side = svc.path.with_name(svc.path.name + suffix)
            assert side.exists() and mode(side) == 0o600
    assert (nerv_home / "state.db").exists()


def test_nested_home_is_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "a" / "b" / "nerv"
    monkeypatch.setenv("NERV_HOME", str(home))
    with DatabaseService() as svc:
        assert svc.path == home / "state.db"
    assert mode(home) == 0o700 and mode(home / "state.db") == 0o600


def test_nerv_db_points_at_a_file(nerv_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere" / "custom.sqlite"
    monkeypatch.setenv("NERV_DB", str(target))
    with DatabaseService() as svc:
        assert svc.path == target
        svc.create_project("p")
    assert target.exists() and mode(target) == 0o600
    assert not nerv_home.exists()  # NERV_DB beats NERV_HOME
    with DatabaseService(tmp_path / "explicit.db") as svc:  # an explicit path beats both
        assert svc.path == tmp_path / "explicit.db"


def test_an_existing_file_is_made_private_again(db_path: Path) -> None:
    """A database copied in at 0640 holds agent commands and costs: it is tightened (issue 9)."""
    DatabaseService(db_path).close()
    db_path.chmod(0o640)
    DatabaseService(db_path).close()
    assert mode(db_path) == 0o600


# -- pragmas ---------------------------------------------------------------------------


def test_connection_pragmas(service: DatabaseService) -> None:
    conn = service.connection
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


@pytest.mark.parametrize(("level", "value"), [("OFF", 0), ("normal", 1), ("FULL", 2), ("EXTRA", 3)])
def test_synchronous_is_configurable(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, value: int
) -> None:
    monkeypatch.setenv("NERV_SYNCHRONOUS", level)
    with DatabaseService(db_path) as svc:
        assert svc.connection.execute("PRAGMA synchronous").fetchone()[0] == value


def test_busy_timeout_is_configurable(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERV_BUSY_TIMEOUT_MS", "1234")
    with DatabaseService(db_path) as svc:
        assert svc.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 1234
    with DatabaseService(db_path, busy_timeout=55) as svc:
        assert svc.connection.execute("PRAGMA busy_timeout").fetchone()[0] == 55


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "NERV_SYNCHRONOUS",
            "SOMETIMES",
            "NERV_SYNCHRONOUS='SOMETIMES' is not one of OFF, NORMAL, FULL, EXTRA",
        ),
        ("NERV_BUSY_TIMEOUT_MS", "soon", "NERV_BUSY_TIMEOUT_MS='soon' is not a number of milliseconds"),
    ],
)
def test_bad_environment_is_a_clear_error(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(DatabaseError) as info:
        DatabaseService(db_path)
    assert str(info.value) == message


def test_writes_use_begin_immediate(service: DatabaseService) -> None:
    statements: list[str] = []
    service.connection.set_trace_callback(statements.append)
    project = service.create_project("p")
    service.update_project(project.id, {"goal": "g"})
    service.connection.set_trace_callback(None)
    begins = [s for s in statements if s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]
    assert begins == ["BEGIN IMMEDIATE", "COMMIT", "BEGIN IMMEDIATE", "COMMIT"]


def test_nested_transactions_are_savepoints(service: DatabaseService) -> None:
    with service.transaction():
        project = service.create_project("outer")
        with pytest.raises(Exception, match="name must not be empty"):
            service.create_project("")
        service.create_task(project.id, "inside")
    assert [p.name for p in service.get_projects()] == ["outer"]
    with pytest.raises(RuntimeError), service.transaction():
        service.create_project("rolled back")
        raise RuntimeError("abort the outer transaction")
    assert [p.name for p in service.get_projects()] == ["outer"]
    assert not service.connection.in_transaction


def test_write_transaction_helper(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    conn.execute("CREATE TABLE t (x)")
    with write_transaction(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ValueError), write_transaction(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise ValueError
    with pytest.raises(ValueError), write_transaction(conn):
        conn.execute("INSERT INTO t VALUES (3)")
        raise ValueError
    assert [tuple(r) for r in conn.execute("SELECT x FROM t")] == [(1,)]
    conn.close()


def test_a_held_write_lock_gives_a_clear_error(db_path: Path) -> None:
    DatabaseService(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with DatabaseService(db_path, busy_timeout=50) as svc:
            assert svc.get_projects() == []  # readers are never blocked in WAL mode
            with pytest.raises(DatabaseError, match="database is busy: database is locked") as info:
                svc.create_project("p")
            assert "\n" not in str(info.value)
            assert not svc.connection.in_transaction
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


# -- unusable files ----------------------------------------------------------------------


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    before = path.read_bytes()
    with pytest.raises(DatabaseError) as info:
        DatabaseService(path)
    assert str(info.value) == f"cannot use database {path}: file is not a database"
    assert path.read_bytes() == before


def test_corrupt_database_past_its_header(db_path: Path) -> None:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("p")
        for i in range(300):
            svc.create_task(project.id, f"task {i} " + "x" * 200)
        svc.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db_path.read_bytes())
    page = 4096
    for offset in range(page, len(data), page):  # keep the header page, wreck the rest
        data[offset : offset + page] = b"\xa5" * page
    db_path.write_bytes(bytes(data))
    with pytest.raises(DatabaseError) as info, DatabaseService(db_path) as svc:
        svc.get_tasks(project.id)
    message = str(info.value)
    assert "malformed" in message or "not a database" in message
    assert "\n" not in message


def test_empty_file_becomes_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with DatabaseService(path) as svc:
        assert svc.get_projects() == []


def test_directory_instead_of_a_file(tmp_path: Path) -> None:
    folder = tmp_path / "state.db"
    folder.mkdir()
    with pytest.raises(DatabaseError, match=f"cannot (open|use) database {folder}") as info:
        DatabaseService(folder)
    assert "\n" not in str(info.value)


def test_missing_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match="database not found"):
        connect(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
