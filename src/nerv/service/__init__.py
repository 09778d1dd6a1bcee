"""The service layer: DatabaseService, the typed API over the state database.

``DatabaseService`` (in ``database.py``) is assembled from one mixin per
aggregate. The mixins validate, build dataclasses and call the write core,
:mod:`nerv.store`, which nerv-hook also calls directly. This package's
``__init__`` imports nothing eagerly.
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
