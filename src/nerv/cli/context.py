"""Per-invocation state shared by commands: the database, opened on first use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from nerv.service import DatabaseService
    from nerv.service.base import TableSpec


# Commands that only read. On a database file that does not exist yet they show what a new
# one would hold (an in-memory database at the latest schema), and create neither the file
# nor its folder: `nerv --db /typo/x.db status` must not leave /typo behind.
READ_ONLY_COMMANDS = frozenset(
    {
        "status", "audit", "export",
        "project list", "project show", "repo list", "task list", "task show", "task board",
        "cycle list", "cycle show", "session list", "session show", "decision list", "decision show",
        "settings get", "settings list", "usage report", "usage prices", "usage budget",
        "rules list", "rules test", "rules suggest", "approvals list", "approvals show", "hooks status",
    }
)  # fmt: skip
IN_MEMORY = ":memory:"


def current_command() -> str:
    """The running subcommand's path without the program name, e.g. ``task list``."""
    ctx = click.get_current_context(silent=True)
    return " ".join(ctx.command_path.split()[1:]) if ctx is not None else ""


def wait_for_long_writers(path: Path) -> None:
    """A CLI write that finds the lock held by a long writer (an import) waits for it, saying so
    once on stderr, instead of failing with "database is locked" after the busy timeout."""
    from nerv.db.tempfiles import long_writer
    from nerv.store import tx

    told: list[bool] = []

    def wait(_conn: object) -> bool:
        writer = long_writer(path)
        if writer is None:
            return False
        if not told:
            told.append(True)
            from nerv.cli.output import echo

            echo(f"nerv: waiting for `{writer.get('what')}` (pid {writer.get('pid')}) to finish...", err=True)
        return True

    tx.on_busy = wait


class AppContext:
    def __init__(self, db_path: str | None) -> None:
        self.db_path = db_path
        self._service: DatabaseService | None = None

    @property
    def path(self) -> Path:
        from nerv import env

        return Path(self.db_path).expanduser() if self.db_path else env.default_db_path()

    def service(self) -> DatabaseService:
        if self._service is None:
            from nerv.service import DatabaseService

            path = self.path
            if current_command() in READ_ONLY_COMMANDS and not path.exists():
                self._service = DatabaseService(IN_MEMORY)
            else:
                self._service = DatabaseService(path)
                wait_for_long_writers(path)
        return self._service

    def resolve(self, spec: TableSpec[Any], ident: str) -> str:
        return self.service().resolve_id(spec, ident)

    def project_id(self, given: str | None) -> str:
        """The project a command acts on: --project, else NERV_PROJECT_ID, else the current one."""
        import os

        from nerv import env
        from nerv.errors import NotFoundError
        from nerv.service.tables import PROJECTS

        service = self.service()
        chosen = given or os.environ.get(env.NERV_PROJECT_ID)
        if chosen:
            return service.resolve_id(PROJECTS, chosen)
        current = service.current_project()
        if current is None:
            raise NotFoundError("project", "(none yet: create one with `nerv project create NAME`)")
        return current.id

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
            self._service = None


pass_app = click.make_pass_decorator(AppContext)


def complete_id(entity: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    """A shell_complete callback offering the ids of ``entity`` (see tables.BY_ENTITY) that match.

    Completion never creates, migrates or fails loudly: no database, an old one
    or any error simply offers nothing.
    """

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        from nerv import env

        try:
            from nerv.service import DatabaseService
            from nerv.service.tables import BY_ENTITY

            given = ctx.find_root().params.get("db_path")
            path = Path(given).expanduser() if given else env.default_db_path()
            if not path.is_file():
                return []
            with DatabaseService(path, migrate_schema=False) as svc:
                ids = svc.ids_with_prefix(BY_ENTITY[entity], incomplete)
        except Exception:  # a completion must never print a traceback
            return []
        return [CompletionItem(ident) for ident in ids]

    return complete
