"""POST /v1/logs and /v1/metrics: Claude Code's OpenTelemetry events (OTLP/HTTP, JSON encoding).

api_request events become metrics rows counted once against transcript rows, whichever
arrives first; tool_decision events land in the audit; anything else is accepted and ignored.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import post

from fixture_paths import SAMPLES
from nerv import DatabaseService
from nerv.serve.server import ControlServer

TRANSCRIPT = SAMPLES / "cc-transcript-v2.1.38-opus46-tool-heavy.jsonl"


def _responses() -> tuple[str, list[str]]:
    """The sample transcript's session id and its responses' request ids."""
    session, requests = "", []
    for line in TRANSCRIPT.read_text().splitlines():
        record = json.loads(line)
        if record.get("type") == "assistant" and record.get("requestId"):
            session = record["sessionId"]
            if record["requestId"] not in requests:
                requests.append(record["requestId"])
    assert session and len(requests) >= 2
    return session, requests


SESSION, REQUESTS = _responses()


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}  # OTLP JSON: 64-bit integers as strings
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def logs(*records: dict[str, Any]) -> dict[str, Any]:
    return {"resourceLogs": [{
        "resource": {"attributes": [attr("service.name", "claude-code"), attr("service.version", "2.1.50")]},
        "scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": list(records)}],
    }]}


def event(name: str, **attributes: Any) -> dict[str, Any]:
    return {"timeUnixNano": "1796300000000000000", "body": {"stringValue": f"claude_code.{name}"},
            "attributes": [attr("event.name", name), *(attr(k.replace("_dot_", "."), v)
                                                        for k, v in attributes.items())]}


def api_request(request_id: str, session: str = SESSION, **extra: Any) -> dict[str, Any]:
    fields = {"session_dot_id": session, "request_id": request_id, "model": "claude-opus-4-6",
              "input_tokens": 3, "output_tokens": 120, "cache_read_tokens": 11515,
              "cache_creation_tokens": 13835, "cost_usd_micros": 95000, "duration_ms": 2300}
    fields.update(extra)
    return event("api_request", **fields)


def metrics(db_path: Path) -> list[tuple[str, float]]:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT external_id, cost_usd FROM metrics ORDER BY external_id").fetchall()
    finally:
        conn.close()


def session_cost(db_path: Path) -> float:
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute(
            "SELECT cost_usd FROM claude_sessions WHERE claude_session_id = ?", (SESSION,)
        ).fetchone()
        return float(row[0]) if row else 0.0
    finally:
        conn.close()


def send(control: ControlServer, body: Any, path: str = "/v1/logs") -> Any:
    reply = post(control.url, path, body, token=control.hook_token)
    assert reply.status == 200, reply.body
    assert reply.json() == {}
    return reply


def ingest(db_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "projects" / "x" / TRANSCRIPT.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(TRANSCRIPT, copy)
    with DatabaseService(db_path) as service:
        service.ingest([copy.parent])


@pytest.fixture
def transcript_only(tmp_path: Path) -> tuple[list[str], float]:
    """The transcript's rows and session cost when nothing else is known (a separate database)."""
    path = tmp_path / "alone.db"
    ingest(path, tmp_path / "alone")
    conn = sqlite3.connect(path)
    try:
        ids = [r[0] for r in conn.execute("SELECT external_id FROM metrics ORDER BY external_id")]
        cost = conn.execute("SELECT cost_usd FROM claude_sessions").fetchone()[0]
    finally:
        conn.close()
    assert ids and cost > 0
    return ids, float(cost)


def test_api_requests_make_the_cost_live_and_count_once(control: ControlServer, db_path: Path) -> None:
    send(control, logs(api_request(REQUESTS[0]), api_request(REQUESTS[1])))
    send(control, logs(api_request(REQUESTS[0])))  # Claude Code retries an export: still one row
    rows = metrics(db_path)
    assert [r[0] for r in rows] == sorted(f"otel:{r}" for r in REQUESTS[:2])
    assert session_cost(db_path) == pytest.approx(sum(r[1] for r in rows)) and session_cost(db_path) > 0


def test_telemetry_first_then_the_transcript_counts_each_response_once(
    control: ControlServer, db_path: Path, tmp_path: Path, transcript_only: tuple[list[str], float]
) -> None:
    send(control, logs(*(api_request(r) for r in REQUESTS)))
    assert len(metrics(db_path)) == len(REQUESTS)
    ingest(db_path, tmp_path)
    ids, cost = transcript_only
    assert [r[0] for r in metrics(db_path)] == ids  # the telemetry copies gave way
    assert session_cost(db_path) == pytest.approx(cost)


def test_the_transcript_first_then_telemetry_adds_nothing(
    control: ControlServer, db_path: Path, tmp_path: Path, transcript_only: tuple[list[str], float]
) -> None:
    ingest(db_path, tmp_path)
    send(control, logs(*(api_request(r) for r in REQUESTS), api_request("req_new_one")))
    ids, cost = transcript_only
    assert [r[0] for r in metrics(db_path)] == sorted([*ids, "otel:req_new_one"])
    assert session_cost(db_path) > cost  # only the new response was added


def test_an_unpriced_model_uses_claude_codes_cost_or_is_flagged(
    control: ControlServer, db_path: Path
) -> None:
    send(control, logs(api_request("req_a", model="acme-model-9"),
                       api_request("req_b", model="acme-model-9", cost_usd_micros="x")))
    assert dict(metrics(db_path)) == {"otel:req_a": pytest.approx(0.095), "otel:req_b": 0.0}
    conn = sqlite3.connect(db_path)
    try:
        flagged = conn.execute(
            "SELECT m.external_id FROM unpriced_metrics u JOIN metrics m ON m.id = u.metric_id"
        )
        assert [r[0] for r in flagged] == ["otel:req_b"]
    finally:
        conn.close()


def test_tool_decisions_are_audited(control: ControlServer, db_path: Path) -> None:
    send(control, logs(event("tool_decision", session_dot_id="s-7", tool_name="Bash", decision="reject",
                             source="user_temporary", tool_use_id="toolu_1")))
    with DatabaseService(db_path) as service:
        entries = service.get_audit(entity_type="tool_decision")
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.entity_id, entry.action, entry.actor) == ("s-7", "reject", "otel")
    assert entry.after == {"tool_name": "Bash", "decision": "reject", "source": "user_temporary",
                           "tool_use_id": "toolu_1"}


def test_unknown_events_and_metrics_are_accepted_and_ignored(control: ControlServer, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    before = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    send(control, logs(event("user_prompt", session_dot_id="s", prompt_length=12),
                       event("api_request", session_dot_id="s"),  # no request id: nothing to count by
                       {"body": {"stringValue": "something else"}}, {"attributes": "garbage"}))
    cost_metric = {"name": "claude_code.cost.usage"}
    send(control, {"resourceMetrics": [{"scopeMetrics": [{"metrics": [cost_metric]}]}]}, path="/v1/metrics")
    send(control, {})
    assert conn.execute("SELECT count(*) FROM audit_log").fetchone()[0] == before
    assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 0
    conn.close()


def test_bad_bodies_are_refused_without_a_change(control: ControlServer, db_path: Path) -> None:
    for raw, status in ((b"{not json", 400), (b"[1]", 400)):
        reply = post(control.url, "/v1/logs", raw, token=control.hook_token)
        assert reply.status == status and reply.json()["error"]["code"] == "bad_json"
    reply = post(control.url, "/v1/logs", b"\x0a\x00", token=control.hook_token,
                 headers={"Content-Type": "application/x-protobuf"})
    assert reply.status == 415
    assert metrics(db_path) == []
