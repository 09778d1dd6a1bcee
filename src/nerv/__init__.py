"""nerv: a local control plane for AI coding-agent work.

The package root stays import-light on purpose: the Claude Code hook imports
``nerv.hook`` on every tool call, so ``DatabaseService`` is loaded lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nerv.service import DatabaseService as DatabaseService

__all__ = ["DatabaseService", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "DatabaseService":
        from nerv.service import DatabaseService

        return DatabaseService
    raise AttributeError(f"module 'nerv' has no attribute {name!r}")
