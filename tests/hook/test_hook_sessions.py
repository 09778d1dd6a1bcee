"""Session events keep claude_sessions current and audited; they print nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hook_helpers import POST_SAMPLES, SAMPLES, session_payload

from nerv import DatabaseService


def session_row(service: DatabaseService, claude_id: str) -> Any:
    return service.get_session_by_claude_id(claude_id)


def quiet(result: Any) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_lifecycle(hook: Any, service: DatabaseService, tmp_path: Path) -> None:
    project = service.create_project("web")
    (tmp_path / "web" / "src").mkdir(parents=True)
    service.add_repo(project.id, str(tmp_path / "web"))
    cwd = str(tmp_path / "web" / "src")
    transcript = str(tmp_path / "t.jsonl")

    quiet(hook(session_payload("SessionStart", "s-1", cwd=cwd, transcript_path=transcript, source="startup")))
    row = session_row(service, "s-1")
    assert (row.status, row.project_id, row.cwd, row.transcript_path) == (
        "active",
        project.id,
        cwd,
        transcript,
    )
    assert row.started_at > 0 and row.ended_at is None
    audit = service.get_audit(entity_id=row.id)
    assert [(a.entity_type, a.action, a.actor) for a in audit] == [("session", "create", "test")]

    # Per-tool-call events of a running session write nothing.
    quiet(
        hook(
            session_payload(
                "PostToolUse", "s-1", cwd=cwd, tool_name="Bash", tool_input={}, tool_response={"stdout": ""}
            )
        )
    )
    quiet(hook(session_payload("UserPromptSubmit", "s-1", cwd=cwd, prompt="hi")))
    assert len(service.get_audit(entity_id=row.id)) == 1

    quiet(hook(session_payload("Stop", "s-1", cwd=cwd, stop_hook_active=False)))
    assert session_row(service, "s-1").status == "idle"
    quiet(hook(session_payload("UserPromptSubmit", "s-1", cwd=cwd, prompt="more")))
    assert session_row(service, "s-1").status == "active"

    quiet(hook(session_payload("SessionEnd", "s-1", cwd=cwd, reason="exit")))
    ended = session_row(service, "s-1")
    assert ended.status == "completed" and ended.ended_at is not None
    assert [a.action for a in service.get_audit(entity_id=row.id)] == ["create", "update", "update", "end"]
    end_audit = service.get_audit(entity_id=row.id)[-1]
    assert end_audit.before == {"status": "active", "ended_at": None}
    assert end_audit.after is not None and end_audit.after["status"] == "completed"

    # A Stop arriving after the end does not reopen it; a resume does.
    quiet(hook(session_payload("Stop", "s-1", cwd=cwd)))
    assert session_row(service, "s-1").status == "completed"
    quiet(hook(session_payload("SessionStart", "s-1", cwd=cwd, source="resume")))
    resumed = session_row(service, "s-1")
    assert resumed.status == "active" and resumed.ended_at is None


def test_first_event_mid_session_creates_the_row(hook: Any, service: DatabaseService) -> None:
    payload = dict(POST_SAMPLES[0])
    quiet(hook(payload))
    row = session_row(service, payload["session_id"])
    assert row.status == "active" and row.cwd == payload["cwd"]
    assert row.project_id is None  # no registered repository encloses the sample's cwd


def test_every_real_posttooluse_sample_is_accepted(hook: Any, service: DatabaseService) -> None:
    for payload in POST_SAMPLES:
        quiet(hook(payload))
    assert len({p["session_id"] for p in POST_SAMPLES}) == len(service.get_sessions(None))


def test_nearest_enclosing_repository_wins(hook: Any, service: DatabaseService, tmp_path: Path) -> None:
    outer = service.create_project("outer")
    inner = service.create_project("inner")
    (tmp_path / "mono" / "packages" / "app" / "lib").mkdir(parents=True)
    service.add_repo(outer.id, str(tmp_path / "mono"))
    service.add_repo(inner.id, str(tmp_path / "mono" / "packages" / "app"))
    quiet(
        hook(session_payload("SessionStart", "deep", cwd=str(tmp_path / "mono" / "packages" / "app" / "lib")))
    )
    quiet(hook(session_payload("SessionStart", "top", cwd=str(tmp_path / "mono" / "packages"))))
    assert session_row(service, "deep").project_id == inner.id
    assert session_row(service, "top").project_id == outer.id


def test_environment_overrides(
    hook: Any, service: DatabaseService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = service.create_project("chosen")
    task = service.create_task(chosen.id, "the task")
    other = service.create_project("other")
    service.add_repo(other.id, str(tmp_path))
    monkeypatch.setenv("NERV_PROJECT_ID", chosen.id)
    monkeypatch.setenv("NERV_TASK_ID", task.id)
    quiet(hook(session_payload("SessionStart", "forced", cwd=str(tmp_path))))
    row = session_row(service, "forced")
    assert (row.project_id, row.task_id) == (chosen.id, task.id)
    monkeypatch.setenv("NERV_PROJECT_ID", "no-such-project")
    monkeypatch.setenv("NERV_TASK_ID", "no-such-task")
    quiet(hook(session_payload("SessionStart", "bad-override", cwd=str(tmp_path))))
    row = session_row(service, "bad-override")
    assert (row.project_id, row.task_id) == (other.id, None)  # unknown ids are ignored (and logged)


def test_event_without_session_id_is_logged_not_recorded(
    hook: Any, service: DatabaseService, nerv_home: Path
) -> None:
    quiet(hook({"hook_event_name": "SessionStart", "cwd": "/tmp"}))
    assert service.get_sessions(None) == []
    assert "without session_id" in (nerv_home / "hook.log").read_text()


def test_stop_ingests_the_transcript_usage(hook: Any, service: DatabaseService, tmp_path: Path) -> None:
    transcript = tmp_path / "55604662-cf2a-4331-851a-ec234028f8ca.jsonl"
    shutil.copyfile(SAMPLES / "cc-transcript-v2.1.38-opus46-short.jsonl", transcript)
    claude_id = "55604662-cf2a-4331-851a-ec234028f8ca"
    quiet(hook(session_payload("SessionStart", claude_id, transcript_path=str(transcript))))
    quiet(hook(session_payload("Stop", claude_id, transcript_path=str(transcript))))
    row = session_row(service, claude_id)
    if not hasattr(service, "ingest_transcript"):
        pytest.skip("the service has no ingest_transcript yet")
    assert row.status == "idle"
    assert row.tokens_output > 0 and row.cost_usd > 0
    assert len(service.get_sessions(None)) == 1  # the ingest found the hook's row, no duplicate


def test_ingest_failure_never_breaks_the_event(
    hook: Any, service: DatabaseService, tmp_path: Path, nerv_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerv.service import DatabaseService as Service

    def broken(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ingest exploded")

    monkeypatch.setattr(Service, "ingest_transcript", broken, raising=False)
    transcript = tmp_path / "t.jsonl"
    transcript.write_text("{}\n")
    quiet(hook(session_payload("SessionEnd", "s-x", transcript_path=str(transcript))))
    assert session_row(service, "s-x").status == "completed"
    assert "ingest exploded" in (nerv_home / "hook.log").read_text()
