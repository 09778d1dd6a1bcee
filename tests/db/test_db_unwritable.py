"""Read-only and full file systems, missing folders, loose permissions (issue 9, faults 8 and 10).

The read-only and full file systems are real: a small tmpfs mounted in a private mount
namespace (``unshare -m``), so nothing leaks out of the test and the kernel, not a mock,
refuses the writes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService
from nerv.transfer.export import export as run_export


def _can_mount() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        [unshare, "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


needs_mount = pytest.mark.skipif(not _can_mount(), reason="needs root and mount namespaces (unshare -m)")


def _in_mount(
    tmp_path: Path, home: Path, script: str, *, size_kib: int, ro: bool = False
) -> list[dict[str, Any]]:
    """Copy ``home`` onto a fresh tmpfs at ``tmp_path/mnt``, make it read-only or full, run
    ``script`` (lines of ``nerv`` arguments) there; returns one result per line."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    runner = tmp_path / "runner.py"
    runner.write_text(
        "import json, shlex, subprocess, sys\n"
        "out = []\n"
        "for line in sys.stdin.read().splitlines():\n"
        "    cmd = [sys.executable, '-m', 'nerv', *shlex.split(line)]\n"
        "    p = subprocess.run(cmd, capture_output=True, text=True)\n"
        "    out.append({'args': line, 'rc': p.returncode, 'stdout': p.stdout, 'stderr': p.stderr})\n"
        "print(json.dumps(out))\n"
    )
    fill = f"(dd if=/dev/zero of={mnt}/fill bs=4k; dd if=/dev/zero of={mnt}/fill2 bs=512) 2>/dev/null || true"
    make_unwritable = f"mount -o remount,ro {mnt}" if ro else fill
    shell = (
        f"set -e; mount -t tmpfs -o size={size_kib}k tmpfs {mnt}; cp -a {home} {mnt}/home; "
        f"{make_unwritable}; NERV_HOME={mnt}/home {sys.executable} {runner}"
    )
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", shell], input=script, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    results: list[dict[str, Any]] = json.loads(proc.stdout)
    return results


def _one_line_error(result: dict[str, Any], code: int, *fragments: str) -> None:
    assert result["rc"] == code, result
    assert "Traceback" not in result["stderr"] and "internal error" not in result["stderr"], result
    lines = result["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("nerv: error: "), result
    for fragment in fragments:
        assert fragment in lines[0], result


@pytest.fixture
def filled_home(nerv_home: Path, db_path: Path, tmp_path: Path) -> dict[str, Any]:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("alpha")
        svc.create_task(project.id, "first task")
        svc.create_request("Bash", {"command": "ls"}, project_id=project.id)
        export = tmp_path / "more.json"
        svc.create_task(project.id, "only in the export")
        with export.open("w", encoding="utf-8") as out:
            run_export(svc.connection, out)
        task = next(t for t in svc.get_tasks(project.id) if t.title == "only in the export")
        svc.delete_task(task.id)
    nested = tmp_path / "nested.json"
    nested.write_text(_nested_export(), encoding="utf-8")
    return {"export": export, "nested": nested}


def _nested_export() -> str:
    head = {"format": "nerv-export", "version": 1, "schema_version": 1, "exported_at": 1}
    deep = "[" * 200_000 + "]" * 200_000
    return json.dumps(head) + "\n" + '{"table":"projects","row":{"id":"p","name":' + deep + "}}\n"


# -- read-only commands create nothing ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("status",), 0),
        (("task", "list"), 3),  # no project yet: said so, as on a new database
        (("approvals", "list"), 0),
        (("rules", "list"), 0),
        (("export",), 0),
        (("db", "check"), 5),
        (("db", "version"), 0),
    ],
)
def test_a_read_command_never_creates_the_database_or_its_folder(
    args: tuple[str, ...], code: int, tmp_path: Path, run_cli: Any
) -> None:
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    result = run_cli("--db", str(missing), *args)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert not missing.parent.parent.exists()


def test_a_write_command_still_creates_the_database(tmp_path: Path, run_cli: Any) -> None:
    path = tmp_path / "new" / "x.db"
    run_cli("--db", str(path), "project", "create", "p", check=True)
    assert path.exists() and (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700


# -- permissions (fault 10) ----------------------------------------------------------------------


def test_a_loose_home_and_database_are_reported_then_tightened(
    nerv_home: Path, db_path: Path, run_cli: Any
) -> None:
    DatabaseService(db_path).close()
    nerv_home.chmod(0o755)
    db_path.chmod(0o644)
    report = run_cli("db", "check", "--json").json()
    loose = report["warnings"]
    assert any(w.startswith(f"{db_path} is 0644") for w in loose), loose
    assert any(w.startswith(f"{nerv_home} is 0755") for w in loose), loose
    run_cli("task", "list", "--project", "x")  # any command that opens the database
    assert nerv_home.stat().st_mode & 0o777 == 0o700
    assert db_path.stat().st_mode & 0o777 == 0o600
    report = run_cli("db", "check", "--json").json()
    assert not [w for w in report["warnings"] if "0644" in w or "0755" in w]


def test_a_folder_given_with_db_is_not_chmodded(tmp_path: Path, run_cli: Any) -> None:
    shared = tmp_path / "user-folder"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    run_cli("--db", str(shared / "x.db"), "project", "create", "p", check=True)
    assert shared.stat().st_mode & 0o777 == 0o755  # not nerv's folder: left alone
    assert (shared / "x.db").stat().st_mode & 0o777 == 0o600


# -- deeply nested JSON (fault 8) ---------------------------------------------------------------


def test_deeply_nested_json_is_a_clear_error(filled_home: dict[str, Any], run_cli: Any) -> None:
    result = run_cli("import", str(filled_home["nested"]))
    _one_line_error(vars(result) | {"rc": result.returncode}, 2, "nested too deeply", "line 2")


# -- a read-only file system --------------------------------------------------------------------


@needs_mount
def test_read_only_file_system(filled_home: dict[str, Any], nerv_home: Path, tmp_path: Path) -> None:
    export, ro_target = filled_home["export"], tmp_path / "mnt" / "out.json"
    results = _in_mount(
        tmp_path,
        nerv_home,
        "\n".join(
            [
                "status",
                "task list --json",
                "approvals list",
                "db check --json",
                'task create "new task"',
                f"import {export}",
                "db vacuum",
                f"export -o {ro_target}",
            ]
        ),
        size_kib=4096,
        ro=True,
    )
    status, tasks, approvals, check, create, imported, vacuum, exported = results
    for read in (status, approvals):
        assert read["rc"] == 0 and read["stderr"] == "", read
    assert [t["title"] for t in json.loads(tasks["stdout"])] == ["first task"]
    assert json.loads(check["stdout"])["ok"] is True, check
    _one_line_error(create, 5, "read-only")
    _one_line_error(imported, 5, "read-only", "nothing was imported")
    _one_line_error(vacuum, 5, "read-only")
    _one_line_error(exported, 1, "cannot write", "Read-only file system", "nothing was written")


# -- a full disk --------------------------------------------------------------------------------


@needs_mount
def test_full_disk(filled_home: dict[str, Any], nerv_home: Path, tmp_path: Path) -> None:
    export, target = filled_home["export"], tmp_path / "mnt" / "out.json"
    results = _in_mount(
        tmp_path,
        nerv_home,
        "\n".join(
            [
                "status",
                "task list --json",
                'task create "new task"',
                f"import {export}",
                "task list --json",
                f"export -o {target}",
            ]
        ),
        size_kib=2048,
    )
    status, tasks, create, imported, after, exported = results
    assert status["rc"] == 0 and status["stderr"] == "", status
    assert [t["title"] for t in json.loads(tasks["stdout"])] == ["first task"]
    _one_line_error(create, 5, "disk", "full")
    _one_line_error(imported, 5, "disk", "full", "nothing was imported")
    assert json.loads(after["stdout"]) == json.loads(tasks["stdout"])  # nothing half-written
    _one_line_error(exported, 1, "cannot write", "No space left", "nothing was written")
