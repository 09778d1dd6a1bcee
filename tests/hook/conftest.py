"""Fixtures for the nerv-hook tests: real payloads, the hook in-process and as a real process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import HookResult, hook_command, stdin_bytes


@pytest.fixture(autouse=True)
def _hook_env(nerv_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Claude Code or developer settings leak in; short lock waits keep the fail-safe tests quick."""
    for name in ("CLAUDE_PROJECT_DIR", "CLAUDE_CONFIG_DIR", "PYTHONDONTWRITEBYTECODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NERV_HOOK_BUSY_TIMEOUT_MS", "2000")
    # The hook never creates a database: as after `nerv setup`, one exists. (The tests
    # of a missing database point NERV_HOME or NERV_DB elsewhere.)
    from nerv import DatabaseService

    DatabaseService(nerv_home / "state.db").close()


@pytest.fixture
def hook(nerv_home: Path) -> Any:
    """nerv.hook.main in this process, stdin / stdout patched: for the bulk of the cases."""
    from nerv.hook import main

    def run(payload: Any, *args: str) -> HookResult:
        raw = stdin_bytes(payload)
        stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        saved = sys.stdin
        try:
            sys.stdin = stdin
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        finally:
            sys.stdin = saved
        return HookResult(code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def hook_process(nerv_home: Path) -> Any:
    """The real nerv-hook console script (or python -m nerv.hook) as a subprocess."""

    def run(payload: Any, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> HookResult:
        child = dict(os.environ)
        child.update(env or {})
        proc = subprocess.run(
            [*hook_command(), *args],
            input=stdin_bytes(payload),
            capture_output=True,
            env=child,
            timeout=timeout,
            check=False,
        )
        return HookResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())

    return run
