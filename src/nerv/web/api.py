"""The dashboard's JSON API: routes, the one write path, and one error shape.

Every endpoint reads or writes through :class:`~nerv.service.DatabaseService`
(the web layer holds no SQL). The server shares one service connection
between its request threads, so every call runs under :attr:`Api.lock`.
The endpoints of tasks, cycles and decisions, and rules live in their own
modules (:mod:`nerv.web.tasks`, :mod:`nerv.web.planning`, :mod:`nerv.web.rules`);
the request types and the error shape in :mod:`nerv.web.protocol`.
"""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from typing import TYPE_CHECKING
from urllib.parse import unquote

from nerv import __version__
from nerv.db import schema
from nerv.errors import NotFoundError
from nerv.ids import now_ms, short_id
from nerv.service.rules import parse_rule_text
from nerv.service.tables import BY_ENTITY, PROJECTS, REQUESTS, TASKS
from nerv.usage.report import money_json
from nerv.web.planning import PlanningRoutes
from nerv.web.protocol import (
    ApiError,
    Handler,
    Json,
    Query,
    Request,
    Response,
    Route,
    error_body,
    error_response,
)
from nerv.web.protocol import fields as _fields
from nerv.web.protocol import int_param as _int_param
from nerv.web.protocol import param as _param
from nerv.web.protocol import str_field as _str_field
from nerv.web.rules import RuleRoutes
from nerv.web.shapes import (
    audit_json,
    change_summary,
    cycle_json,
    project_json,
    request_json,
    rule_json,
    task_json,
)
from nerv.web.tasks import TaskRoutes
from nerv.when import local_midnight_ms, parse_when

if TYPE_CHECKING:
    from nerv.models import ApprovalRequest, Project, Rule
    from nerv.service import DatabaseService
    from nerv.usage.report import ReportRow

__all__ = ["Api", "ApiError", "Json", "Query", "Request", "Response", "error_body", "error_response"]

DEFAULT_RECENT = 20
# Audit actions that decide an approval request (see service.approvals), and how far back to look.
_DECISION_ACTIONS = frozenset({"approve", "deny", "expire"})
_DECISION_PAGE = 200
_DECISION_PAGES = 10
DEFAULT_AUDIT_LIMIT = 100
MAX_AUDIT_LIMIT = 1000
DEFAULT_COST_DAYS = 14
MAX_COST_DAYS = 366
# As the hook: a queued call waits approval.timeout_seconds, 50 s unless set (see nerv.hook).
DEFAULT_APPROVAL_TIMEOUT_S = 50.0
# Entity types offered by the audit filter besides the tables' own.
_EXTRA_AUDIT_ENTITIES = ("usage",)


class Api(TaskRoutes, PlanningRoutes, RuleRoutes):
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
            *self.task_routes(),
            *self.planning_routes(),
            *self.rule_routes(),
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
            "cycles": [cycle_json(c) for c in self.service.get_cycles(project.id)],
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
        # The hook stores its deadline (expires_at); a request filed without one (by an older
        # hook, or not by a hook) is given the deadline its project's setting implies.
        timeouts: dict[str | None, float] = {}
        for r in pending:
            if r.expires_at is None and r.project_id not in timeouts:
                timeouts[r.project_id] = self._approval_timeout(r.project_id)
        return {
            "now": now_ms(),
            "pending": [
                {
                    **request_json(r, names),
                    "suggestions": self._suggestions(r),
                    "expires_at": r.expires_at
                    if r.expires_at is not None
                    else r.created_at + int(timeouts[r.project_id] * 1000),
                }
                for r in pending
            ],
            "recent": [request_json(r, names) for r in decided],
        }

    def _approval_timeout(self, project_id: str | None) -> float:
        """How long the hook waits for a decision on a call of this project (its setting, as the hook)."""
        value = self.service.get_setting("approval.timeout_seconds", project_id)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            return DEFAULT_APPROVAL_TIMEOUT_S
        return float(value)

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
        """One project's cost: total, today, this month, and per day, model and session over a range.

        The range is ``from`` / ``to`` (days, both included) or the last ``days`` days.
        """
        svc = self.service
        project = self._project(request.params["project"])
        first, last = _day_range(request.query)
        since, until = local_midnight_ms(first), local_midnight_ms(last + timedelta(days=1))
        titles = {t.id: t.title for t in svc.get_tasks(project.id)}
        summary = svc.usage_summary(project.id)
        per_day = {
            str(row.key): row.cost_usd
            for row in svc.usage_report("day", since=since, until=until, project_id=project.id)
        }
        models = svc.usage_report("model", since=since, until=until, project_id=project.id)
        sessions = [
            {**row.to_json(), "label": row.label, "task_title": titles.get(str(row.extra.get("task_id")))}
            for row in svc.usage_report("session", since=since, until=until, project_id=project.id)
        ]
        return {
            "project": project_json(project),
            "source": "usage",
            "total_usd": svc.get_project_cost(project.id),
            "today_usd": summary.today_usd,
            "month_usd": summary.month_usd,
            "unpriced_responses": summary.month_unpriced,
            "budgets": [b.to_json() for b in summary.budgets],
            **_range_json(first, last, models),
            "by_day": [
                {"day": day, "cost_usd": per_day.get(day, 0.0)}
                for day in ((first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1))
            ],
            "by_model": [_model_json(row) for row in models],
            "by_session": sessions,
        }

    def costs(self, request: Request) -> Json:
        """All usage: today, this month, and per project and per model over a range (as project_costs)."""
        svc = self.service
        first, last = _day_range(request.query)
        since, until = local_midnight_ms(first), local_midnight_ms(last + timedelta(days=1))
        summary = svc.usage_summary(None)
        models = svc.usage_report("model", since=since, until=until)
        rows = [
            {"project_id": row.key, "name": row.label, "cost_usd": row.cost_usd, "sessions": row.sessions}
            for row in svc.usage_report("project", since=since, until=until)
        ]
        return {
            "source": "usage",
            "today_usd": summary.today_usd,
            "month_usd": summary.month_usd,
            "unassigned_sessions": summary.unassigned_sessions,
            "budgets": [b.to_json() for b in summary.budgets],
            **_range_json(first, last, models),
            "projects": rows,
            "by_model": [_model_json(row) for row in models],
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


# -- cost shapes ---------------------------------------------------------------------------------


def _range_json(first: date, last: date, models: list[ReportRow]) -> Json:
    """The range a cost view covers and what it cost (every response in it counts once per model)."""
    return {
        "range": {"from": first.isoformat(), "to": last.isoformat(), "days": (last - first).days + 1},
        **money_json(sum(row.cost_nano for row in models), "range"),  # range_usd, range_nanousd: exact
        "range_unpriced_responses": sum(row.unpriced for row in models),
        "range_responses": sum(row.responses for row in models),
    }


def _model_json(row: ReportRow) -> Json:
    return {**row.to_json(), "label": row.label}


# -- request parsing --------------------------------------------------------------------------


def _time_param(query: Query, name: str) -> int | None:
    """Epoch milliseconds, an ISO date/datetime, or an age such as ``2h`` / ``7d``."""
    raw = _param(query, name)
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    return parse_when(raw)


def _day_param(query: Query, name: str) -> date | None:
    raw = _param(query, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(400, "invalid", f"{name} must be a date (YYYY-MM-DD), got {raw!r}") from None


def _day_range(query: Query) -> tuple[date, date]:
    """The days a cost view covers, both included: ``from`` / ``to``, else the last ``days`` days."""
    first, last = _day_param(query, "from"), _day_param(query, "to")
    if first is None and last is None:
        days = _int_param(query, "days", DEFAULT_COST_DAYS, 1, MAX_COST_DAYS)
        last = date.today()
        return last - timedelta(days=days - 1), last
    if "days" in query:
        raise ApiError(400, "invalid", "give either days or from / to, not both")
    last = last or date.today()
    first = first or last - timedelta(days=DEFAULT_COST_DAYS - 1)
    if first > last:
        raise ApiError(400, "invalid", f"from ({first}) is after to ({last})")
    if (last - first).days + 1 > MAX_COST_DAYS:
        raise ApiError(400, "invalid", f"a cost range covers at most {MAX_COST_DAYS} days")
    return first, last
