"""Fixtures for the nerv serve tests: the real control server on a free port, in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nerv import DatabaseService
from nerv.serve.server import ControlServer, make_control_server
from server_thread import serving


@pytest.fixture(autouse=True)
def _serve_env(nerv_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NERV_HOOK_BUSY_TIMEOUT_MS", "2000")


@pytest.fixture
def control(db_path: Path, nerv_home: Path) -> Iterator[ControlServer]:
    """``nerv serve``'s server on the test database, serving from a background thread."""
    DatabaseService(db_path).close()
    srv = make_control_server(db_path, port=0)
    with serving(srv):
        yield srv
