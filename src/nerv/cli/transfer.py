"""nerv backup / restore / export / import."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import echo, emit_json, json_option, table
from nerv.transfer.progress import Advance, Progress, silent

quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary.")


def progress_for(quiet: bool, as_json: bool) -> Progress:
    """A progress bar on stderr when it is a terminal; silence otherwise."""
    if quiet or as_json or not sys.stderr.isatty():
        return silent

    @contextmanager
    def bar(label: str, total: int) -> Iterator[Advance]:
        with click.progressbar(length=total, label=label.ljust(9), file=sys.stderr, show_eta=True) as shown:
            yield shown.update

    return bar


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


# -- backup / restore ----------------------------------------------------------------------


@click.command()
@click.argument("dest", required=False, type=click.Path(path_type=Path))
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    metavar="N",
    help="Keep only the newest N timestamped backups there.",
)
@click.option("--force", is_flag=True, help="Replace DEST if it is an existing file.")
@quiet_option
@json_option
@pass_app
def backup(
    app: AppContext, dest: Path | None, keep: int | None, force: bool, quiet: bool, as_json: bool
) -> None:
    """Online, integrity-checked copy of the database.

    DEST is a file or a folder; by default a timestamped file
    ($NERV_HOME/backups/state-YYYYmmdd-HHMMSS.db, UTC). Safe while other
    processes keep writing: the copy is the state committed when it began.
    """
    from nerv import env
    from nerv.transfer.backup import backup as run_backup

    result = run_backup(
        app.path,
        dest.expanduser() if dest else None,
        home=env.nerv_home(),
        keep=keep,
        overwrite=force,
        progress=progress_for(quiet, as_json),
    )
    if as_json:
        emit_json(result)
    elif not quiet:
        echo(f"backup written: {result.path} ({_mib(result.bytes)}, schema v{result.schema_version})")
        for removed in result.removed:
            echo(f"removed old backup: {removed}")


@click.command()
@click.argument("backup_file", metavar="BACKUP", type=click.Path(path_type=Path, dir_okay=False))
@quiet_option
@json_option
@pass_app
def restore(app: AppContext, backup_file: Path, quiet: bool, as_json: bool) -> None:
    """Replace the database by a backup (checked, migrated; a safety copy is kept).

    Refused while another process holds a write transaction on the database.
    """
    from nerv import env
    from nerv.transfer.backup import restore as run_restore

    result = run_restore(
        app.path, backup_file.expanduser(), home=env.nerv_home(), progress=progress_for(quiet, as_json)
    )
    if as_json:
        emit_json(result)
    elif not quiet:
        migrated = (
            f", migrated v{result.backup_schema_version} -> v{result.schema_version}"
            if result.migrated
            else ""
        )
        echo(f"restored {result.path} from {result.source}{migrated}")
        if result.safety_copy:
            echo(f"the previous state was kept in {result.safety_copy}")


# -- export / import --------------------------------------------------------------------------


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "ndjson"]),
    help="Document layout (default: from the -o file name, else json).",
)
@click.option("--project", "project", metavar="ID", help="Only this project and what hangs off it.")
@click.option(
    "-o", "--output", type=click.Path(path_type=Path, dir_okay=False), help="Write to FILE, not stdout."
)
@quiet_option
@json_option
@pass_app
def export(
    app: AppContext, fmt: str | None, project: str | None, output: Path | None, quiet: bool, as_json: bool
) -> None:
    """Export every table (audit log, rules, settings, metrics...) as a versioned document.

    Deterministic and streamed: tables in a fixed order, rows by id. With -o the
    file appears only once complete (mode 0600).
    """
    from nerv.service.tables import PROJECTS
    from nerv.transfer.export import export as run_export
    from nerv.transfer.files import atomic_path

    service = app.service()
    project_id = service.resolve_id(PROJECTS, project) if project else None
    if fmt is None:
        fmt = "ndjson" if output is not None and output.suffix in (".ndjson", ".jsonl") else "json"
    progress = progress_for(quiet, as_json)
    if output is None:
        with _stdout_utf8() as out:
            run_export(service.connection, out, fmt=fmt, project_id=project_id, progress=progress)
        return
    output = output.expanduser()
    if service.path is not None and output.resolve() == service.path.resolve():
        raise click.UsageError("the export file cannot be the database itself")
    try:
        with (
            atomic_path(output) as temp,
            temp.open("w", encoding="utf-8", newline="\n", buffering=1 << 20) as out,
        ):
            summary = run_export(service.connection, out, fmt=fmt, project_id=project_id, progress=progress)
    except OSError as exc:  # a read-only folder, a full disk: no partial file is left behind
        from nerv.errors import NervError

        raise NervError(f"cannot write {output}: {exc.strerror or exc}; nothing was written") from None
    size = output.stat().st_size
    if as_json:
        emit_json(
            {
                "path": str(output),
                "format": fmt,
                "bytes": size,
                "schema_version": summary.schema_version,
                "exported_at": summary.exported_at,
                "project": project_id,
                "rows": summary.rows,
            }
        )
    elif not quiet:
        echo(
            f"exported {summary.total_rows} rows from {len(summary.rows)} tables to {output} ({_mib(size)})"
        )


@contextmanager
def _stdout_utf8() -> Iterator[TextIO]:
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # stdout replaced by a text stream (tests, embedding)
        yield sys.stdout
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(buffer, encoding="utf-8", newline="\n", write_through=False)
    try:
        yield out
    finally:
        out.flush()
        out.detach()


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report what would change; change nothing.")
@click.option(
    "--on-conflict",
    type=click.Choice(["fail", "skip", "overwrite"]),
    default="fail",
    show_default=True,
    help="A record whose id exists with different content: refuse the import, keep ours, or take the file's.",
)
@quiet_option
@json_option
@pass_app
def import_(app: AppContext, file: Path, dry_run: bool, on_conflict: str, quiet: bool, as_json: bool) -> None:
    """Merge an export file into the database, all or nothing.

    The whole file is validated first. Records are matched by id: new ones are
    added with their ids, statuses and timestamps; identical ones are left
    alone (importing a file twice changes nothing); differing ones are
    conflicts. Files of older nerv versions are accepted.
    """
    from nerv.transfer.importer import import_file

    result = import_file(
        app.service(), file, on_conflict=on_conflict, dry_run=dry_run, progress=progress_for(quiet, as_json)
    )
    for warning in result.warnings:  # even with --quiet / --json: they are about what agents may do
        echo(f"nerv: warning: {warning}", err=True)
    if as_json:
        emit_json(result.as_dict())
        return
    if quiet:
        return
    verb = "would change" if dry_run else "imported"
    if not result.changed:
        echo(
            f"nothing to change: {result.unchanged} of {result.records} records already present"
            + (f", {result.skipped} conflicting records skipped" if result.skipped else "")
        )
        return
    echo(
        f"{verb} {file.name}: {result.inserted} inserted, {result.updated} updated, "
        f"{result.skipped} skipped, {result.unchanged} unchanged"
    )
    table(
        ["table", "inserted", "updated", "skipped", "unchanged"],
        [
            [name, c.inserted, c.updated, c.skipped, c.unchanged]
            for name, c in result.tables.items()
            if c.inserted or c.updated or c.skipped
        ],
    )
