"""The JSON shape of each entity the dashboard shows: the row's columns plus what the page needs.

Every shape is the dataclass's fields (so the keys are the database's column names) with
additions such as ``short_id``; new keys may be added, existing ones keep their meaning.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nerv.ids import short_id
from nerv.web.protocol import Json

if TYPE_CHECKING:
    from nerv.models import ApprovalRequest, AuditEntry, Cycle, Decision, Project, Rule, Session, Task

# The fields that name a row best, for a created or deleted row's audit summary.
_LABEL_KEYS = ("title", "name", "key", "path", "tool_name", "pattern")
# The fields of a tool's input that say best what a call does, in order of preference.
_INPUT_SUMMARY_KEYS = ("command", "file_path", "notebook_path", "url", "pattern", "path", "query", "prompt")


def project_json(project: Project) -> Json:
    return {**dataclasses.asdict(project), "short_id": short_id(project.id)}


def task_json(task: Task) -> Json:
    return {**dataclasses.asdict(task), "short_id": short_id(task.id)}


def rule_json(rule: Rule) -> Json:
    return {**dataclasses.asdict(rule), "rule": rule.rule_text, "short_id": short_id(rule.id)}


def cycle_json(cycle: Cycle) -> Json:
    return {**dataclasses.asdict(cycle), "short_id": short_id(cycle.id)}


def decision_json(decision: Decision) -> Json:
    return {**dataclasses.asdict(decision), "short_id": short_id(decision.id)}


def session_json(session: Session) -> Json:
    """A session with its token counts grouped as in usage reports (``tokens``)."""
    return {
        **dataclasses.asdict(session),
        "short_id": short_id(session.id),
        "tokens": {
            "input": session.tokens_input,
            "output": session.tokens_output,
            "cache_write_5m": session.tokens_cache_write_5m,
            "cache_write_1h": session.tokens_cache_write_1h,
            "cache_read": session.tokens_cache_read,
        },
    }


def audit_json(entry: AuditEntry) -> Json:
    return {**dataclasses.asdict(entry), "short_id": short_id(entry.entity_id)}


def request_json(request: ApprovalRequest, project_names: Mapping[str, str]) -> Json:
    return {
        **dataclasses.asdict(request),
        "short_id": short_id(request.id),
        "project_name": project_names.get(request.project_id or ""),
        "summary": summarize_input(request.tool_input),
    }


def change_summary(entry: AuditEntry, max_fields: int = 6) -> str:
    """An audit entry's change in one line: ``field: old → new``, or a created row's key fields."""
    before, after = entry.before or {}, entry.after or {}
    if before and after:
        keys = sorted(set(before) | set(after))
        shown = [k for k in keys if not k.endswith("_at")] or keys
        return ", ".join(f"{k}: {_value(before.get(k))} → {_value(after.get(k))}" for k in shown)
    data = after or before
    for key in _LABEL_KEYS:
        if key in data:
            return f"{key}: {_value(data[key], 120)}"
    fields = [
        (k, v) for k, v in sorted(data.items())
        if k != "id" and not k.endswith(("_at", "_id")) and v not in (None, "", 0)
    ]
    text = ", ".join(f"{k}: {_value(v)}" for k, v in fields[:max_fields])
    return text + (", …" if len(fields) > max_fields else "")


def _value(value: Any, limit: int = 60) -> str:
    if value is None:
        return "–"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_input(tool_input: Any) -> str:
    """What a tool call does, in one string: its command, path, URL..., else its JSON."""
    if isinstance(tool_input, dict):
        for key in _INPUT_SUMMARY_KEYS:
            value = tool_input.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return json.dumps(tool_input, sort_keys=True, ensure_ascii=False)
