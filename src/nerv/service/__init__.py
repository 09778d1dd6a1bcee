"""The service layer: DatabaseService, the typed API over the state database.

``DatabaseService`` (in ``database.py``) is assembled from one mixin per
aggregate. ``hookstore`` is the same layer cut lean for ``nerv-hook``: the
handful of reads and writes a hook call needs, with nothing but sqlite3 and
nerv's tiny modules, so the hook starts fast. This package's ``__init__``
imports nothing eagerly, so importing ``nerv.service.hookstore`` does not pull
in every aggregate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nerv.service.database import DatabaseService as DatabaseService

__all__ = ["DatabaseService"]


def __getattr__(name: str) -> Any:
    if name == "DatabaseService":
        from nerv.service.database import DatabaseService

        return DatabaseService
    raise AttributeError(f"module 'nerv.service' has no attribute {name!r}")
