"""Helpers for the nerv-hook tests: real payloads and the hook's answer."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from fixture_paths import SAMPLES

HOOK_SCRIPT = Path(sys.executable).with_name("nerv-hook")

# A 2025-shape PreToolUse payload (no permission_mode / tool_use_id), the base when no sample has the tool.
FALLBACK_PRE = {
    "session_id": "b23e5d8a-855f-44c5-95f0-075485a6ffcf",
    "transcript_path": "/Users/ran/.claude/projects/x/b23e5d8a-855f-44c5-95f0-075485a6ffcf.jsonl",
    "cwd": "/private/var/folders/5b/T/vibe-kanban/vk-2b7f-please-fix",
    "hook_event_name": "PreToolUse",
    "tool_name": "Bash",
    "tool_input": {"command": "gh issue view 445", "description": "Check GitHub issue 445"},
}


def load_samples(name: str) -> list[dict[str, Any]]:
    """A sample file's payloads; the samples ship with the tests, so a missing one is an error."""
    data: list[dict[str, Any]] = json.loads((SAMPLES / name).read_text())
    assert data, f"no payloads in {name}"
    return data


PRE_SAMPLES = load_samples("hook-input-pretooluse-2025-07.json")
POST_SAMPLES = load_samples("hook-input-posttooluse-2025-07.json")
PERMISSION_SAMPLES = load_samples("hook-input-permissionrequest-2026-02.json")


def pre_payload(
    tool_name: str = "Bash", tool_input: dict[str, Any] | None = None, *, cwd: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A real PreToolUse payload of ``tool_name`` from the samples, with ``tool_input`` swapped in."""
    base = next((p for p in PRE_SAMPLES if p.get("tool_name") == tool_name), None)
    if base is None:
        base = next((p for p in PRE_SAMPLES if p.get("tool_name") == "Bash"), FALLBACK_PRE)
    payload = copy.deepcopy(base)
    payload["tool_name"] = tool_name
    if tool_input is not None:
        payload["tool_input"] = tool_input
    if cwd is not None:
        payload["cwd"] = cwd
    payload.update(extra)
    return payload


def session_payload(
    event: str,
    session_id: str = "sess-0001",
    *,
    cwd: str = "/tmp",
    transcript_path: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "session_id": session_id,
        "cwd": cwd,
        "hook_event_name": event,
        "transcript_path": transcript_path or f"/nonexistent/{session_id}.jsonl",
    }
    payload.update(extra)
    return payload


class HookResult:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def answer(self) -> dict[str, Any] | None:
        text = self.stdout.strip()
        return json.loads(text) if text else None

    @property
    def decision(self) -> str | None:
        answer = self.answer
        if answer is None:
            return None
        out = answer.get("hookSpecificOutput", {})
        value = out.get("permissionDecision")
        return str(value) if value is not None else None

    @property
    def reason(self) -> str:
        answer = self.answer or {}
        return str(answer.get("hookSpecificOutput", {}).get("permissionDecisionReason", ""))


def stdin_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode()
    return json.dumps(payload).encode()


def hook_command() -> list[str]:
    return [str(HOOK_SCRIPT)] if HOOK_SCRIPT.exists() else [sys.executable, "-m", "nerv.hook"]


def log_lines(nerv_home: Path) -> list[str]:
    path = nerv_home / "hook.log"
    return path.read_text().splitlines() if path.exists() else []
