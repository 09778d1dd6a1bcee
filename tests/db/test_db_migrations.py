"""Migrations: blank -> latest, every earlier version -> latest, backups, failures, races."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from nerv import DatabaseService
from nerv.db.connection import connect
from nerv.db.migrations import MIGRATIONS, Migration, latest_version, migrate
from nerv.errors import DatabaseError, MigrationError, SchemaTooNewError
from nerv.permissions import candidate_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WORKER = Path(__file__).with_name("db_worker.py")
LATEST = latest_version()


def _load_fixture_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_fixture_maker()


def schema_of(path: Path) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return [
            tuple(r)
            for r in conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
        ]
    finally:
        conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".*.bak"))


@pytest.fixture(scope="module")
def latest_schema(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str, str | None]]:
    path = tmp_path_factory.mktemp("latest") / "state.db"
    DatabaseService(path).close()
    return schema_of(path)


def assert_rows_survive(conn: sqlite3.Connection, version: int) -> None:
    """Every fixture row of ``version`` is still there, column for column."""
    totals = (
        "tokens_input",
        "tokens_output",
        "tokens_cache_read",
        "tokens_cache_write_5m",
        "tokens_cache_write_1h",
        "cost_usd",
    )
    conn.row_factory = sqlite3.Row
    for table, values in make_fixtures.rows_for(version):
        key = next(iter(values))
        row = conn.execute(f"SELECT * FROM {table} WHERE {key} = ?", (values[key],)).fetchone()
        assert row is not None, f"{table} {values[key]} lost"
        for column, value in values.items():
            if table == "claude_sessions" and column in totals:
                continue  # checked below: they include the session's metrics
            if table == "approval_rules" and column == "match_key":
                continue  # derived: re-keyed by the rekey_rules migration (checked against candidate_key)
            assert row[column] == value, f"{table}.{column}: {row[column]!r} != {value!r}"
    sums = {
        "tokens_input": "input_tokens",
        "tokens_output": "output_tokens",
        "tokens_cache_read": "cache_read_tokens",
        "tokens_cache_write_5m": "cache_write_5m_tokens",
        "tokens_cache_write_1h": "cache_write_1h_tokens",
        "cost_usd": "cost_usd",
    }
    for table, values in make_fixtures.rows_for(version):
        if table != "claude_sessions":
            continue
        row = conn.execute("SELECT * FROM claude_sessions WHERE id = ?", (values["id"],)).fetchone()
        has_metrics = version >= 3
        for column, metric_column in sums.items():
            extra = (
                conn.execute(
                    f"SELECT coalesce(sum({metric_column}), 0) FROM metrics WHERE session_id = ?",
                    (values["id"],),
                ).fetchone()[0]
                if has_metrics
                else 0
            )
            assert row[column] == pytest.approx(values[column] + extra), column
    conn.row_factory = None


# -- blank and every earlier version -------------------------------------------------


def test_blank_database_migrates_to_latest(db_path: Path, latest_schema: Any) -> None:
    with DatabaseService(db_path) as svc:
        assert svc.applied_migrations == [m.name for m in MIGRATIONS]
        conn = svc.connection
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
        assert [tuple(r) for r in rows] == [(i + 1, m.name) for i, m in enumerate(MIGRATIONS)]
    assert schema_of(db_path) == latest_schema
    assert backups(db_path) == []  # nothing worth backing up
    with DatabaseService(db_path) as again:
        assert again.applied_migrations == []


@pytest.mark.parametrize("version", range(LATEST + 1))
def test_every_earlier_version_migrates_to_latest(tmp_path: Path, version: int, latest_schema: Any) -> None:
    path = tmp_path / "state.db"
    conn = connect(path)
    assert migrate(conn, path, target=version) == [m.name for m in MIGRATIONS[:version]]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    if version:
        make_fixtures.insert_rows(conn, min(version, max(make_fixtures.DATA)))
    conn.close()
    with DatabaseService(path) as svc:
        assert svc.applied_migrations == [m.name for m in MIGRATIONS[version:]]
        assert_rows_survive(svc.connection, min(version, max(make_fixtures.DATA)))
        svc.connection.row_factory = sqlite3.Row
    assert schema_of(path) == latest_schema
    # Holding data, an upgraded file leaves exactly one backup behind (none when already latest).
    assert len(backups(path)) == (1 if 0 < version < LATEST else 0)


def test_fixtures_exist_for_every_earlier_version() -> None:
    missing = [v for v in range(1, LATEST) if not make_fixtures.fixture_path(v).exists()]
    assert not missing, f"run: python tests/fixtures/make_fixtures.py --version N for {missing}"


FIXTURE_VERSIONS = sorted(int(p.stem.split("-v")[1]) for p in FIXTURES.glob("state-v*.db"))


@pytest.mark.parametrize("version", FIXTURE_VERSIONS)
def test_committed_fixture_upgrades_with_its_data(tmp_path: Path, version: int, latest_schema: Any) -> None:
    path = tmp_path / "state.db"
    shutil.copyfile(make_fixtures.fixture_path(version), path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == version
    with DatabaseService(path) as svc:
        assert svc.applied_migrations == [m.name for m in MIGRATIONS[version:]]
        assert_rows_survive(svc.connection, version)
        svc.connection.row_factory = sqlite3.Row
        # The old data works through today's service.
        project = svc.get_project("fxprojectaaaaaaa")
        assert project is not None and project.name == "fixture project"
        assert [t.id for t in svc.get_tasks(project.id, "in_progress")] == ["fxtaskaaaaaaaaaa"]
        moved = svc.move_task("fxtaskaaaaaaaaaa", "done")
        assert moved.status == "done"
        assert svc.get_audit(entity_id="fxtaskaaaaaaaaaa")[-1].action == "move"
        expected_cost = 0.75 + (0.25 if version >= 3 else 0)
        assert svc.get_project_cost(project.id) == pytest.approx(expected_cost)
        assert svc.create_task(project.id, "after the upgrade").project_id == project.id
        assert svc.create_cycle(project.id).number == 2
        if version >= 4:
            assert svc.get_setting("budget.daily_usd", project.id, environ={}) == 12.5
        # Every stored rule is keyed as today's matcher looks it up: a stale key hides the rule from the hook.
        stale = [
            (r["tool"], r["pattern"], r["match_key"])
            for r in svc.connection.execute("SELECT tool, pattern, match_key FROM approval_rules")
            if r["match_key"] != candidate_key(r["tool"], r["pattern"] or None)
        ]
        assert stale == []
    assert schema_of(path) == latest_schema
    found = backups(path)
    if version < LATEST:
        assert len(found) == 1
        assert f".v{version}-before-v{LATEST}." in found[0].name
        assert found[0].stat().st_mode & 0o777 == 0o600
        backup = sqlite3.connect(found[0])
        assert backup.execute("PRAGMA user_version").fetchone()[0] == version
        assert backup.execute("SELECT name FROM projects WHERE id = 'fxprojectaaaaaaa'").fetchone() == (
            "fixture project",
        )
        backup.close()
    else:
        assert found == []


def test_migrate_rejects_an_unknown_target(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.db")
    with pytest.raises(MigrationError, match="cannot migrate to version 99"):
        migrate(conn, tmp_path / "x.db", target=99)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


# -- failures -----------------------------------------------------------------------


def _broken(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE half_done (x INTEGER)")
    conn.execute("INSERT INTO half_done VALUES (1)")
    conn.execute("INSERT INTO no_such_table VALUES (1)")


def _broken_python(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE half_done (x INTEGER)")
    raise ValueError("bad data in row 7")


@pytest.mark.parametrize(
    ("breaker", "reason"), [(_broken, "no such table: no_such_table"), (_broken_python, "bad data in row 7")]
)
def test_failing_migration_leaves_the_previous_version(db_path: Path, breaker: Any, reason: str) -> None:
    with DatabaseService(db_path) as svc:
        svc.create_project("keep me")
    before = schema_of(db_path)
    steps = [*MIGRATIONS, Migration("broken", breaker)]
    conn = connect(db_path)
    with pytest.raises(MigrationError) as info:
        migrate(conn, db_path, migrations=steps)
    message = str(info.value)
    assert message == (
        f"migration {LATEST + 1} (broken) failed: {reason}; {db_path} is still at version {LATEST}"
    )
    assert "\n" not in message
    assert not conn.in_transaction
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == LATEST
    conn.close()
    assert schema_of(db_path) == before  # no half_done table
    with DatabaseService(db_path) as svc:
        assert [p.name for p in svc.get_projects()] == ["keep me"]


def test_failure_midway_keeps_the_steps_before_it(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = connect(path)
    migrate(conn, path, target=1)
    steps = [MIGRATIONS[0], MIGRATIONS[1], Migration("broken", _broken), *MIGRATIONS[3:]]
    with pytest.raises(MigrationError, match=r"migration 3 \(broken\) failed: .*still at version 2$"):
        migrate(conn, path, migrations=steps)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    with DatabaseService(path) as svc:  # the real migrations finish the job
        assert svc.applied_migrations == [m.name for m in MIGRATIONS[2:]]


def test_service_open_reports_a_failing_migration(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nerv.db.migrations as migrations

    DatabaseService(db_path).close()
    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS, Migration("broken", _broken)])
    with pytest.raises(MigrationError, match="still at version"):
        DatabaseService(db_path)


# -- too new --------------------------------------------------------------------------


def _make_too_new(path: Path, journal_mode: str) -> None:
    DatabaseService(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST + 7}")
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.close()


@pytest.mark.parametrize("journal_mode", ["WAL", "DELETE"])
def test_a_newer_database_is_refused_and_left_untouched(db_path: Path, journal_mode: str) -> None:
    _make_too_new(db_path, journal_mode)
    digest = sha256(db_path)
    listing = sorted(p.name for p in db_path.parent.iterdir())
    with pytest.raises(SchemaTooNewError) as info:
        DatabaseService(db_path)
    message = str(info.value)
    assert f"schema version {LATEST + 7}, newer than this nerv understands ({LATEST})" in message
    assert "\n" not in message
    assert isinstance(info.value, DatabaseError)
    assert sha256(db_path) == digest
    assert sorted(p.name for p in db_path.parent.iterdir()) == listing
    # migrate() on its own refuses too, before taking any lock.
    conn = sqlite3.connect(db_path)
    with pytest.raises(SchemaTooNewError):
        migrate(conn, db_path)
    conn.close()
    assert sha256(db_path) == digest


# -- cost of an up-to-date open --------------------------------------------------------


def test_up_to_date_open_costs_one_pragma_read(db_path: Path) -> None:
    DatabaseService(db_path).close()
    conn = connect(db_path)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert migrate(conn, db_path) == []
    conn.set_trace_callback(None)
    conn.close()
    assert statements == ["PRAGMA user_version"]


# -- backups --------------------------------------------------------------------------


def test_upgrade_with_data_takes_an_online_backup(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = connect(path)
    migrate(conn, path, target=2)
    make_fixtures.insert_rows(conn, 2)
    conn.close()
    with DatabaseService(path) as svc:
        assert len(svc.applied_migrations) == LATEST - 2
    [backup] = backups(path)
    assert backup.name.startswith(f"state.db.v2-before-v{LATEST}.")
    assert backup.stat().st_mode & 0o777 == 0o600
    copy = sqlite3.connect(backup)
    assert copy.execute("PRAGMA user_version").fetchone()[0] == 2
    assert copy.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()


def test_backup_can_be_turned_off(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    conn = connect(path)
    migrate(conn, path, target=1)
    make_fixtures.insert_rows(conn, 1)
    migrate(conn, path, backup=False)
    conn.close()
    assert backups(path) == []


# -- a race of fresh opens ---------------------------------------------------------------


def test_concurrent_fresh_opens_migrate_exactly_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "state.db"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(path), str(barrier), str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(barrier.glob("ready-*"))) < 8:
            assert all(p.poll() is None for p in procs), "a worker died before the barrier"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        (barrier / "go").touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    reports = []
    for (out, err), proc in zip(outputs, procs, strict=True):
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert [r["error"] for r in reports] == [None] * 8
    applied = [name for r in reports for name in r["applied"]]
    assert sorted(applied) == sorted(m.name for m in MIGRATIONS)  # each exactly once, in total
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(i + 1, m.name) for i, m in enumerate(MIGRATIONS)]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
    assert conn.execute("SELECT count(*) FROM projects").fetchone()[0] == 8
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    assert backups(path) == []
