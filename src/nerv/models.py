"""Typed entities: one dataclass per table, attributes = column names.

They are snapshots of a row: changing one changes nothing in the database
(writes go through DatabaseService). Not frozen on purpose: a frozen
dataclass's __init__ sets each field through object.__setattr__, which made
listing thousands of rows about 7x slower to build (see docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Project:
    id: str
    name: str
    goal: str | None
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Repo:
    id: str
    project_id: str
    name: str
    path: str
    default_branch: str
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Cycle:
    id: str
    project_id: str
    number: int
    goal: str | None
    status: str
    learnings: str | None
    started_at: int | None
    completed_at: int | None
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Task:
    id: str
    project_id: str
    cycle_id: str | None
    title: str
    description: str | None
    type: str
    status: str
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Session:
    id: str
    project_id: str | None
    task_id: str | None
    status: str
    started_at: int
    ended_at: int | None
    tokens_input: int
    tokens_output: int
    cost_usd: float
    claude_session_id: str | None
    tokens_cache_read: int
    tokens_cache_write_5m: int
    tokens_cache_write_1h: int
    model: str | None
    cwd: str | None
    transcript_path: str | None
    updated_at: int


@dataclass(slots=True)
class Rule:
    id: str
    pattern: str
    action: str
    tool: str
    created_at: int
    project_id: str | None
    enabled: bool
    note: str | None
    updated_at: int
    match_key: str

    @property
    def rule_text(self) -> str:
        """The combined Claude Code form, e.g. ``Bash(npm test:*)``."""
        return f"{self.tool}({self.pattern})" if self.pattern not in ("", "*") else self.tool


@dataclass(slots=True)
class ApprovalRequest:
    id: str
    project_id: str | None
    session_id: str | None
    task_id: str | None
    tool_name: str
    tool_input: dict[str, Any]
    cwd: str | None
    status: str
    reason: str | None
    decided_by: str | None
    decided_at: int | None
    created_at: int
    updated_at: int
    expires_at: int | None = None  # when the queued hook stops waiting (epoch ms)


@dataclass(slots=True)
class Decision:
    id: str
    project_id: str
    cycle_id: str | None
    title: str
    context: str | None
    decision: str | None
    alternatives: str | None
    consequences: str | None
    status: str
    superseded_by: str | None
    created_at: int
    updated_at: int


@dataclass(slots=True)
class Metric:
    id: str
    session_id: str
    external_id: str | None
    model: str | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    cost_usd: float
    recorded_at: int
    created_at: int


@dataclass(slots=True)
class AuditEntry:
    id: str
    at: int
    actor: str
    entity_type: str
    entity_id: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(slots=True)
class Setting:
    id: str
    project_id: str | None
    key: str
    value: Any
    created_at: int
    updated_at: int
