"""The README's exit codes, for the mistakes users make first: 2 for a bad value (a missing file
included), 3 only for an unknown or ambiguous id; messages name things, never tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_helpers import assert_error

from nerv import DatabaseService

TABLE_NAMES = ("approval_request", "claude_sessions", "project_repos", "approval_rules", "audit_log")


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["restore", "{tmp}/missing.db"], 2, "backup not found"),
        (["backup", "{tmp}/no/such/folder/b.db"], 2, "backup folder not found"),
        (["rules", "import-claude", "{tmp}/settings.json"], 2, "settings file not found"),
        (["usage", "ingest", "{tmp}/nope"], 2, "path not found"),
        (["repo", "add", "{tmp}/does/not/exist"], 2, "no such folder"),
        (["settings", "set", "approval.mod", "queue"], 2, "did you mean approval.mode?"),
        (["settings", "set", "approval.timeout_seconds", "-1"], 2, "invalid value"),
        (["approvals", "show", "zzzz"], 3, "approval request not found: zzzz"),
        (["approvals", "approve", "zzzz"], 3, "approval request not found: zzzz"),
        (["task", "show", "zzzz"], 3, "task not found: zzzz"),
        (["cycle", "delete", "zzzz"], 3, "cycle not found: zzzz"),
        (["decision", "delete", "zzzz"], 3, "decision not found: zzzz"),
        (["project", "delete", "zzzz", "--cascade", "--yes"], 3, "project not found: zzzz"),
    ],
)
def test_exit_codes(
    invoke: Any, service: DatabaseService, tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    service.create_project("p")
    line = assert_error(invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args]), code, fragment)
    assert not any(name in line for name in TABLE_NAMES), line


def test_a_duplicate_names_the_entity_not_the_table(
    invoke: Any, service: DatabaseService, tmp_path: Path
) -> None:
    service.create_project("p")
    invoke("repo", "add", str(tmp_path), "--branch", "main")
    line = assert_error(invoke("repo", "add", str(tmp_path), "--branch", "main"), 4, "repo already exists")
    assert not any(name in line for name in TABLE_NAMES), line


def test_the_store_names_tables_as_the_service_does() -> None:
    """Duplicate messages come from the write core, which cannot import the service's table specs."""
    from nerv.errors import shown_entity
    from nerv.service.tables import BY_ENTITY
    from nerv.store.tx import ENTITY_OF_TABLE

    assert {spec.table: shown_entity(spec.entity) for spec in BY_ENTITY.values()} == ENTITY_OF_TABLE


def _id_commands() -> list[list[str]]:
    """Every leaf command whose first argument is an id, found by walking the CLI."""
    import click

    from nerv.cli.main import cli

    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))
            return
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if arguments and (arguments[0].metavar == "ID" or arguments[0].name == "ident"):
            found.append(path)

    walk(cli, [], click.Context(cli, info_name="nerv"))
    return found


# What else a command needs so that only the unknown id can be wrong.
EXTRA_ARGS = {
    "task move": ["done"],
    "task update": ["--title", "x"],
    "decision supersede": ["--by", "zzzz"],
    "decision update": ["--title", "x"],
    "project update": ["--name", "x"],
    "project delete": ["--yes"],
}


@pytest.mark.parametrize("path", _id_commands(), ids=" ".join)
def test_every_unknown_id_is_exit_3_naming_the_entity(
    invoke: Any, service: DatabaseService, path: list[str]
) -> None:
    service.create_project("p")
    line = assert_error(invoke(*path, "zzzz", *EXTRA_ARGS.get(" ".join(path), [])), 3, "not found: zzzz")
    assert not any(name in line for name in TABLE_NAMES), line


def test_the_id_sweep_sees_the_id_commands() -> None:
    paths = {" ".join(p) for p in _id_commands()}
    assert {"approvals show", "cycle delete", "decision delete", "project delete", "task move"} <= paths
    assert len(paths) >= 20
