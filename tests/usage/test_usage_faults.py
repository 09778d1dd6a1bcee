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


@pytest.mark.parametrize("poison", [10**30, 2**63, 2**53, -1])
def test_poisoned_token_count_is_skipped_counted_and_located(
    run_cli: object, db_path: Path, tmp_path: Path, poison: int
) -> None:
    """Fault 2: one line with a token count of 10**30 or 2**63 made every ingest of the
    folder fail with "internal error: OverflowError"."""
    folder = tmp_path / "projects"
    folder.mkdir()
    lines = [_line(1, "sess-p"), _line(2, "sess-p", input_tokens=poison, output_tokens=1), _line(3, "sess-p")]
    transcript = folder / "sess-p.jsonl"
    transcript.write_text("".join(line + "\n" for line in lines))
    result = run_cli("usage", "ingest", str(folder), "--json")  # type: ignore[operator]
    assert result.returncode == 0, result.stderr
    data = result.json()
    assert data["responses_added"] == 2 and data["malformed_lines"] == 1
    assert data["bad_lines"] == [f"{transcript}:2"]
    text = run_cli("usage", "ingest", str(folder))  # type: ignore[operator]
    assert text.returncode == 0 and "internal error" not in text.stderr
    # The largest accepted count still sums without overflow in the report.
    transcript.write_text(
        transcript.read_text()
        + "".join(
            _line(n, "sess-p", input_tokens=2**53 - 1, output_tokens=2**53 - 1) + "\n" for n in range(4, 40)
        )
    )
    assert run_cli("usage", "ingest", str(folder)).returncode == 0  # type: ignore[operator]
    report = run_cli("usage", "report", "--by", "session", "--json")  # type: ignore[operator]
    assert report.returncode == 0, report.stderr


def test_bad_lines_after_a_resume_keep_their_file_line_numbers(
    service: DatabaseService, tmp_path: Path
) -> None:
    transcript = tmp_path / "sess-r.jsonl"
    transcript.write_text(_line(1, "sess-r") + "\n" + _line(2, "sess-r") + "\n")
    assert service.ingest([transcript]).bad_lines == []
    with transcript.open("a") as fh:
        fh.write("{not json\n" + _line(3, "sess-r") + "\n" + _line(4, "sess-r", output_tokens=-5) + "\n")
    result = service.ingest([transcript])
    assert result.responses_added == 1 and result.malformed_lines == 2
    assert result.bad_lines == [f"{transcript}:3", f"{transcript}:5"]
