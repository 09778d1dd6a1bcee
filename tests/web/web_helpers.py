"""Helpers for the dashboard tests: the seeded ids, ``nerv web`` as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Seed:
    alpha: str  # project ids
    beta: str
    tasks: dict[str, str]  # title -> id (project alpha)
    session: str
    request: str  # a pending approval request (project alpha)


@dataclass
class Rich:
    """More of project alpha: two cycles, three decisions, metrics of three models over days."""

    seed: Seed
    cycles: list[str]  # [completed cycle 1, active cycle 2]
    decisions: dict[str, str]  # title -> id
    rule: str  # an allow rule of project alpha
    beta_rule: str  # an allow rule of project beta


@dataclass
class WebProcess:
    url: str
    proc: subprocess.Popen[str]


def start_web(db_path: Path, *args: str, timeout: float = 20.0) -> WebProcess:
    """``python -m nerv --db PATH web --port 0 ARGS`` as a subprocess; its URL read from stderr."""
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", "--db", str(db_path), "web", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if line.startswith("nerv dashboard: "):
            return WebProcess(line.removeprefix("nerv dashboard: ").strip(), proc)
        if not line and proc.poll() is not None:
            break
    proc.kill()
    _, err = proc.communicate()
    raise AssertionError(f"nerv web did not start (exit {proc.returncode}): {err}")


def stop_web(web: WebProcess) -> tuple[int, str]:
    """SIGTERM, then the exit code and the rest of stderr."""
    web.proc.terminate()
    try:
        _, err = web.proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        web.proc.kill()
        _, err = web.proc.communicate()
    return web.proc.returncode, err


# -- in the browser --------------------------------------------------------------------------------


def open_view(page: Any, view: str) -> None:
    """Go to a view by its URL hash (``board``, ``costs``, ``task/ID``...) and wait until it shows."""
    page.goto(f"{page.base_url}#{view}")
    page.wait_for_selector(f"#view-{view.split('/')[0]}:not([hidden])")


def column(page: Any, status: str) -> Any:
    return page.locator(f'.column[data-status="{status}"]')


def card(page: Any, title: str) -> Any:
    return page.locator(".card", has_text=title)


# Browser viewport sizes the dashboard must work at.
DESKTOP = (1400, 900)
NARROW = (420, 860)  # a phone, or a narrow split window
