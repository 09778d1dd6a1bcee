"""Table descriptions for the generic write path (see base.TableSpec)."""

from __future__ import annotations

import json
from typing import Any

from nerv.db import schema
from nerv.models import (
    ApprovalRequest,
    Cycle,
    Decision,
    Metric,
    Project,
    Repo,
    Rule,
    Session,
    Setting,
    Task,
)
from nerv.service.base import TableSpec


def _columns(cls: Any) -> tuple[str, ...]:
    return tuple(cls.__dataclass_fields__)


def _loads(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


PROJECTS: TableSpec[Project] = TableSpec(
    table="projects",
    entity="project",
    make=lambda r: Project(**r),
    model=Project,
    columns=_columns(Project),
    updatable=frozenset({"name", "goal"}),
    required=frozenset({"name"}),
)

REPOS: TableSpec[Repo] = TableSpec(
    table="project_repos",
    entity="repo",
    make=lambda r: Repo(**r),
    model=Repo,
    columns=_columns(Repo),
    updatable=frozenset({"name", "path", "default_branch"}),
    references={"project_id": ("projects", "project")},
    required=frozenset({"name", "path", "default_branch"}),
)

CYCLES: TableSpec[Cycle] = TableSpec(
    table="cycles",
    entity="cycle",
    make=lambda r: Cycle(**r),
    model=Cycle,
    columns=_columns(Cycle),
    updatable=frozenset({"goal", "status", "learnings", "started_at", "completed_at"}),
    enums={"status": schema.CYCLE_STATUSES},
    references={"project_id": ("projects", "project")},
)

TASKS: TableSpec[Task] = TableSpec(
    table="tasks",
    entity="task",
    make=lambda r: Task(**r),
    model=Task,
    columns=_columns(Task),
    updatable=frozenset({"title", "description", "type", "status", "cycle_id", "project_id"}),
    enums={"status": schema.TASK_STATUSES, "type": schema.TASK_TYPES},
    references={"project_id": ("projects", "project"), "cycle_id": ("cycles", "cycle")},
    required=frozenset({"title", "project_id"}),
)

SESSIONS: TableSpec[Session] = TableSpec(
    table="claude_sessions",
    entity="session",
    make=lambda r: Session(**r),
    model=Session,
    columns=_columns(Session),
    updatable=frozenset(_columns(Session)) - {"id", "updated_at"},
    enums={"status": schema.SESSION_STATUSES},
    references={"project_id": ("projects", "project"), "task_id": ("tasks", "task")},
)


def _make_rule(r: Any) -> Rule:
    values = dict(r)
    values["enabled"] = bool(values["enabled"])
    return Rule(**values)


RULES: TableSpec[Rule] = TableSpec(
    table="approval_rules",
    entity="rule",
    make=_make_rule,
    columns=_columns(Rule),
    updatable=frozenset({"pattern", "action", "tool", "project_id", "enabled", "note", "match_key"}),
    enums={"action": schema.RULE_ACTIONS},
    references={"project_id": ("projects", "project")},
    required=frozenset({"tool"}),
)


def _make_request(r: Any) -> ApprovalRequest:
    values = dict(r)
    values["tool_input"] = _loads(values["tool_input"])
    return ApprovalRequest(**values)


REQUESTS: TableSpec[ApprovalRequest] = TableSpec(
    table="approval_requests",
    entity="approval_request",
    make=_make_request,
    columns=_columns(ApprovalRequest),
    updatable=frozenset(
        {"status", "reason", "decided_by", "decided_at", "project_id", "session_id", "task_id"}
    ),
    enums={"status": schema.REQUEST_STATUSES},
    references={
        "project_id": ("projects", "project"),
        "session_id": ("claude_sessions", "session"),
        "task_id": ("tasks", "task"),
    },
    required=frozenset({"tool_name"}),
)

DECISIONS: TableSpec[Decision] = TableSpec(
    table="decisions",
    entity="decision",
    make=lambda r: Decision(**r),
    model=Decision,
    columns=_columns(Decision),
    updatable=frozenset(
        {"title", "context", "decision", "alternatives", "consequences", "status", "superseded_by",
         "cycle_id"}
    ),
    enums={"status": schema.DECISION_STATUSES},
    references={
        "project_id": ("projects", "project"),
        "cycle_id": ("cycles", "cycle"),
        "superseded_by": ("decisions", "decision"),
    },
    required=frozenset({"title"}),
)

METRICS: TableSpec[Metric] = TableSpec(
    table="metrics",
    entity="metric",
    make=lambda r: Metric(**r),
    model=Metric,
    columns=_columns(Metric),
    updatable=frozenset(
        {
            "model",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_5m_tokens",
            "cache_write_1h_tokens",
            "cost_usd",
            "recorded_at",
        }
    ),
    references={"session_id": ("claude_sessions", "session")},
    touches_updated_at=False,
)


def _make_setting(r: Any) -> Setting:
    values = dict(r)
    values["value"] = _loads(values["value"])
    return Setting(**values)


SETTINGS: TableSpec[Setting] = TableSpec(
    table="settings",
    entity="setting",
    make=_make_setting,
    columns=_columns(Setting),
    updatable=frozenset({"value"}),
    references={"project_id": ("projects", "project")},
)

BY_ENTITY: dict[str, TableSpec[Any]] = {
    spec.entity: spec
    for spec in (PROJECTS, REPOS, CYCLES, TASKS, SESSIONS, RULES, REQUESTS, DECISIONS, METRICS, SETTINGS)
}
