"""Ingest under faults: kill -9 mid-run, poisoned token counts (issue 9, faults 1 and 2)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nerv import DatabaseService

RESPONSES = 20_000


def _line(n: int, session: str = "sess-kill", **usage: object) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "sessionId": session,
            "requestId": f"req_{n}",
            "cwd": "/work/x",
            "timestamp": "2026-02-10T10:00:00.000Z",
            "message": {
                "id": f"msg_{n}",
                "model": "claude-sonnet-4-5",
                "usage": usage or {"input_tokens": 10, "output_tokens": 1},
            },
        }
    )


def _metrics(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM metrics").fetchone()[0])
    finally:
        conn.close()


def test_ingest_killed_after_its_first_commit_loses_nothing(db_path: Path, tmp_path: Path) -> None:
    """Fault 1: the saved file state used to claim the whole file after the first batch,
    so a re-run after kill -9 read nothing more (4,096 kept, 15,904 lost)."""
    DatabaseService(db_path).close()
    folder = tmp_path / "projects"
    folder.mkdir()
    (folder / "sess-kill.jsonl").write_text("".join(_line(n) + "\n" for n in range(RESPONSES)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nerv", "usage", "ingest", str(folder)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ),
    )
    blocker = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        deadline = time.monotonic() + 60
        while _metrics(db_path) == 0:  # wait for the first commit...
            assert proc.poll() is None, "ingest ended before its first commit was seen"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        blocker.execute("BEGIN IMMEDIATE")  # ...then keep it from committing another batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
    kept = _metrics(db_path)
    assert 0 < kept < RESPONSES  # killed mid-run, with at least one batch committed
    again = subprocess.run(
        [sys.executable, "-m", "nerv", "usage", "ingest", str(folder), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["responses_added"] == RESPONSES - kept
    assert _metrics(db_path) == RESPONSES
    with DatabaseService(db_path) as svc:
        session = svc.get_session_by_claude_id("sess-kill")
        assert session is not None and session.tokens_input == 10 * RESPONSES
    # And a third run has nothing left to read.
    third = subprocess.run(
        [sys.executable, "-m", "nerv", "usage", "ingest", str(folder), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert json.loads(third.stdout)["responses_added"] == 0
