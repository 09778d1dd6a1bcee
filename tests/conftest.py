"""Shared fixtures: real database files in tmp dirs, the CLI as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nerv import DatabaseService


@pytest.fixture
def nerv_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated NERV_HOME for this test (in-process code and subprocesses alike)."""
    home = tmp_path / "nerv-home"
    monkeypatch.setenv("NERV_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("NERV_") and name != "NERV_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NERV_ACTOR", "test")
    return home


@pytest.fixture
def db_path(nerv_home: Path) -> Path:
    return nerv_home / "state.db"


@pytest.fixture
def service(db_path: Path) -> Iterator[DatabaseService]:
    with DatabaseService(db_path) as svc:
        yield svc


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    child = dict(os.environ)
    child.pop("NO_COLOR", None)
    if extra:
        child.update(extra)
    return child


@pytest.fixture
def run_cli(nerv_home: Path) -> Any:
    """Run ``nerv ARGS`` as a real subprocess against the test's NERV_HOME."""

    def run(
        *args: str, input: str | None = None, env: dict[str, str] | None = None, check: bool = False
    ) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "nerv", *args],
            input=input,
            capture_output=True,
            text=True,
            env=_child_env(env),
            timeout=120,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        if check and proc.returncode != 0:
            raise AssertionError(f"nerv {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return result

    return run


@pytest.fixture
def invoke(nerv_home: Path) -> Any:
    """Run the CLI in-process (fast; same code path as the console script's main())."""
    from nerv.cli.main import main

    def run(*args: str, input: str | None = None) -> Result:
        import contextlib
        import io

        out, err = io.StringIO(), io.StringIO()
        code = 0
        stdin = sys.stdin
        try:
            sys.stdin = io.StringIO(input or "")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main(list(args))
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin = stdin
        return Result(code, out.getvalue(), err.getvalue())

    return run
