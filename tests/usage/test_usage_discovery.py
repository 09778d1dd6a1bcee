from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixture_paths import SAMPLES
from nerv.errors import MissingFileError
from nerv.usage.discovery import FileKind, classify, default_roots, iter_files, session_id_for_file

EXPECTED_KINDS = {
    "cc-subagent-v2.1.39-haiku45-agent-a7be2f0.jsonl": FileKind.SUBAGENT,
    "cc-transcript-v1.0.108-sonnet4-inline-sidechain.jsonl": FileKind.TRANSCRIPT,
    "cc-transcript-v2.1.38-opus46-short.jsonl": FileKind.TRANSCRIPT,
    "cc-transcript-v2.1.38-opus46-tool-heavy.jsonl": FileKind.TRANSCRIPT,
    "cc-transcript-v2.1.38-task-agent-progress.head56.jsonl": FileKind.TRANSCRIPT,
    "hook-input-permissionrequest-2026-02.json": FileKind.HOOK_INPUT,
    "hook-input-posttooluse-2025-07.json": FileKind.HOOK_INPUT,
    "hook-input-pretooluse-2025-07.json": FileKind.HOOK_INPUT,
    "stream-json-2025-06-opus4-task-subagents.json": FileKind.STREAM_JSON,
    "stream-json-v2.1.7-opus45-basic.ndjson": FileKind.STREAM_JSON,
}


def test_classify_samples() -> None:
    found = {p.name: classify(p) for p in iter_files([SAMPLES])}
    assert found == EXPECTED_KINDS  # README.md is not a data file
    assert not FileKind.HOOK_INPUT.has_usage and FileKind.SUBAGENT.has_usage


def _write(path: Path, *values: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(v) + "\n" for v in values))
    return path


def test_classify_synthetic_cases(tmp_path: Path) -> None:
    user = {"type": "user", "sessionId": "s", "isSidechain": True, "message": {}}
    # The subagents/ layout decides even without agentId on the line.
    assert classify(_write(tmp_path / "p" / "s" / "subagents" / "agent-x.jsonl", user)) is FileKind.SUBAGENT
    # Inline sidechain lines (no agentId) stay a plain transcript.
    assert classify(_write(tmp_path / "inline.jsonl", user)) is FileKind.TRANSCRIPT
    # A transcript that only has a snapshot line so far.
    snap = {"type": "file-history-snapshot", "messageId": "m", "snapshot": {}}
    assert classify(_write(tmp_path / "snap.jsonl", snap)) is FileKind.TRANSCRIPT
    # A broken first line does not hide the kind.
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"type":"us\n' + json.dumps(user) + "\n")
    assert classify(broken) is FileKind.TRANSCRIPT
    # --output-format json: a lone result object.
    assert (
        classify(_write(tmp_path / "r.json", {"type": "result", "session_id": "s"})) is FileKind.STREAM_JSON
    )
    # One hook payload per line.
    hook = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash"}
    assert classify(_write(tmp_path / "hooks.jsonl", hook)) is FileKind.HOOK_INPUT
    # Not ours.
    assert classify(_write(tmp_path / "other.json", {"foo": 1})) is FileKind.UNKNOWN
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert classify(empty) is FileKind.UNKNOWN
    (tmp_path / "array.json").write_text("[]")
    assert classify(tmp_path / "array.json") is FileKind.UNKNOWN
    (tmp_path / "junk.json").write_text("no json here")
    assert classify(tmp_path / "junk.json") is FileKind.UNKNOWN


def test_session_id_for_file() -> None:
    p = Path("/h/.claude/projects/-home-me-proj/8463c716-a2ea/subagents/agent-a7be2f0.jsonl")
    assert session_id_for_file(p) == "8463c716-a2ea"
    assert (
        session_id_for_file(Path("/h/.claude/projects/-home-me-proj/55604662-cf2a.jsonl")) == "55604662-cf2a"
    )


def test_default_roots(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for d in (home / ".claude" / "projects", home / ".config" / "claude" / "projects"):
        d.mkdir(parents=True)
    cfg1, cfg2 = tmp_path / "cfg1", tmp_path / "cfg2"
    (cfg1 / "projects").mkdir(parents=True)
    (cfg2 / "projects").mkdir(parents=True)
    env = {"HOME": str(home), "CLAUDE_CONFIG_DIR": f"{cfg1},{cfg2}{os.pathsep}{home / '.claude'}, "}
    assert default_roots(env) == [
        home / ".claude" / "projects",
        home / ".config" / "claude" / "projects",
        cfg1 / "projects",
        cfg2 / "projects",
    ]  # ~/.claude listed again via CLAUDE_CONFIG_DIR appears once; the empty entry is dropped


def test_default_roots_missing_and_xdg(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    assert default_roots(env) == []
    assert default_roots(env, existing_only=False) == [
        tmp_path / ".claude" / "projects",
        tmp_path / "xdg" / "claude" / "projects",
    ]


def test_iter_files(tmp_path: Path) -> None:
    root = tmp_path / "projects"
    for name in ("b/s.jsonl", "a/s.jsonl", "a/s/subagents/agent-1.jsonl", "x.ndjson", "y.json", "notes.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("{}\n")
    explicit = tmp_path / "capture.log"
    explicit.write_text("{}\n")
    files = list(iter_files([root, root / "a", explicit]))
    rel = [str(p.relative_to(tmp_path)) for p in files]
    assert rel == [  # sorted by path components; overlapping root "a" adds nothing
        "projects/a/s/subagents/agent-1.jsonl",
        "projects/a/s.jsonl",
        "projects/b/s.jsonl",
        "projects/x.ndjson",
        "projects/y.json",
        "capture.log",  # a file named explicitly is taken whatever its suffix
    ]
    with pytest.raises(MissingFileError):
        list(iter_files([tmp_path / "nope"]))
