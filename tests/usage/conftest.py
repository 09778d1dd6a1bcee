"""Fixtures for the usage ingest, report, budget and CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from usage_helpers import Tree, build_tree

from nerv import DatabaseService


@pytest.fixture(autouse=True)
def _no_claude_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default roots and terminal output must not depend on the developer's machine."""
    for name in ("CLAUDE_CONFIG_DIR", "XDG_CONFIG_HOME", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return build_tree(tmp_path)


@pytest.fixture
def ingested(service: DatabaseService, tree: Tree) -> DatabaseService:
    """A database holding every sample."""
    result = service.ingest([tree.projects, tree.out])
    assert result.errors == [] and result.malformed_lines == 0
    return service
