"""Cycles and decisions of a project, as the dashboard's planning views read them.

* ``GET /api/projects/{project}/cycles`` — every cycle, newest first, with its tasks and their counts
* ``GET /api/projects/{project}/decisions?status=`` — the decision records, newest first
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerv.db import schema
from nerv.errors import NotFoundError
from nerv.service.tables import PROJECTS
from nerv.web.protocol import Handler, Json, Request, param
from nerv.web.shapes import cycle_json, decision_json, project_json, task_json

if TYPE_CHECKING:
    from nerv.models import Project
    from nerv.service import DatabaseService


class PlanningRoutes:
    """Mixed into :class:`nerv.web.api.Api` (reads only)."""

    service: DatabaseService

    def planning_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", r"/api/projects/(?P<project>[^/]+)/cycles", self.cycles),
            ("GET", r"/api/projects/(?P<project>[^/]+)/decisions", self.decisions),
        ]

    def cycles(self, request: Request) -> Json:
        svc = self.service
        project = self._planning_project(request.params["project"])
        shaped = []
        planned = 0
        for cycle in reversed(svc.get_cycles(project.id)):
            tasks = svc.get_cycle_tasks(cycle.id)
            planned += len(tasks)
            counts = dict.fromkeys(schema.TASK_STATUSES, 0)
            for task in tasks:
                counts[task.status] = counts.get(task.status, 0) + 1
            tasks_json = [task_json(t) for t in tasks]
            shaped.append({**cycle_json(cycle), "task_counts": counts, "tasks": tasks_json})
        total = sum(svc.count_tasks_by_status(project.id).values())
        return {
            "project": project_json(project),
            "statuses": list(schema.CYCLE_STATUSES),
            "cycles": shaped,
            "tasks_without_cycle": total - planned,
        }

    def decisions(self, request: Request) -> Json:
        svc = self.service
        project = self._planning_project(request.params["project"])
        status = param(request.query, "status") or None
        every = svc.get_decisions(project.id)
        titles = {d.id: d.title for d in every}
        numbers = {c.id: c.number for c in svc.get_cycles(project.id)}
        chosen = every if status is None else svc.get_decisions(project.id, status)
        counts = dict.fromkeys(schema.DECISION_STATUSES, 0)
        for decision in every:
            counts[decision.status] = counts.get(decision.status, 0) + 1
        return {
            "project": project_json(project),
            "statuses": list(schema.DECISION_STATUSES),
            "counts": counts,
            "decisions": [
                {
                    **decision_json(d),
                    "cycle_number": numbers.get(d.cycle_id or ""),
                    "superseded_by_title": titles.get(d.superseded_by or ""),
                }
                for d in reversed(chosen)
            ],
        }

    def _planning_project(self, ident: str) -> Project:
        project = self.service.get_project(self.service.resolve_id(PROJECTS, ident))
        if project is None:  # pragma: no cover - resolve_id just found it
            raise NotFoundError("project", ident)
        return project
