"""Fixtures for the CLI tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nerv import DatabaseService
from nerv.models import Project


@pytest.fixture(autouse=True)
def _plain_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs must not depend on the developer's terminal: no forced colour, a known width."""
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE", "NO_COLOR", "CLAUDE_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def project(service: DatabaseService) -> Iterator[Project]:
    """A project that is current (the most recently created one)."""
    yield service.create_project("alpha", goal="test the cli")
