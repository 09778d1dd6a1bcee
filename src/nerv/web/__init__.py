"""The local web dashboard: a JSON API over DatabaseService and a small static UI.

Standard library only (``http.server``); see :mod:`nerv.web.server` for the
HTTP side and its local-only safety checks, :mod:`nerv.web.api` for the
endpoints.
"""

from __future__ import annotations

from nerv.web.server import DashboardServer, make_server

__all__ = ["DashboardServer", "make_server"]
