"""nerv db ...: schema version, migrations and maintenance of the database file."""

from __future__ import annotations

from typing import Any

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import echo, emit_json, fields, fmt_time, json_option, table


@click.group()
def db() -> None:
    """Schema version, migrations and database maintenance."""


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


@db.command("version")
@json_option
@pass_app
def version(app: AppContext, as_json: bool) -> None:
    """The database's schema version, the latest this nerv knows, and the migrations."""
    from nerv.db.migrations import MIGRATIONS, latest_version, schema_status

    path = app.path
    exists, version_found, applied = schema_status(path)
    info: dict[str, Any] = {
        "path": str(path),
        "exists": exists,
        "schema_version": version_found,
        "latest_version": latest_version(),
        "applied": [{"version": v, "name": n, "applied_at": at} for v, n, at in applied],
    }
    current = info["schema_version"]
    info["pending"] = [
        {"version": i + 1, "name": m.name} for i, m in enumerate(MIGRATIONS) if i + 1 > current
    ]
    if as_json:
        emit_json(info)
        return
    latest = info["latest_version"]
    if current > latest:
        state = "newer than this nerv: upgrade nerv"
    elif not info["exists"]:
        state = "no database yet (created on first use)"
    elif current == latest:
        state = "up to date"
    else:
        state = f"{latest - current} migration(s) pending: run `nerv db migrate`"
    echo(f"schema version {current} (latest {latest}): {state}")
    rows = [[a["version"], a["name"], fmt_time(a["applied_at"])] for a in info["applied"]]
    rows += [[p["version"], p["name"], "pending"] for p in info["pending"]]
    if rows:
        table(["version", "migration", "applied"], rows)


@db.command("migrate")
@json_option
@pass_app
def migrate_cmd(app: AppContext, as_json: bool) -> None:
    """Apply pending migrations (a database holding data is backed up next to it first)."""
    from nerv.db.migrations import migrate_path

    path = app.path
    before, applied, after = migrate_path(path)
    if as_json:
        emit_json({"path": str(path), "from_version": before, "to_version": after, "applied": applied})
    elif applied:
        echo(f"migrated {path} from version {before} to {after}: {', '.join(applied)}")
    else:
        echo(f"{path} is up to date (schema version {after})")


@db.command("checkpoint")
@click.option(
    "--mode",
    type=click.Choice(["passive", "full", "restart", "truncate"]),
    default="passive",
    show_default=True,
    help="passive never waits; full waits for writers; restart and truncate also wait for readers "
    "(truncate empties the -wal file).",
)
@json_option
@pass_app
def checkpoint_cmd(app: AppContext, mode: str, as_json: bool) -> None:
    """Copy the write-ahead log back into the database file (PRAGMA wal_checkpoint)."""
    from nerv.transfer.checks import checkpoint
    from nerv.transfer.errors import BusyError

    result = checkpoint(app.path, mode)
    if as_json:
        emit_json({**vars(result), "complete": result.complete})
    else:
        state = "complete" if result.complete else "incomplete (other connections were busy)"
        echo(
            f"checkpoint {mode}: {result.checkpointed_frames}/{result.wal_frames} WAL frames, {state}; "
            f"WAL {_mib(result.wal_bytes_before)} -> {_mib(result.wal_bytes_after)}"
        )
    if result.busy and mode != "passive":
        raise BusyError(f"checkpoint {mode} could not finish: other connections kept the database busy")


@db.command("check")
@click.option("--quick", is_flag=True, help="PRAGMA quick_check instead of the full integrity_check.")
@json_option
@pass_app
def check_cmd(app: AppContext, quick: bool, as_json: bool) -> None:
    """Integrity check, foreign-key check, schema version and WAL size; non-zero exit on any problem."""
    from nerv.transfer.checks import check_database
    from nerv.transfer.errors import CheckFailedError

    report = check_database(app.path, quick=quick)
    if as_json:
        emit_json(report)
    else:
        fields(
            [
                ("database", report.path),
                ("integrity", ", ".join(report.integrity[:3]) or "-"),
                (
                    "foreign keys",
                    "ok" if not report.foreign_key_violations else report.foreign_key_violations,
                ),
                ("schema", f"{report.schema_version} (latest {report.latest_version})"),
                ("journal", report.journal_mode),
                ("size", f"{_mib(report.db_bytes)} + WAL {_mib(report.wal_bytes)}"),
            ]
        )
        for warning in report.warnings:
            echo(f"warning: {warning}")
        for problem in report.problems:
            echo(f"problem: {problem}")
        if report.ok:
            echo("ok")
    if not report.ok:
        more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise CheckFailedError(f"database check failed: {report.problems[0]}{more}")


@db.command("vacuum")
@json_option
@pass_app
def vacuum_cmd(app: AppContext, as_json: bool) -> None:
    """Rebuild the database file compactly (waits for other writers)."""
    from nerv.transfer.checks import vacuum

    result = vacuum(app.path)
    if as_json:
        emit_json(result)
    else:
        echo(f"vacuumed {result.path}: {_mib(result.bytes_before)} -> {_mib(result.bytes_after)}")
