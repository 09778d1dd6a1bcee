"""Task endpoints: create, edit and open a task (its sessions, cost and audit trail).

Routes (see :class:`TaskRoutes`):

* ``POST /api/projects/{project}/tasks`` — create; body ``{title, description?, type?, status?, cycle_id?}``
* ``GET  /api/tasks/{task}`` — the task with its project, cycle, sessions, cost (per model too) and
  audit trail
* ``POST /api/tasks/{task}`` — edit; body: any of the create fields, plus ``updated_at``
  (the version the editor started from: a task changed meanwhile is a 409, not overwritten)
* ``POST /api/tasks/{task}/move`` — lives in :mod:`nerv.web.api` (the board's drag and drop)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nerv.db import schema
from nerv.errors import NotFoundError
from nerv.ids import short_id
from nerv.service.tables import CYCLES, PROJECTS, TASKS
from nerv.web.protocol import ApiError, Handler, Json, Request, fields, invalid, str_field
from nerv.web.shapes import audit_json, change_summary, cycle_json, project_json, session_json, task_json

if TYPE_CHECKING:
    from nerv.models import Task
    from nerv.service import DatabaseService

_TASK_FIELDS = ("title", "description", "type", "status", "cycle_id")
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000


class TaskRoutes:
    """Mixed into :class:`nerv.web.api.Api`; every POST runs inside its one write path."""

    service: DatabaseService

    def task_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", r"/api/projects/(?P<project>[^/]+)/tasks", self.create_task),
            ("GET", r"/api/tasks/(?P<task>[^/]+)", self.task_detail),
            ("POST", r"/api/tasks/(?P<task>[^/]+)", self.edit_task),
        ]

    def task_detail(self, request: Request) -> Json:
        svc = self.service
        task = self._task(request.params["task"])
        project = svc.get_project(task.project_id)
        if project is None:  # pragma: no cover - a task's project cannot be deleted before it
            raise NotFoundError("project", task.project_id)
        cycles = svc.get_cycles(project.id)
        sessions = svc.get_task_sessions(task.id)
        tokens = dict.fromkeys(("input", "output", "cache_write_5m", "cache_write_1h", "cache_read"), 0)
        shaped = [session_json(s) for s in sessions]
        for session in shaped:
            for key in tokens:
                tokens[key] += session["tokens"][key]
        audit = svc.get_audit(entity_type=TASKS.entity, entity_id=task.id, newest_first=True)
        per_task = svc.usage_report("task", project_id=task.project_id, breakdown=True)
        usage = next((r for r in per_task if r.key == task.id), None)
        models = [] if usage is None or usage.breakdown is None else [m.to_json() for m in usage.breakdown]
        return {
            "task": task_json(task),
            "project": project_json(project),
            "cycle": next((cycle_json(c) for c in cycles if c.id == task.cycle_id), None),
            "cycles": [cycle_json(c) for c in cycles],
            "statuses": list(schema.TASK_STATUSES),
            "task_types": list(schema.TASK_TYPES),
            "sessions": shaped,
            "cost": {
                "total_usd": sum(s.cost_usd for s in sessions),
                "tokens": tokens,
                "sessions": len(sessions),
                "by_model": models,  # as `nerv usage report --by task --breakdown`
            },
            "audit": [{**audit_json(e), "summary": change_summary(e)} for e in audit],
        }

    def create_task(self, request: Request) -> Json:
        svc = self.service
        body = fields(request.body, *_TASK_FIELDS)
        values = self._task_values(body)
        if "title" not in values:
            raise invalid("missing field: title")
        with svc.transaction():
            project_id = svc.resolve_id(PROJECTS, request.params["project"])
            if "cycle_id" in values:
                values["cycle_id"] = self._cycle_of(project_id, values["cycle_id"])
            title = values.pop("title")
            task = svc.create_task(project_id, title, **values)
        return {"task": task_json(task)}

    def edit_task(self, request: Request) -> Json:
        svc = self.service
        body = fields(request.body, *_TASK_FIELDS, "updated_at")
        version = body.get("updated_at")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise invalid("updated_at must be a whole number (the task's updated_at when editing began)")
        values = self._task_values(body)
        with svc.transaction():
            current = self._task(request.params["task"])
            if version is not None and current.updated_at != version:
                raise ApiError(
                    409, "conflict",
                    f"task {short_id(current.id)} was changed meanwhile: reload it and edit again",
                )
            if "cycle_id" in values:
                values["cycle_id"] = self._cycle_of(current.project_id, values["cycle_id"])
            task = svc.update_task(current.id, values) if values else current
        return {"task": task_json(task)}

    # -- helpers ----------------------------------------------------------------------------

    def _task(self, ident: str) -> Task:
        svc = self.service
        task_id = svc.resolve_id(TASKS, ident)
        task = svc.get_task(task_id)
        if task is None:  # pragma: no cover - resolve_id just found it
            raise NotFoundError("task", ident)
        return task

    def _cycle_of(self, project_id: str, ident: str | None) -> str | None:
        """The full id of a cycle of this project (``None``/empty: no cycle)."""
        if not ident:
            return None
        svc = self.service
        cycle = svc.get_cycle(svc.resolve_id(CYCLES, ident))
        if cycle is None:  # pragma: no cover - resolve_id just found it
            raise NotFoundError("cycle", ident)
        if cycle.project_id != project_id:
            raise invalid(f"cycle {cycle.number} ({short_id(cycle.id)}) belongs to another project")
        return cycle.id

    @staticmethod
    def _task_values(body: Json) -> dict[str, Any]:
        """The task fields present in a body, type-checked; blank text fields become empty (None)."""
        values: dict[str, Any] = {}
        for name in _TASK_FIELDS:
            if name not in body:
                continue
            value = str_field(body, name)
            if name == "title":
                value = (value or "").strip()
                if not value:
                    raise invalid("title must not be empty")
                if len(value) > MAX_TITLE:
                    raise invalid(f"title is longer than {MAX_TITLE} characters")
            elif name == "description":
                if value is not None and len(value) > MAX_DESCRIPTION:
                    raise invalid(f"description is longer than {MAX_DESCRIPTION} characters")
                value = value if value and value.strip() else None
            elif name in ("type", "status") and value is None:
                raise invalid(f"{name} must be a string")
            values[name] = value
        return values
