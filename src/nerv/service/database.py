"""DatabaseService: the typed API over the state database.

Each aggregate lives in its own module as a mixin over ServiceBase (which owns
the connection, transactions, audit rows and the generic write path).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType

from nerv import env
from nerv.db.connection import connect
from nerv.db.migrations import latest_version, migrate
from nerv.errors import DatabaseError, NervError
from nerv.service.approvals import ApprovalsMixin
from nerv.service.audit import AuditMixin
from nerv.service.base import ServiceBase, default_actor
from nerv.service.decisions import DecisionsMixin
from nerv.service.projects import ProjectsMixin
from nerv.service.rules import RulesMixin
from nerv.service.sessions import SessionsMixin
from nerv.service.settings import SettingsMixin
from nerv.service.tasks import TasksMixin
from nerv.service.telemetry import TelemetryMixin
from nerv.service.usage import UsageMixin


class DatabaseService(
    ProjectsMixin,
    TasksMixin,
    SessionsMixin,
    RulesMixin,
    ApprovalsMixin,
    DecisionsMixin,
    AuditMixin,
    SettingsMixin,
    UsageMixin,
    TelemetryMixin,
    ServiceBase,
):
    """Open (creating and migrating as needed) the default or given database."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        actor: str | None = None,
        busy_timeout: int | None = None,
        migrate_schema: bool = True,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else env.default_db_path()
        self.actor = actor or default_actor()
        self._conn = connect(self.path, busy_timeout=busy_timeout, max_version=latest_version())
        try:
            if migrate_schema:
                self.applied_migrations = migrate(self._conn, self.path)
            else:
                self.applied_migrations = []
        except NervError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:  # e.g. a file that is corrupt past its header
            self._conn.close()
            raise DatabaseError(f"cannot use database {self.path}: {exc}") from None

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for the storage-level tools (backup, export, checks)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> DatabaseService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["DatabaseService"]
