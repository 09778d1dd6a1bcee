"""One small exception hierarchy; every error a user can cause is a NervError.

Each class carries the process exit code the CLI and hook use for it, so the
mapping from failure to exit status lives in exactly one place.
"""

from __future__ import annotations


class NervError(Exception):
    """Base class: a clear, one-line message meant for a human."""

    exit_code = 1


def shown_entity(entity: str) -> str:
    """An entity type as people read it: ``approval_request`` -> ``approval request``."""
    return entity.replace("_", " ")


class NotFoundError(NervError):
    exit_code = 3

    def __init__(self, entity: str, ident: str) -> None:
        super().__init__(f"{shown_entity(entity)} not found: {ident}")
        self.entity = entity
        self.ident = ident


class AmbiguousIdError(NervError):
    exit_code = 3

    def __init__(self, entity: str, prefix: str, matches: list[str]) -> None:
        shown = ", ".join(matches[:5])
        super().__init__(f"{shown_entity(entity)} id prefix {prefix!r} is ambiguous: matches {shown}")
        self.entity = entity
        self.prefix = prefix
        self.matches = matches


class ValidationError(NervError):
    """A value is not allowed: bad enum value, unknown column, empty name..."""

    exit_code = 2


class MissingFileError(ValidationError):
    """A file or folder the user named does not exist: a bad value (exit 2), not an unknown id."""

    def __init__(self, what: str, path: str) -> None:
        super().__init__(f"{what} not found: {path}")
        self.path = path


class ConstraintError(NervError):
    """The database refused a change: a missing referenced row, a duplicate, a CHECK."""

    exit_code = 4


class ConflictError(ConstraintError):
    """A row that must be unique already exists."""


class DatabaseError(NervError):
    """The database file cannot be opened, is corrupt, or stays locked."""

    exit_code = 5


class SchemaTooNewError(DatabaseError):
    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, newer than this nerv understands ({known}); "
            "upgrade nerv — the database was left untouched"
        )
        self.found = found
        self.known = known


class MigrationError(DatabaseError):
    pass
