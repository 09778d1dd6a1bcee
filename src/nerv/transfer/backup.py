"""Online backups, retention and restore.

Backup uses SQLite's backup API from inside one read transaction on the live
database: in WAL mode that pins a snapshot, so the copy is exactly the state
committed when the backup began, however busy the writers are, and they are
never blocked. The copy goes to a private temporary file in the destination
folder, is switched to a standalone (rollback-journal) file, passes
``PRAGMA integrity_check``, is fsynced and only then renamed into place.

Restore never moves files under a live database: it copies the backup into a
staging file, checks (and if need be migrates) that, keeps a safety copy of
the current state, and then writes the staging database *into* the live one
through the backup API. That is an ordinary SQLite write transaction, so the
-wal and -shm files stay consistent and other processes that have the
database open simply see the new content. Only when the live file is too
damaged to be opened as a database are the files replaced on disk.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nerv.db.connection import connect
from nerv.db.migrations import latest_version, migrate
from nerv.errors import DatabaseError, MissingFileError, NervError, SchemaTooNewError, ValidationError
from nerv.transfer.errors import BusyError, CheckFailedError
from nerv.transfer.files import (
    create_private,
    make_private_dir,
    publish,
    remove_db_files,
    remove_quietly,
    remove_stale,
    temp_name,
)
from nerv.transfer.progress import Progress, silent

BACKUP_DIR = "backups"
STEP_PAGES = 1024  # pages copied per backup step (progress granularity)
PROBE_TIMEOUT_MS = 300  # how long restore waits for another writer before refusing
STAMP_FORMAT = "%Y%m%d-%H%M%S"


@dataclass
class BackupResult:
    path: str
    bytes: int
    pages: int
    schema_version: int
    seconds: float
    removed: list[str] = field(default_factory=list)


@dataclass
class RestoreResult:
    path: str
    source: str
    backup_schema_version: int
    schema_version: int
    migrated: list[str]
    safety_copy: str | None
    seconds: float
    # "online": written into the live file through the backup API; "replace": the live file
    # was unreadable and was swapped on disk; "new": there was no database yet.
    method: str


# -- naming and retention ---------------------------------------------------------------


def default_backup_dir(db_path: Path, home: Path) -> Path:
    return home / BACKUP_DIR


def _stamp() -> str:
    return datetime.now(UTC).strftime(STAMP_FORMAT)


def _pattern(stem: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(stem)}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.db$")


def timestamped_name(folder: Path, stem: str, stamp: str | None = None) -> Path:
    """``{stem}-YYYYmmdd-HHMMSS[-N].db`` (UTC) that does not exist yet in ``folder``."""
    stamp = stamp or _stamp()
    candidate = folder / f"{stem}-{stamp}.db"
    n = 1
    while candidate.exists():
        candidate = folder / f"{stem}-{stamp}-{n}.db"
        n += 1
    return candidate


def nerv_backups(folder: Path, stem: str) -> list[Path]:
    """nerv's own timestamped backups of ``stem`` in ``folder``, oldest first."""
    pattern = _pattern(stem)
    found: list[tuple[str, int, Path]] = []
    if not folder.is_dir():
        return []
    for entry in folder.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_file():
            found.append((match.group(1), int(match.group(2) or 0), entry))
    return [p for _, _, p in sorted(found)]


def apply_retention(folder: Path, stem: str, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` timestamped backups; other files are never touched."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    backups = nerv_backups(folder, stem)
    doomed = backups[:-keep] if len(backups) > keep else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


# -- backup ----------------------------------------------------------------------------


def _copy_online(
    source: sqlite3.Connection, dest: Path, progress: Progress, label: str, *, check: bool = True
) -> int:
    """Copy the committed state of ``source`` into the new file ``dest``; returns the page count.

    The explicit read transaction pins one snapshot for the whole copy, so the
    step-by-step backup never restarts and never mixes two states.
    """
    target = sqlite3.connect(dest, isolation_level=None)
    try:
        source.execute("BEGIN")
        try:
            total = int(source.execute("PRAGMA page_count").fetchone()[0])
            with progress(label, max(total, 1)) as advance:
                done = [0]

                def step(_status: int, remaining: int, pages: int) -> None:
                    copied = pages - remaining
                    if copied > done[0]:
                        advance(copied - done[0])
                        done[0] = copied

                source.backup(target, pages=STEP_PAGES, progress=step)
        finally:
            if source.in_transaction:
                source.execute("COMMIT")
        # A standalone file: no -wal/-shm companions needed to read it.
        target.execute("PRAGMA journal_mode = DELETE")
        if check:
            _require_integrity(target, dest)
        return int(target.execute("PRAGMA page_count").fetchone()[0])
    finally:
        target.close()


def _require_integrity(conn: sqlite3.Connection, path: Path) -> None:
    try:
        rows = conn.execute("PRAGMA integrity_check(20)").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CheckFailedError(f"integrity check of {path} failed: {exc}") from None
    messages = [str(r[0]) for r in rows]
    if messages != ["ok"]:
        raise CheckFailedError(f"integrity check of {path} failed: {'; '.join(messages[:3])}")


def backup(
    db_path: Path,
    dest: Path | None = None,
    *,
    home: Path,
    keep: int | None = None,
    overwrite: bool = False,
    progress: Progress = silent,
) -> BackupResult:
    """Write a consistent, integrity-checked copy of ``db_path``.

    ``dest``: a file, an existing folder (a timestamped file goes in it) or
    None for ``$NERV_HOME/backups/``. ``keep`` prunes older timestamped backups
    of this database in the destination folder.
    """
    try:
        return _backup(db_path, dest, home, keep, overwrite, progress)
    except OSError as exc:
        raise DatabaseError(f"backup failed: {_os_reason(exc)}") from None


def _backup(
    db_path: Path, dest: Path | None, home: Path, keep: int | None, overwrite: bool, progress: Progress
) -> BackupResult:
    started = time.perf_counter()
    if not db_path.exists():
        raise DatabaseError(f"database not found: {db_path}")
    stem = db_path.stem
    if dest is None:
        folder = default_backup_dir(db_path, home)
        make_private_dir(folder)
        final = timestamped_name(folder, stem)
    elif dest.is_dir():
        final = timestamped_name(dest, stem)
    else:
        final = dest
        if not final.parent.is_dir():
            raise MissingFileError("backup folder", str(final.parent))
        if final.exists() and not overwrite:
            raise ValidationError(f"{final} already exists (use --force to replace it)")
    if final.resolve() == db_path.resolve():
        raise ValidationError("the backup cannot replace the database itself")
    source = connect(db_path, create=False)
    remove_stale(final.parent)  # what a killed backup left there
    temp = temp_name(final)
    try:
        version = int(source.execute("PRAGMA user_version").fetchone()[0])
        create_private(temp)
        pages = _copy_online(source, temp, progress, "backup")
        publish(temp, final)
    except sqlite3.Error as exc:
        remove_db_files(temp)
        raise DatabaseError(f"backup failed: {exc}") from None
    except BaseException:
        remove_db_files(temp)
        raise
    finally:
        source.close()
    removed = apply_retention(final.parent, stem, keep) if keep is not None else []
    return BackupResult(
        path=str(final),
        bytes=final.stat().st_size,
        pages=pages,
        schema_version=version,
        seconds=time.perf_counter() - started,
        removed=[str(p) for p in removed],
    )


# -- restore ---------------------------------------------------------------------------


def _open_backup(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise MissingFileError("backup", str(path))
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path} is not a usable SQLite database: {exc}") from None
    return conn


def _stage(backup_path: Path, db_path: Path, progress: Progress) -> tuple[Path, int, list[str]]:
    """Copy the backup next to the database, check it, migrate it; returns (staging, version, migrated)."""
    remove_stale(db_path.parent)  # a killed restore's staging copy is as large as the database
    staging = temp_name(db_path, "restore")
    source = _open_backup(backup_path)
    try:
        create_private(staging)
        try:
            _copy_online(source, staging, progress, "checking")
        except sqlite3.Error as exc:
            raise DatabaseError(f"{backup_path} cannot be read: {exc}") from None
        except CheckFailedError as exc:
            raise CheckFailedError(f"refusing to restore {backup_path}: {exc}") from None
    except BaseException:
        remove_db_files(staging)
        raise
    finally:
        source.close()
    try:
        conn = connect(staging, create=False)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            has_bookkeeping = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
            if version == 0 or not has_bookkeeping:
                raise DatabaseError(f"{backup_path} is not a nerv database (no schema version)")
            if version > latest_version():
                raise SchemaTooNewError(str(backup_path), version, latest_version())
            migrated = migrate(conn, staging, backup=False)
            violations = conn.execute("PRAGMA foreign_key_check").fetchall()
            if violations:
                first = violations[0]
                raise CheckFailedError(
                    f"refusing to restore {backup_path}: {len(violations)} broken reference(s), "
                    f"e.g. {first[0]} row {first[1]} -> {first[2]}"
                )
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except BaseException:
        remove_db_files(staging)
        raise
    return staging, version, migrated


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def restore(
    db_path: Path,
    backup_path: Path,
    *,
    home: Path,
    progress: Progress = silent,
    probe_timeout_ms: int = PROBE_TIMEOUT_MS,
) -> RestoreResult:
    """Replace the state in ``db_path`` by the (checked, migrated) content of ``backup_path``."""
    try:
        return _restore(db_path, backup_path, home, progress, probe_timeout_ms)
    except OSError as exc:
        raise DatabaseError(f"restore failed: {_os_reason(exc)}") from None


def _os_reason(exc: OSError) -> str:
    where = f": {exc.filename}" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


def _restore(
    db_path: Path, backup_path: Path, home: Path, progress: Progress, probe_timeout_ms: int
) -> RestoreResult:
    started = time.perf_counter()
    if db_path.exists() and backup_path.resolve() == db_path.resolve():
        raise ValidationError("cannot restore a database onto itself")
    if not backup_path.is_file():
        raise MissingFileError("backup", str(backup_path))
    make_private_dir(db_path.parent)
    staging, version, migrated = _stage(backup_path, db_path, progress)
    safety: Path | None = None
    try:
        if not db_path.exists():
            publish(staging, db_path)
            method = "new"
        else:
            safety_folder = default_backup_dir(db_path, home)
            make_private_dir(safety_folder)
            remove_stale(safety_folder)
            safety = timestamped_name(safety_folder, f"{db_path.stem}-pre-restore")
            try:
                live = connect(db_path, create=False, busy_timeout=probe_timeout_ms)
            except NervError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise BusyError(_busy_message(db_path)) from None
                method, safety = "replace", _replace_damaged(db_path, staging, safety)
            else:
                try:
                    method, safety = _restore_online(live, db_path, staging, safety, progress)
                finally:
                    live.close()
    finally:
        remove_db_files(staging)
    return RestoreResult(
        path=str(db_path),
        source=str(backup_path),
        backup_schema_version=version,
        schema_version=version + len(migrated),
        migrated=migrated,
        safety_copy=str(safety) if safety is not None else None,
        seconds=time.perf_counter() - started,
        method=method,
    )


def _busy_message(db_path: Path) -> str:
    return (
        f"another process is writing to {db_path} (it holds a write transaction); "
        "nothing was changed — retry when it has finished"
    )


def _restore_online(
    live: sqlite3.Connection, db_path: Path, staging: Path, safety: Path, progress: Progress
) -> tuple[str, Path]:
    try:
        live.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise BusyError(_busy_message(db_path)) from None
        raise DatabaseError(f"cannot restore into {db_path}: {exc}") from None
    except sqlite3.DatabaseError:
        return "replace", _replace_damaged(db_path, staging, safety)
    try:
        # Holding the write lock: nothing can commit between the safety copy and the swap.
        safety = _safety_copy(db_path, safety)
    except BaseException:
        live.execute("ROLLBACK")
        raise
    live.execute("ROLLBACK")
    live.execute("PRAGMA busy_timeout = 30000")
    source = sqlite3.connect(staging, isolation_level=None)
    try:
        with progress("restore", 1) as advance:
            source.backup(live)
            advance(1)
    except sqlite3.OperationalError as exc:
        raise DatabaseError(f"restore into {db_path} failed, the database is unchanged: {exc}") from None
    except sqlite3.DatabaseError:
        source.close()
        return "replace", _replace_damaged(db_path, staging, safety, copied=True)
    finally:
        source.close()
    with contextlib.suppress(sqlite3.Error):  # readers may keep the WAL busy: checkpointed later
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _require_integrity(live, db_path)
    return "online", safety


def _safety_copy(db_path: Path, safety: Path) -> Path:
    """A copy of the current state; named ``...-damaged.db`` when it fails the integrity check.

    Written under a temporary name and renamed once complete: a file named like a safety
    copy is never a half-written one.
    """
    reader = connect(db_path, create=False)
    temp = temp_name(safety)
    try:
        create_private(temp)
        try:
            _copy_online(reader, temp, silent, "safety copy", check=False)
        except sqlite3.DatabaseError:
            remove_db_files(temp)
            return _raw_copy(db_path, safety)
        check = sqlite3.connect(temp)
        try:
            _require_integrity(check, temp)
        except CheckFailedError:
            safety = safety.with_name(safety.stem + "-damaged.db")
        finally:
            check.close()
        publish(temp, safety)
    except BaseException:
        remove_db_files(temp)
        raise
    finally:
        reader.close()
    return safety


def _raw_copy(db_path: Path, safety: Path) -> Path:
    """Byte copy of the database file and its WAL (for a file SQLite cannot read)."""
    damaged = safety.with_name(safety.stem + "-damaged.db")
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():  # the WAL first: the main file's name is what says "finished"
        _copy_published(wal, damaged.with_name(damaged.name + "-wal"))
    _copy_published(db_path, damaged)
    return damaged


def _copy_published(source: Path, final: Path) -> None:
    temp = temp_name(final)
    try:
        create_private(temp)
        shutil.copyfile(source, temp)
        publish(temp, final)
    except BaseException:
        remove_quietly(temp)
        raise


def _replace_damaged(db_path: Path, staging: Path, safety: Path, *, copied: bool = False) -> Path:
    """The live file is not a usable database: keep its bytes, put the staging file in its place."""
    if not copied:
        safety = _raw_copy(db_path, safety)
    for suffix in ("-wal", "-shm"):
        db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
    publish(staging, db_path)
    return safety
