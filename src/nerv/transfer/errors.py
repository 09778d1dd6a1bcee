"""Errors of the backup / restore / export / import tools (all NervErrors: one line, an exit code)."""

from __future__ import annotations

from nerv.errors import ConflictError, DatabaseError, ValidationError


class ExportFileError(ValidationError):
    """An export file is unreadable, malformed, truncated or of an unsupported version."""


class ImportConflictError(ConflictError):
    """Records in the file exist in the database with different content."""


class ImportRefusedError(ValidationError):
    """The file is well formed but the database refused its content (constraint, reference)."""


class BusyError(DatabaseError):
    """Another process holds a write transaction on the database."""


class CheckFailedError(DatabaseError):
    """``nerv db check`` found a problem, or a backup failed its integrity check."""
