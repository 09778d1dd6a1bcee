"""Fail-safe: whatever goes wrong, PreToolUse answers "ask" with the reason, and logs it.

Never allow, never silence.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import log_lines, pre_payload, session_payload

from nerv import DatabaseService


def assert_asks(result: Any, *fragments: str) -> None:
    assert result.returncode == 0
    assert result.decision == "ask", result.stdout
    answer = result.answer
    assert "decision" not in answer  # no legacy allow / block
    for fragment in fragments:
        assert fragment in result.reason, result.reason


@pytest.mark.parametrize(
    ("stdin", "fragment"),
    [
        (b"", "empty hook input"),
        (b"   \n", "empty hook input"),
        (b"not json at all", "not valid JSON"),
        (b'{"tool_name": "Bash", "tool_input": ', "not valid JSON"),
        (b"[1, 2, 3]", "JSON list, not an object"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b'{"hook_event_name": "PreToolUse", "tool_input": {"command": "ls"}}', "no tool_name"),
        (b'{"hook_event_name": "PreToolUse", "tool_name": "", "tool_input": {}}', "no tool_name"),
        (b'{"hook_event_name": "PreToolUse", "tool_name": 7}', "no tool_name"),
        (b'{"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "ls"}', "not an object"),
        (b'{"session_id": "x"}', "no hook_event_name"),
    ],
)
def test_bad_input_asks_and_is_logged(hook: Any, nerv_home: Path, stdin: bytes, fragment: str) -> None:
    result = hook(stdin)
    assert_asks(result, fragment, "asking instead")
    assert result.answer["systemMessage"]  # the person sees why
    assert any(fragment in line for line in log_lines(nerv_home))


def test_event_name_missing_but_tool_present_is_treated_as_pretooluse(hook: Any) -> None:
    payload = pre_payload("Bash", {"command": "sudo id"})
    del payload["hook_event_name"]
    assert hook(payload).decision == "deny"


def test_extra_and_missing_optional_fields_are_tolerated(hook: Any) -> None:
    payload = pre_payload(
        "Bash",
        {"command": "sudo id"},
        permission_mode="acceptEdits",
        tool_use_id="toolu_01",
        future_field={"x": [1]},
    )
    del payload["transcript_path"]
    del payload["cwd"]
    assert hook(payload).decision == "deny"


def test_internal_error_asks(hook: Any, nerv_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nerv.store.reads

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("matcher exploded")

    monkeypatch.setattr(nerv.store.reads, "evaluate", boom)
    assert_asks(hook(pre_payload("Bash", {"command": "ls"})), "internal error", "matcher exploded")
    assert any("matcher exploded" in line for line in log_lines(nerv_home))


def test_invalid_stored_rule_never_allows(hook: Any, service: DatabaseService) -> None:
    service.create_rule_from_text("Bash(ls:*)", "allow")
    # A rule another version (or a hand edit) wrote that today's matcher refuses.
    service.connection.execute(
        "INSERT INTO approval_rules (id, pattern, action, tool, created_at, enabled, updated_at, match_key) "
        "VALUES ('brokenrule000000', 'x:*y:*', 'deny', 'Bash', 1, 1, 1, 'Bash:ls')"
    )
    assert_asks(hook(pre_payload("Bash", {"command": "ls"})), "invalid stored rule", "brokenrule000000")
    assert hook(pre_payload("Bash", {"command": "sudo ls"})).decision == "deny"  # other denies still hold


@pytest.mark.parametrize("how", ["missing file", "missing folder", "empty file"])
def test_missing_database_is_never_created(
    hook_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """A hook that created a database would silently replace the user's rules with the
    defaults (a moved NERV_HOME, an unmounted disk): it asks and logs instead."""
    home = tmp_path / "elsewhere"
    if how != "missing folder":
        home.mkdir()
    if how == "empty file":
        (home / "state.db").touch()
    monkeypatch.setenv("NERV_HOME", str(home))
    result = hook_process(pre_payload("Bash", {"command": "ls"}))
    assert_asks(result, "database")
    assert "nerv status" in result.reason  # says how to create it
    db = home / "state.db"
    assert (db.stat().st_size == 0) if how == "empty file" else not db.exists()
    assert not (home / "state.db-wal").exists()
    assert "database" in (home / "hook.log").read_text()
    for event in ("SessionStart", "Stop"):  # no event creates it either
        assert hook_process({"hook_event_name": event, "session_id": "s1", "cwd": str(tmp_path)}).stdout == ""
    dialog = pre_payload("Bash", {"command": "sudo id"}, hook_event_name="PermissionRequest")
    assert hook_process(dialog).stdout == ""  # no opinion: Claude Code shows its dialog
    assert (db.stat().st_size == 0) if how == "empty file" else not db.exists()


def test_older_schema_is_migrated(hook: Any, db_path: Path) -> None:
    from nerv.db.connection import connect
    from nerv.db.migrations import latest_version, migrate

    conn = connect(db_path)
    migrate(conn, db_path, target=latest_version() - 1)
    conn.close()
    assert hook(pre_payload("Bash", {"command": "sudo id"})).decision == "deny"
    assert sqlite3.connect(db_path).execute("PRAGMA user_version").fetchone()[0] == latest_version()


def test_newer_schema_asks(hook: Any, service: DatabaseService, db_path: Path) -> None:
    service.connection.execute("PRAGMA user_version = 999")
    assert_asks(hook(pre_payload("Bash", {"command": "ls"})), "newer than this nerv")


@pytest.mark.parametrize(
    "content", [b"this is not a database, just text" * 200, b"SQLite format 3\x00" + b"\x07" * 4000]
)
def test_corrupt_database_asks(hook_process: Any, nerv_home: Path, content: bytes) -> None:
    nerv_home.mkdir(parents=True, exist_ok=True)
    (nerv_home / "state.db").write_bytes(content)
    result = hook_process(pre_payload("Bash", {"command": "ls"}))
    assert_asks(result, "asking instead")
    assert log_lines(nerv_home)
    # Session events stay silent (exit 0, nothing on stdout) but are logged too.
    before = len(log_lines(nerv_home))
    quiet = hook_process(session_payload("SessionStart"))
    assert (quiet.returncode, quiet.stdout) == (0, "")
    assert len(log_lines(nerv_home)) > before


def test_unreadable_database_path_asks(
    hook: Any, nerv_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "a-directory.db"
    folder.mkdir()
    (folder / "x").write_text("not empty")
    monkeypatch.setenv("NERV_DB", str(folder))
    assert_asks(hook(pre_payload("Bash", {"command": "ls"})), "database")


LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("INSERT INTO settings (id, key, value, created_at, updated_at) "
                     "VALUES ('lock', 'x', '1', 1, 1)")
    else:
        conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
    conn.execute("ROLLBACK")
""")


@contextlib.contextmanager
def hold_lock(db: Path, kind: str, seconds: float = 8) -> Iterator[None]:
    """Another process holding the database's write lock (BEGIN IMMEDIATE) or all of it (EXCLUSIVE)."""
    with subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), kind, str(seconds)], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            yield
        finally:
            proc.kill()
            proc.wait()


def test_queue_with_database_locked_past_the_timeout_asks(
    hook_process: Any, service: DatabaseService, db_path: Path, nerv_home: Path
) -> None:
    with hold_lock(db_path, "immediate"):
        start = time.monotonic()
        result = hook_process(
            pre_payload("Bash", {"command": "make"}),
            env={"NERV_APPROVAL_MODE": "queue", "NERV_HOOK_BUSY_TIMEOUT_MS": "400"},
        )
        elapsed = time.monotonic() - start
    assert_asks(result, "locked")
    assert elapsed < 5
    assert any("locked" in line for line in log_lines(nerv_home))
    assert service.count_requests(None) == 0


def test_rule_decisions_need_no_write_lock(
    hook_process: Any, service: DatabaseService, db_path: Path
) -> None:
    # WAL: a writer holding BEGIN IMMEDIATE does not block the hook's reads.
    with hold_lock(db_path, "immediate"):
        result = hook_process(
            pre_payload("Bash", {"command": "sudo id"}), env={"NERV_HOOK_BUSY_TIMEOUT_MS": "400"}
        )
    assert result.decision == "deny"


def test_exclusively_locked_database_asks(hook_process: Any, db_path: Path) -> None:
    DatabaseService(db_path).close()  # exclusive locking mode needs every other connection closed
    with hold_lock(db_path, "exclusive"):
        start = time.monotonic()
        result = hook_process(
            pre_payload("Bash", {"command": "ls"}), env={"NERV_HOOK_BUSY_TIMEOUT_MS": "300"}
        )
        elapsed = time.monotonic() - start
    assert_asks(result, "locked")
    assert elapsed < 5


def test_permission_request_failure_stays_silent(
    hook: Any, nerv_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nerv.store.reads

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("nope")

    monkeypatch.setattr(nerv.store.reads, "evaluate", boom)
    payload = pre_payload("Bash", {"command": "ls"}, hook_event_name="PermissionRequest")
    result = hook(payload)
    assert (result.returncode, result.stdout) == (0, "")  # Claude Code shows its dialog: the safe answer
    assert any("nope" in line for line in log_lines(nerv_home))


def test_unknown_events_are_ignored(hook: Any) -> None:
    result = hook({"session_id": "s", "hook_event_name": "Notification", "message": "hi"})
    assert (result.returncode, result.stdout) == (0, "")
