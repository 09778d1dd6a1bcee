"""One write path: the hook's writes and the service's writes of the same events produce
identical rows and identical audit shapes (both call nerv.store)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from hook_helpers import hook_command, pre_payload, session_payload

from nerv import DatabaseService
from nerv.ids import now_ms

EVENTS = ("SessionStart", "UserPromptSubmit", "Stop", "UserPromptSubmit", "SessionEnd")
WAIT = "no decision within 0.3 s"


def _normal(column: str, value: Any) -> Any:
    """Ids and times differ from run to run; whether they are set does not."""
    if value is None:
        return None
    if column in ("id", "entity_id") or (column.endswith("_id") and column != "claude_session_id"):
        return "<id>"
    if column.endswith("_at"):
        return "<time>"
    return value


def _rows(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
    names = [d[0] for d in cursor.description]
    return [{n: _normal(n, v) for n, v in zip(names, row, strict=True)} for row in cursor]


def _audit(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    shapes = []
    for actor, entity, action, before, after in conn.execute(
        "SELECT actor, entity_type, action, before, after FROM audit_log "
        "WHERE entity_type IN ('session', 'approval_request') ORDER BY rowid"
    ):
        shapes.append((actor, entity, action, *(
            None if side is None else {k: _normal(k, v) for k, v in json.loads(side).items()}
            for side in (before, after)
        )))
    return shapes


def _setup(db: Path, repo: Path) -> None:
    with DatabaseService(db) as svc:
        project = svc.create_project("parity")
        svc.add_repo(project.id, str(repo))


def test_hook_and_service_write_identical_rows_and_audit(tmp_path: Path, nerv_home: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    hook_db, service_db = tmp_path / "hook.db", tmp_path / "service.db"
    _setup(hook_db, repo)
    _setup(service_db, repo)
    transcript = str(tmp_path / "none.jsonl")

    env = {**os.environ, "NERV_DB": str(hook_db), "NERV_ACTOR": "same", "NERV_APPROVAL_MODE": "queue",
           "NERV_APPROVAL_TIMEOUT_SECONDS": "0.3"}
    payloads: list[dict[str, Any]] = [
        session_payload(e, "sess-par", cwd=str(repo), transcript_path=transcript) for e in EVENTS[:2]
    ]
    payloads.append(pre_payload("Bash", {"command": "make parity"}, cwd=str(repo), session_id="sess-par",
                                transcript_path=transcript))
    payloads += [
        session_payload(e, "sess-par", cwd=str(repo), transcript_path=transcript) for e in EVENTS[2:]
    ]
    for payload in payloads:
        proc = subprocess.run(hook_command(), input=json.dumps(payload).encode(), env=env,
                              capture_output=True, timeout=60, check=True)
        if payload["hook_event_name"] == "PreToolUse":
            assert json.loads(proc.stdout)["hookSpecificOutput"]["permissionDecision"] == "deny"

    with DatabaseService(service_db, actor="same") as svc:
        project = svc.find_repo_for_path(str(repo))
        assert project is not None
        common = {"project_id": project.project_id, "cwd": str(repo), "transcript_path": transcript}
        for event in EVENTS[:2]:
            svc.touch_claude_session(event, "sess-par", **common)
        session = svc.touch_claude_session("PreToolUse", "sess-par", **common)
        request = svc.create_request("Bash", {"command": "make parity"}, project_id=project.project_id,
                                     session_id=session.id, cwd=str(repo), expires_at=now_ms() + 300)
        svc.decide_request(request.id, "expired", reason=WAIT, decided_by="same")
        for event in EVENTS[2:]:
            svc.touch_claude_session(event, "sess-par", **common)

    hook_conn, service_conn = sqlite3.connect(hook_db), sqlite3.connect(service_db)
    for table in ("claude_sessions", "approval_requests"):
        assert _rows(hook_conn, table) == _rows(service_conn, table), table
    hook_audit, service_audit = _audit(hook_conn), _audit(service_conn)
    assert hook_audit == service_audit
    assert [a[2] for a in hook_audit] == ["create", "create", "expire", "update", "update", "end"]
