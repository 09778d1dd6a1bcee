"""The dashboard's JSON API: routes, the one write path, and one error shape.

Every endpoint reads or writes through :class:`~nerv.service.DatabaseService`
(the web layer holds no SQL). The server shares one service connection
between its request threads, so every call runs under :attr:`Api.lock`.

Errors, whatever raised them, come out as ``{"error": {"code", "message"}}``
with an HTTP status derived from the nerv error class (the same classes that
give the CLI its exit codes):

====================  ======  =========================
error                 status  code
====================  ======  =========================
NotFoundError         404     ``not_found``
AmbiguousIdError      400     ``ambiguous_id``
ValidationError       400     ``invalid``
ConflictError         409     ``conflict``
ConstraintError       409     ``constraint``
DatabaseError         503     ``database_unavailable``
other NervError       400     ``error``
anything else         500     ``internal`` (no details)
====================  ======  =========================
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from nerv import __version__
from nerv.db import schema
from nerv.errors import (
    AmbiguousIdError,
    ConflictError,
    ConstraintError,
    DatabaseError,
    NervError,
    NotFoundError,
    ValidationError,
)
from nerv.ids import now_ms, short_id
from nerv.service.rules import parse_rule_text
from nerv.service.tables import BY_ENTITY, PROJECTS, REQUESTS, TASKS
from nerv.store.requests import AlreadyDecidedError
from nerv.when import local_midnight_ms, parse_when

if TYPE_CHECKING:
    from nerv.models import ApprovalRequest, AuditEntry, Project, Rule, Task
    from nerv.service import DatabaseService

Json = dict[str, Any]
Query = Mapping[str, list[str]]

DEFAULT_RECENT = 20
# Audit actions that decide an approval request (see service.approvals), and how far back to look.
_DECISION_ACTIONS = frozenset({"approve", "deny", "expire"})
_DECISION_PAGE = 200
_DECISION_PAGES = 10
DEFAULT_AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1000
DEFAULT_COST_DAYS = 14
# Entity types offered by the audit filter besides the tables' own.
_EXTRA_AUDIT_ENTITIES = ("usage",)
# The fields that name a row best, for a created or deleted row's audit summary.
_LABEL_KEYS = ("title", "name", "key", "path", "tool_name", "pattern")
# The fields of a tool's input that say best what a call does, in order of preference.
_INPUT_SUMMARY_KEYS = ("command", "file_path", "notebook_path", "url", "pattern", "path", "query", "prompt")


class ApiError(Exception):
    """A failure with its HTTP status and machine-readable code."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Response:
    status: int
    body: Json
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: Mapping[str, str]  # the route's named groups
    query: Query
    body: Json  # the parsed JSON object of a POST; empty for other methods


Handler = Callable[[Request], Json]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def error_body(code: str, message: str) -> Json:
    return {"error": {"code": code, "message": message}}


def error_response(exc: BaseException) -> Response:
    """The one error shape for any exception (unexpected ones are logged, never shown)."""
    error = as_api_error(exc)
    if error.status >= 500 and not isinstance(exc, ApiError | NervError):
        print("nerv web: internal error while handling a request:", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
    return Response(error.status, error_body(error.code, error.message), error.headers)


def as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, OverflowError | RecursionError):  # a number SQLite cannot hold, a deep value
        return ApiError(400, "bad_request", "a value is out of range or nested too deeply")
    if isinstance(exc, NotFoundError):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, AmbiguousIdError):
        return ApiError(400, "ambiguous_id", str(exc))
    if isinstance(exc, AlreadyDecidedError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, ValidationError):
        return ApiError(400, "invalid", str(exc))
    if isinstance(exc, ConflictError):
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, ConstraintError):
        return ApiError(409, "constraint", str(exc))
    if isinstance(exc, DatabaseError):
        return ApiError(503, "database_unavailable", str(exc))
    if isinstance(exc, NervError):
        return ApiError(400, "error", str(exc))
    return ApiError(500, "internal", "internal error (the details are in the server's log)")


class Api:
    """Routes requests to handlers; reads and writes share one service under :attr:`lock`."""

    def __init__(self, service: DatabaseService, *, default_project: str | None = None) -> None:
        self.service = service
        self.default_project = default_project
        self.lock = threading.RLock()
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/api/health", self.health),
            ("GET", r"/api/projects", self.projects),
            ("GET", r"/api/projects/(?P<project>[^/]+)/board", self.board),
            ("GET", r"/api/projects/(?P<project>[^/]+)/costs", self.project_costs),
            ("GET", r"/api/costs", self.costs),
            ("GET", r"/api/approvals", self.approvals),
            ("GET", r"/api/audit", self.audit),
            ("POST", r"/api/tasks/(?P<task>[^/]+)/move", self.move_task),
            ("POST", r"/api/approvals/(?P<request>[^/]+)/(?P<decision>approve|deny)", self.decide),
        ]
        self.routes = [Route(method, re.compile(pattern), handler) for method, pattern, handler in table]

    # -- dispatch ---------------------------------------------------------------------

    def handle(self, method: str, path: str, query: Query, body: Json | None = None) -> Response:
        """Answer one request; never raises."""
        try:
            route, params = self._route(method, path)
            request = Request(method, path, params, query, body or {})
            if route.method == "POST":
                return Response(200, self.write(route.handler, request))
            with self.lock:
                return Response(200, route.handler(request))
        except Exception as exc:
            return error_response(exc)

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed: list[str] = []
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            if route.method == method:
                return route, {name: unquote(value) for name, value in match.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path} (use {', '.join(sorted(set(allowed)))})",
                {"Allow": ", ".join(sorted(set(allowed)))},
            )
        raise ApiError(404, "not_found", f"no such endpoint: {path}")

    def write(self, handler: Handler, request: Request) -> Json:
        """The one write path: every POST runs here, alone, on the shared service.

        Each service call is its own ``BEGIN IMMEDIATE`` transaction that also
        writes the audit row; a handler that makes several calls wraps them in
        ``service.transaction()`` so that they commit (or roll back) together.
        """
        with self.lock:
            return handler(request)

    # -- reads ------------------------------------------------------------------------

    def health(self, request: Request) -> Json:
        svc = self.service
        return {
            "status": "ok",
            "version": __version__,
            "now": now_ms(),
            "db": str(svc.path),
            "actor": svc.actor,
            "pending_approvals": svc.count_requests("pending"),
        }

    def projects(self, request: Request) -> Json:
        svc = self.service
        default = self.default_project
        if default is None:
            current = svc.current_project()
            default = current.id if current is not None else None
        return {
            "default_project_id": default,
            "projects": [
                {
                    **project_json(p),
                    "task_counts": svc.count_tasks_by_status(p.id),
                    "cost_usd": svc.get_project_cost(p.id),
                    "pending_approvals": svc.count_requests("pending", p.id),
                }
                for p in svc.get_projects()
            ],
        }

    def board(self, request: Request) -> Json:
        project = self._project(request.params["project"])
        columns: dict[str, list[Json]] = {status: [] for status in schema.TASK_STATUSES}
        for task in self.service.get_tasks(project.id):
            columns.setdefault(task.status, []).append(task_json(task))
        return {
            "project": project_json(project),
            "statuses": list(schema.TASK_STATUSES),
            "task_types": list(schema.TASK_TYPES),
            "columns": columns,
        }

    def approvals(self, request: Request) -> Json:
        """Pending requests (oldest first) and the latest decided ones (newest first)."""
        svc = self.service
        project_arg = _param(request.query, "project")
        project_id = self._project(project_arg).id if project_arg else None
        recent_count = _int_param(request.query, "recent", DEFAULT_RECENT, 0, 500)
        names = {p.id: p.name for p in svc.get_projects()}
        with self.lock:  # writes only when a request lost its hook (see expire_orphaned_requests)
            svc.expire_orphaned_requests()
        pending = svc.get_requests("pending", project_id)
        decided = self._recently_decided(recent_count, project_id)
        return {
            "now": now_ms(),
            "pending": [{**request_json(r, names), "suggestions": self._suggestions(r)} for r in pending],
            "recent": [request_json(r, names) for r in decided],
        }

    def _recently_decided(self, count: int, project_id: str | None) -> list[ApprovalRequest]:
        """The ``count`` latest decisions, found through the audit log's decision rows.

        The queue is polled every 2 s: reading every decided request ever made
        (``get_requests(status)``) grows with the history; the audit log gives the
        latest decisions newest first, at a cost bounded by the pages read.
        """
        svc = self.service
        found: dict[str, ApprovalRequest] = {}
        seen: set[str] = set()
        until: int | None = None
        for _ in range(_DECISION_PAGES):
            if len(found) >= count:
                break
            entries = svc.get_audit(
                entity_type=REQUESTS.entity, until=until, limit=_DECISION_PAGE, newest_first=True
            )
            for entry in entries:
                if entry.id in seen or entry.action not in _DECISION_ACTIONS or entry.entity_id in found:
                    continue
                seen.add(entry.id)
                request = svc.get_request(entry.entity_id)
                if request is None or request.status == "pending":
                    continue
                if project_id is None or request.project_id == project_id:
                    found[request.id] = request
                    if len(found) >= count:
                        break
            if len(entries) < _DECISION_PAGE:
                break
            until = entries[-1].at + 1  # rows of that same millisecond are read again, and skipped by id
            seen.update(e.id for e in entries)
        return list(found.values())

    def _suggestions(self, request: ApprovalRequest) -> list[str]:
        """Rules (narrowest first) that would decide calls like this one, for "remember"."""
        from nerv.permissions import MatchContext, propose_patterns

        if not isinstance(request.tool_input, dict):
            return []
        root = None
        if request.cwd:
            repo = self.service.find_repo_for_path(request.cwd)
            root = repo.path if repo is not None else None
        try:
            context = MatchContext(cwd=request.cwd, project_root=root)
            return list(propose_patterns(request.tool_name, request.tool_input, context))
        except Exception:  # a suggestion is optional: an odd input must not break the queue
            return []

    def project_costs(self, request: Request) -> Json:
        """One project's cost: total, today, this month, per day and per session."""
        svc = self.service
        project = self._project(request.params["project"])
        days = _int_param(request.query, "days", DEFAULT_COST_DAYS, 1, 366)
        today = date.today()
        first = today - timedelta(days=days - 1)
        titles = {t.id: t.title for t in svc.get_tasks(project.id)}
        data: Json = {"project": project_json(project), "total_usd": svc.get_project_cost(project.id)}
        summary = svc.usage_summary(project.id)
        per_day = {
            str(row.key): row.cost_usd
            for row in svc.usage_report("day", since=local_midnight_ms(first), project_id=project.id)
        }
        sessions = [
            {
                **row.to_json(),
                "label": row.label,
                "task_title": titles.get(str(row.extra.get("task_id"))),
            }
            for row in svc.usage_report("session", project_id=project.id)
        ]
        data.update(
            source="usage",
            today_usd=summary.today_usd,
            month_usd=summary.month_usd,
            unpriced_responses=summary.month_unpriced,
            budgets=[b.to_json() for b in summary.budgets],
        )
        data["by_day"] = [
            {"day": day, "cost_usd": per_day.get(day, 0.0)}
            for day in ((first + timedelta(days=i)).isoformat() for i in range(days))
        ]
        data["by_session"] = sessions
        return data

    def costs(self, request: Request) -> Json:
        """Cost per project (all time) and all usage today / this month."""
        svc = self.service
        summary = svc.usage_summary(None)  # "today" as `nerv status` counts it
        rows = [
            {"project_id": row.key, "name": row.label, "cost_usd": row.cost_usd, "sessions": row.sessions}
            for row in svc.usage_report("project")
        ]
        return {
            "source": "usage",
            "today_usd": summary.today_usd,
            "month_usd": summary.month_usd,
            "unassigned_sessions": summary.unassigned_sessions,
            "budgets": [b.to_json() for b in summary.budgets],
            "projects": rows,
        }

    def audit(self, request: Request) -> Json:
        """Audit entries, newest first. Filters: entity, entity_id (a prefix will do), since, until, limit."""
        svc = self.service
        entity = _param(request.query, "entity") or None
        ident = _param(request.query, "entity_id") or None
        entity_id = svc.resolve_audit_entity_id(ident, entity) if ident else None
        entries = svc.get_audit(
            entity_type=entity,
            entity_id=entity_id,
            since=_time_param(request.query, "since"),
            until=_time_param(request.query, "until"),
            limit=_int_param(request.query, "limit", DEFAULT_AUDIT_LIMIT, 1, MAX_AUDIT_LIMIT),
            newest_first=True,
        )
        types = set(BY_ENTITY) | set(_EXTRA_AUDIT_ENTITIES) | {e.entity_type for e in entries}
        if entity:
            types.add(entity)
        return {
            "entries": [{**audit_json(e), "summary": change_summary(e)} for e in entries],
            "entity_types": sorted(types),
        }

    # -- writes (each runs inside Api.write) -------------------------------------------

    def move_task(self, request: Request) -> Json:
        """Body: ``{"status": NEW, "from": OLD?}``; ``from`` makes a stale move a 409."""
        body = _fields(request.body, "status", "from")
        status = _str_field(body, "status", required=True)
        expected = _str_field(body, "from")
        svc = self.service
        with svc.transaction():
            task_id = svc.resolve_id(TASKS, request.params["task"])
            current = svc.get_task(task_id)
            if current is None:  # pragma: no cover - resolve_id just found it, in this transaction
                raise NotFoundError("task", task_id)
            if expected is not None and current.status != expected:
                raise ApiError(
                    409, "conflict",
                    f"task {short_id(task_id)} was moved meanwhile: it is {current.status}, not {expected}",
                )
            moved = svc.move_task(task_id, str(status))
        return {"task": task_json(moved), "previous_status": current.status}

    def decide(self, request: Request) -> Json:
        """Approve or deny a pending request.

        Body: ``{"reason": str?, "remember": RULE?, "scope": "project" | "global"?}``. With
        ``remember`` (e.g. ``Bash(npm test:*)``) an allow rule (approve) or deny rule (deny)
        is stored too, for the request's project unless scope is global; both in one
        transaction.
        """
        body = _fields(request.body, "reason", "remember", "scope")
        approve = request.params["decision"] == "approve"
        reason = _str_field(body, "reason")
        remember = (_str_field(body, "remember") or "").strip() or None
        scope = _str_field(body, "scope") or "project"
        if scope not in ("project", "global"):
            raise ApiError(400, "invalid", f"scope must be project or global, got {scope!r}")
        svc = self.service
        request_id = svc.resolve_id(REQUESTS, request.params["request"])
        action = "allow" if approve else "deny"
        rule_project: str | None = None
        if remember is not None and scope == "project":
            current = svc.get_request(request_id)
            if current is None:  # pragma: no cover - resolve_id just found it
                raise NotFoundError("approval_request", request_id)
            if current.project_id is None:
                raise ApiError(
                    400, "invalid", "the request has no project: remember the rule with scope global"
                )
            rule_project = current.project_id
        # The same call as `nerv approvals approve|deny`: decision and rule in one
        # transaction, an identical rule that already exists kept as it is.
        decided = svc.decide_request(
            request_id, "approved" if approve else "denied", reason=reason, add_rule=remember,
            rule_project_id=rule_project,
            rule_note=f"from the dashboard ({'approved' if approve else 'denied'} request "
            f"{short_id(request_id)})",
        )
        rule: Rule | None = None
        if remember is not None:
            rule = svc.find_rule(*parse_rule_text(remember), action, rule_project)
        names = {p.id: p.name for p in svc.get_projects()}
        return {"request": request_json(decided, names), "rule": None if rule is None else rule_json(rule)}

    # -- helpers ----------------------------------------------------------------------

    def _project(self, ident: str) -> Project:
        project_id = self.service.resolve_id(PROJECTS, ident)
        project = self.service.get_project(project_id)
        if project is None:  # pragma: no cover - resolve_id just found it
            raise NotFoundError("project", ident)
        return project


# -- JSON shapes ----------------------------------------------------------------------------


def project_json(project: Project) -> Json:
    return {**dataclasses.asdict(project), "short_id": short_id(project.id)}


def task_json(task: Task) -> Json:
    return {**dataclasses.asdict(task), "short_id": short_id(task.id)}


def rule_json(rule: Rule) -> Json:
    return {**dataclasses.asdict(rule), "rule": rule.rule_text, "short_id": short_id(rule.id)}


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


# -- request parsing --------------------------------------------------------------------------


def _param(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1].strip() if values else None


def _int_param(query: Query, name: str, default: int, low: int, high: int) -> int:
    raw = _param(query, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ApiError(400, "invalid", f"{name} must be between {low} and {high}, got {value}")
    return value


def _time_param(query: Query, name: str) -> int | None:
    """Epoch milliseconds, an ISO date/datetime, or an age such as ``2h`` / ``7d``."""
    raw = _param(query, name)
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    return parse_when(raw)


def _fields(body: Json, *allowed: str) -> Json:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        expected = ", ".join(allowed)
        raise ApiError(400, "invalid", f"unknown field(s): {', '.join(unknown)} (expected {expected})")
    return body


def _str_field(body: Json, name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, "invalid", f"missing field: {name}")
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid", f"{name} must be a string")
    return value
