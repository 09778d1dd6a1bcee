"""Every command's --help reads well: whole first sentences, no reST markup, true summaries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import click
import pytest
from cli_helpers import ok

from nerv.cli.main import ABBREVIATIONS, COMMANDS, cli, first_sentence

WIDTH = 80  # what click uses on a terminal this wide or wider


def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, click.Command, click.Context]]:
    yield ctx.command_path, command, ctx
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))


def every_command() -> list[tuple[str, click.Command, click.Context]]:
    root = click.Context(cli, info_name="nerv", terminal_width=WIDTH, max_content_width=WIDTH)
    return list(walk(cli, root))


ALL = every_command()


def command_rows(help_text: str) -> dict[str, str]:
    """The "Commands:" section of a group's help: name -> its summary (wrapped lines joined)."""
    section = help_text.split("\nCommands:\n", 1)[1]
    rows: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        match = re.match(r"^  (\S+)\s+(.*)$", line)
        if match:
            name = match.group(1)
            rows[name] = match.group(2).strip()
        elif line.strip():
            rows[name] += " " + line.strip()
    return rows


def test_the_walk_sees_every_command() -> None:
    paths = {path for path, _, _ in ALL}
    assert {f"nerv {name}" for name in COMMANDS} <= paths
    assert {"nerv rules add", "nerv hooks status", "nerv usage report", "nerv db check"} <= paths
    assert len(paths) > 60


@pytest.mark.parametrize(("path", "command", "ctx"), ALL, ids=[p for p, _, _ in ALL])
def test_help_text(path: str, command: click.Command, ctx: click.Context) -> None:
    text = command.get_help(ctx)
    assert command.help and command.help.strip(), f"{path} has no help"
    assert "``" not in text, f"{path} --help shows reST markup"
    summary = first_sentence(command.help)
    assert summary.endswith((".", ".)")), f"{path}: first sentence {summary!r} does not end"
    assert not summary.lower().endswith(ABBREVIATIONS), summary
    if isinstance(command, click.Group):
        rows = command_rows(text)
        assert set(rows) == set(command.list_commands(ctx))
        for name, row in rows.items():
            assert not row.endswith("..."), f"{path} --help cuts {name}: {row!r}"
            assert not row.lower().endswith(ABBREVIATIONS), f"{path} --help cuts {name}: {row!r}"


def test_first_sentence() -> None:
    assert first_sentence('Add RULE, e.g. "Bash(npm test:*)" --allow.\n\nMore.') == (
        'Add RULE, e.g. "Bash(npm test:*)" --allow.'
    )
    assert first_sentence("Expire requests (e.g. after a crash). Then more.") == (
        "Expire requests (e.g. after a crash)."
    )
    assert first_sentence("\b\nNo full stop here") == "No full stop here"


def test_root_summaries_name_real_subcommands() -> None:
    """A root line that lists verbs ("rules: add, list, ...") lists commands that exist."""
    root = click.Context(cli, info_name="nerv")
    for name, (_, summary) in COMMANDS.items():
        command = cli.get_command(root, name)
        if not isinstance(command, click.Group) or ":" not in summary:
            continue
        names = command.list_commands(click.Context(command, info_name=name, parent=root))
        verbs = re.split(r",\s*|\s+and\s+", summary.split(":", 1)[1].strip().rstrip("."))
        for verb in verbs:
            assert any(n.startswith(verb) or verb.startswith(n) for n in names), (name, verb, names)


def test_help_in_a_subprocess(run_cli: Any) -> None:
    root = ok(run_cli("--help")).stdout
    hooks_line = next(line for line in root.splitlines() if line.strip().startswith("hooks"))
    assert "status" in hooks_line and "check" not in hooks_line
    rules = ok(run_cli("rules", "--help")).stdout
    assert 'add            Add RULE, e.g. "Bash(npm test:*)" --allow.' in rules
    web = ok(run_cli("web", "--help")).stdout
    assert '"nerv dashboard: URL"' in web and "``" not in web
