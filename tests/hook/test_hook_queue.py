"""approval.mode = queue: a real hook process waits, a person decides from another process."""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import HookResult, hook_command, pre_payload

from nerv import DatabaseService
from nerv.store.open import open_existing as open_db
from nerv.store.requests import wait as wait_for_decision

QUEUE = {"NERV_APPROVAL_MODE": "queue"}


@pytest.fixture
def started(nerv_home: Path, db_path: Path) -> Iterator[Any]:
    """Start nerv-hook as a process on a queued call; yields (process, request id)."""
    DatabaseService(db_path).close()
    procs: list[subprocess.Popen[bytes]] = []

    def start(
        command: str = "make deploy", env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> tuple[subprocess.Popen[bytes], str]:
        child = {**os.environ, **QUEUE, **(env or {})}
        proc = subprocess.Popen(
            [*hook_command(), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child,
        )
        procs.append(proc)
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(pre_payload("Bash", {"command": command}, cwd=str(nerv_home))).encode())
        proc.stdin.close()
        return proc, pending_request(db_path)

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None and not proc.stdout.closed:
            finish(proc)


def pending_request(db_path: Path, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conn = sqlite3.connect(db_path)
        try:
            row = conn.execute("SELECT id FROM approval_requests WHERE status = 'pending'").fetchone()
        finally:
            conn.close()
        if row:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("no pending request appeared")


def finish(proc: subprocess.Popen[bytes], timeout: float = 15) -> HookResult:
    """Wait for the hook (its stdin is already closed) and collect what it printed."""
    assert proc.stdout is not None and proc.stderr is not None
    code = proc.wait(timeout=timeout)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return HookResult(code, out.decode(), err.decode())


def test_round_trip_approve_from_the_cli(started: Any, run_cli: Any, db_path: Path) -> None:
    proc, request_id = started()
    time.sleep(0.3)
    assert proc.poll() is None  # still waiting
    listed = run_cli("approvals", "list", "--json", check=True).json()
    assert [r["id"] for r in listed] == [request_id]
    assert listed[0]["tool_input"]["command"] == "make deploy"
    run_cli("approvals", "approve", request_id[:8], check=True)
    decided = time.monotonic()
    result = finish(proc)
    assert time.monotonic() - decided < 1.5  # noticed well within a poll (0.1 s) plus process exit
    assert result.returncode == 0
    assert result.decision == "allow", result.stdout
    assert request_id[:8] in result.reason
    with DatabaseService(db_path) as svc:
        request = svc.get_request(request_id)
        assert request is not None and request.status == "approved"
        assert [e.action for e in svc.get_audit(entity_id=request_id)] == ["create", "approve"]
        assert request.session_id is not None  # the hook filed it under its Claude session


def test_round_trip_deny_with_never(started: Any, run_cli: Any, db_path: Path, hook: Any) -> None:
    proc, request_id = started("make deploy --prod")
    run_cli(
        "approvals",
        "deny",
        request_id,
        "--reason",
        "not on a Friday",
        "--never",
        "Bash(make deploy:*)",
        check=True,
    )
    result = finish(proc)
    assert result.decision == "deny"
    assert "not on a Friday" in result.reason
    assert result.answer is not None and result.answer["decision"] == "block"
    # The --never rule now answers by itself, without a queue.
    again = hook(pre_payload("Bash", {"command": "make deploy --staging"}))
    assert again.decision == "deny" and "Bash(make deploy:*)" in again.reason


def test_timeout_denies_and_expires_without_busy_waiting(db_path: Path, nerv_home: Path) -> None:
    DatabaseService(db_path).close()
    env = {**os.environ, **QUEUE, "NERV_APPROVAL_TIMEOUT_SECONDS": "1.5"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run(
        hook_command(),
        input=json.dumps(pre_payload("Bash", {"command": "make"})).encode(),
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = HookResult(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
    assert result.decision == "deny"
    assert "no decision within 1.5 s" in result.reason and "expired" in result.reason
    assert 1.5 <= elapsed < 6
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 0.3 + 0.5 * (elapsed - 1.5) + 0.4, cpu  # start-up, then sleeping: no busy loop
    with DatabaseService(db_path) as svc:
        [request] = svc.get_requests(None)
        assert (request.status, request.decided_by) == ("expired", "test")
        assert "no decision within" in (request.reason or "")
        assert [e.action for e in svc.get_audit(entity_id=request.id)] == ["create", "expire"]


def test_wait_ends_before_claude_codes_own_timeout(
    hook: Any, service: DatabaseService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERV_APPROVAL_MODE", "queue")
    service.set_setting("approval.timeout_seconds", 50)
    start = time.monotonic()
    result = hook(pre_payload("Bash", {"command": "make"}), "--timeout", "11")  # 11 s minus the 10 s margin
    assert time.monotonic() - start < 5
    assert result.decision == "deny" and "no decision within 1 s" in result.reason


def test_decision_noticed_within_250_ms(service: DatabaseService, db_path: Path) -> None:
    conn = open_db(str(db_path), 2000)
    request = service.create_request("Bash", {"command": "make"})
    decided_at: list[float] = []

    def decide() -> None:
        time.sleep(0.5)
        with DatabaseService(db_path) as other:
            other.decide_request(request.id, "approved")
        decided_at.append(time.monotonic())

    worker = threading.Thread(target=decide)
    worker.start()
    status, _, by = wait_for_decision(conn, request.id, time.monotonic() + 10)
    noticed = time.monotonic()
    worker.join()
    conn.close()
    assert (status, by) == ("approved", "test")
    assert noticed - decided_at[0] < 0.25


def test_in_process_round_trip_approve_and_deny(
    hook: Any, service: DatabaseService, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERV_APPROVAL_MODE", "queue")

    def decide_later(status: str, **kwargs: Any) -> threading.Thread:
        def run() -> None:
            request_id = pending_request(db_path)
            with DatabaseService(db_path) as other:
                other.decide_request(request_id, status, **kwargs)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    thread = decide_later("approved", add_rule="Bash(make test:*)")
    result = hook(pre_payload("Bash", {"command": "make test"}))
    thread.join()
    assert result.decision == "allow"
    assert hook(pre_payload("Bash", {"command": "make test -j4"})).decision == "allow"  # the --always rule
    thread = decide_later("denied", reason="no")
    result = hook(pre_payload("Bash", {"command": "make clean"}))
    thread.join()
    assert result.decision == "deny" and ": no" in result.reason


def test_sigterm_while_waiting_expires_the_request(started: Any, db_path: Path) -> None:
    proc, request_id = started()
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    result = finish(proc)
    assert result.returncode == 0
    assert result.decision != "allow"
    with DatabaseService(db_path) as svc:
        request = svc.get_request(request_id)
        assert request is not None and request.status == "expired"


def test_decided_by_someone_else_before_expiry_counts(service: DatabaseService, db_path: Path) -> None:
    from nerv.store.requests import expire as expire_request

    request = service.create_request("Bash", {"command": "make"})
    service.decide_request(request.id, "denied", reason="late")
    conn = open_db(str(db_path), 2000)
    try:
        assert expire_request(conn, "hook", request.id, "too late") is False
    finally:
        conn.close()
    again = service.get_request(request.id)
    assert again is not None and again.status == "denied"


def test_bookkeeping_tools_are_not_queued(hook: Any, service: DatabaseService,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NERV_APPROVAL_MODE", "queue")
    todo = {"todos": [{"content": "x", "status": "pending", "priority": "high", "id": "1"}]}
    result = hook(pre_payload("TodoWrite", todo))
    assert (result.returncode, result.stdout) == (0, "")
    assert service.count_requests(None) == 0


# -- the hook's answer and the stored state agree (issue 9, fault 3) -------------------------


def _status(db_path: Path, request_id: str) -> str:
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT status FROM approval_requests WHERE id = ?", (request_id,)).fetchone()
        return str(row[0])
    finally:
        conn.close()


def test_request_given_up_under_a_held_lock_can_never_be_approved(
    started: Any, db_path: Path, run_cli: Any
) -> None:
    """The hook's wait ends while another process holds the write lock: it cannot mark
    its request expired and answers deny. The request used to stay pending and could
    then be approved (even --always, adding a rule): Claude Code told "deny", the
    ledger "approved"."""
    proc, request_id = started(
        "make release",
        env={"NERV_APPROVAL_TIMEOUT_SECONDS": "1", "NERV_HOOK_BUSY_TIMEOUT_MS": "300"},
    )
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # held from before the deadline until the hook has answered
    try:
        result = finish(proc)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert result.decision == "deny" and "expired" in result.reason
    assert "approvals approve" not in result.reason  # no advice that cannot work
    assert _status(db_path, request_id) == "pending"  # the hook really could not write
    approve = run_cli("approvals", "approve", request_id, "--always", "Bash(make:*)")
    assert approve.returncode == 2
    assert "already expired" in approve.stderr and "retry" in approve.stderr
    assert _status(db_path, request_id) == "expired"
    with DatabaseService(db_path) as svc:
        assert svc.find_rule("Bash", "make:*", "allow") is None
        actions = [e.action for e in svc.get_audit("approval_request", request_id)]
    assert actions == ["create", "expire"]


def test_decision_taken_under_the_lock_but_after_the_deadline_is_refused(db_path: Path) -> None:
    """An approver that holds the write lock across the hook's deadline still cannot
    record a decision once the deadline has passed: the check is made when it writes."""
    from nerv.ids import now_ms
    from nerv.store.requests import RequestExpiredError

    with DatabaseService(db_path) as svc:
        request = svc.create_request("Bash", {"command": "make"}, expires_at=now_ms() + 300)
        with svc.transaction():
            time.sleep(0.4)
            with pytest.raises(RequestExpiredError, match="already expired"):
                svc.decide_request(request.id, "approved", add_rule="Bash(make:*)")
        assert svc.get_request(request.id).status == "expired"  # type: ignore[union-attr]
        assert svc.find_rule("Bash", "make:*", "allow") is None
        with pytest.raises(RequestExpiredError):
            svc.decide_request(request.id, "denied")


def test_decision_before_the_deadline_is_answered(started: Any, db_path: Path) -> None:
    proc, request_id = started("make ok", env={"NERV_APPROVAL_TIMEOUT_SECONDS": "30"})
    with DatabaseService(db_path) as svc:
        svc.decide_request(request_id, "approved")
    result = finish(proc)
    assert result.decision == "allow" and _status(db_path, request_id) == "approved"
