"""Entry point and lazy command registry.

Subcommand modules are imported only when that subcommand runs, so
``nerv --help`` and the hot paths stay fast (measured in docs/performance.md).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from nerv import __version__, env
from nerv.cli.context import AppContext

# name -> "module:attribute" (module relative to nerv.cli), and a one-line help
# shown by --help without importing the module.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("setup:init", "Create (or migrate) the database and show where it lives."),
    "paths": ("setup:paths", "Show the files and folders nerv uses."),
    "status": ("setup:status", "Summary of the current project: tasks, sessions, cost."),
    "demo": ("setup:demo", "Create a demo project with tasks and print its board (--remove: delete it)."),
    "project": ("project:project", "Create, list, show, choose and delete projects."),
    "repo": ("repo:repo", "Repositories that belong to a project."),
    "task": ("task:task", "Kanban tasks: create, list, board, move, update."),
    "cycle": ("cycle:cycle", "Numbered development cycles."),
    "session": ("session:session", "Agent sessions and their token/cost totals."),
    "decision": ("decision:decision", "Architecture decision records (ADRs)."),
    "audit": ("audit:audit", "The append-only log of every state change."),
    "settings": ("settings:settings", "Get, set and unset settings (global or per project)."),
    "usage": ("usage:usage", "Claude Code token usage and cost: ingest, report, assign, prices, budgets."),
    "db": ("db:db", "Schema version, migrations and database maintenance."),
    "backup": ("transfer:backup", "Online, integrity-checked backup of the database."),
    "restore": ("transfer:restore", "Replace the database by a backup (a safety copy is kept)."),
    "export": ("transfer:export", "Export every table as a versioned JSON / NDJSON document."),
    "import": ("transfer:import_", "Merge an export file into the database, all or nothing."),
    "web": ("web:web", "Serve the local dashboard."),
    "statusline": ("statusline:statusline", "Claude Code's statusline: one short line from its JSON."),
    "serve": ("serve:serve", "The live control plane: dashboard, http hook, OTLP receiver, live updates."),
    "completion": ("setup:completion", "Print the shell completion script (bash, zsh or fish)."),
    "rules": ("rules:rules", "Permission rules in Claude Code's syntax: add, list, test, import, suggest."),
    "approvals": ("approvals:approvals", "Tool calls waiting for a person: list, show, approve, deny."),
    "hooks": ("hooks:hooks", "nerv-hook in Claude Code's settings: install, uninstall, status."),
}


# Words ending in a full stop that do not end a sentence.
ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "cf.")


def first_sentence(help_text: str) -> str:
    """The first sentence of a command's help, whole: what a group's command list shows.

    click's own summary stops at any word ending in "." (so "Add RULE, e.g." was
    all `rules --help` said) and cuts longer ones with "..."; a whole sentence,
    wrapped by the help formatter, reads better than either.
    """
    paragraph = help_text.strip().split("\n\n", 1)[0]
    words = [w for w in paragraph.split() if w != "\b"]
    for i, word in enumerate(words):
        if word.endswith(".") and word.lower().lstrip("(\"'") not in ABBREVIATIONS:
            return " ".join(words[: i + 1])
    return " ".join(words)


def with_full_summaries(command: click.Command) -> click.Command:
    """Give every subcommand of a group (at any depth) its whole first sentence as short help."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            if sub.short_help is None and sub.help:
                sub.short_help = first_sentence(sub.help)
            with_full_summaries(sub)
    return command


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr = entry[0].split(":")
        module = importlib.import_module(f"nerv.cli.{module_name}")
        command: click.Command = getattr(module, attr)
        return with_full_summaries(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db_path",
    metavar="PATH",
    envvar=env.NERV_DB,
    help="Database file (default: $NERV_HOME/state.db, i.e. ~/.nerv/state.db).",
)
@click.version_option(__version__, prog_name="nerv")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None) -> None:
    """nerv: state, permissions and costs of your coding-agent work, in one SQLite file."""
    ctx.obj = AppContext(db_path)
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every failure a user can cause is one line on stderr and an exit code.

    Exit codes: 0 ok, 1 other error, 2 bad usage or value, 3 not found or
    ambiguous id, 4 refused by a database constraint, 5 database unusable.
    """
    from nerv.errors import NervError

    try:
        cli.main(args=argv, prog_name="nerv", standalone_mode=False)
    except NervError as exc:
        echo(f"nerv: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("nerv: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `nerv GROUP` (click >= 8.2): show the help
            exc.show()
            sys.exit(exc.exit_code)
        # One line, like every other error (click's own form spreads usage over three).
        message = " ".join(exc.format_message().split())
        hint = ""
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            hint = f" (see '{exc.ctx.command_path} --help')"
        echo(f"nerv: error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("nerv: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        sys.exit(_report_unexpected(exc))


def echo(text: str, *, err: bool) -> None:
    """Error lines, with control characters shown (the printing module is imported only then)."""
    from nerv.cli.output import echo as echo_escaped

    echo_escaped(text, err=err)


def _report_unexpected(exc: Exception) -> int:
    """One line for what escaped the commands; the exit code. Known system failures are named."""
    import os
    import sqlite3

    from nerv.db.connection import explain

    if isinstance(exc, sqlite3.Error):  # read-only file, full disk, failing disk...
        echo(f"nerv: error: {explain(exc, None)}", err=True)
        return 5
    if isinstance(exc, OSError) and exc.strerror:  # e.g. writing into a read-only folder
        where = f": {exc.filename}" if exc.filename else ""
        echo(f"nerv: error: {exc.strerror}{where}", err=True)
        return 1
    message: Any = str(exc) or exc.__class__.__name__
    echo(f"nerv: internal error: {exc.__class__.__name__}: {message}", err=True)
    if os.environ.get(env.NERV_DEBUG):
        import traceback

        traceback.print_exc()
    return 1
