"""Fixtures for the DatabaseService tests (helpers live in svc_helpers.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from nerv import DatabaseService
from nerv.models import Project


@pytest.fixture
def project(service: DatabaseService) -> Project:
    return service.create_project("alpha", goal="ship it")


@pytest.fixture
def raw(service: DatabaseService) -> Callable[[str, tuple[Any, ...]], sqlite3.Cursor]:
    """Execute SQL on the service's own connection (for setting up odd states)."""

    def run(sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return service.connection.execute(sql, params)

    return run
