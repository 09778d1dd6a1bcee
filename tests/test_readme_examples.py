"""The README's examples pass ids as placeholders that read as such (TASK_ID), never as ids that
look real and would fail with "not found" when pasted."""

from __future__ import annotations

import re
import shlex

import click

from fixture_paths import REPO_ROOT
from nerv.cli.main import cli


def _id_commands() -> set[str]:
    """'group command' for every command whose first argument is an id."""
    found: set[str] = set()

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                walk(sub, [*path, name], click.Context(sub, info_name=name, parent=ctx))
            return
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if arguments and (arguments[0].metavar == "ID" or arguments[0].name == "ident"):
            found.add(" ".join(path))

    walk(cli, [], click.Context(cli, info_name="nerv"))
    return found


def _example_lines() -> list[list[str]]:
    text = (REPO_ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words[:1] == ["nerv"]:
                lines.append(words[1:])
    return lines


def test_example_ids_are_placeholders() -> None:
    id_commands = _id_commands()
    checked = []
    for words in _example_lines():
        if len(words) >= 3 and f"{words[0]} {words[1]}" in id_commands:
            checked.append(words)
            assert re.fullmatch(r"[A-Z][A-Z_]*", words[2]), f"nerv {' '.join(words)}: use a placeholder id"
    assert len(checked) >= 3  # the README shows id commands; the check above saw them


def test_a_real_looking_id_would_be_caught() -> None:
    assert not re.fullmatch(r"[A-Z][A-Z_]*", "3fq") and re.fullmatch(r"[A-Z][A-Z_]*", "TASK_ID")
