"""Kanban tasks."""

from __future__ import annotations

from typing import Any

from nerv.db import schema
from nerv.models import Task
from nerv.service.base import ServiceBase
from nerv.service.tables import TASKS

_CREATE_FIELDS = frozenset({"description", "type", "status", "cycle_id"})


class TasksMixin(ServiceBase):
    def create_task(self, project_id: str, title: str, **fields: Any) -> Task:
        values: dict[str, Any] = {"project_id": project_id, "title": title}
        values.update(fields)
        values.setdefault("type", "implementation")
        values.setdefault("status", "todo")
        extra = set(fields) - _CREATE_FIELDS
        if extra:
            from nerv.errors import ValidationError

            raise ValidationError(f"unknown task field(s): {', '.join(sorted(extra))}")
        return self._insert(TASKS, values)

    def get_tasks(self, project_id: str, status: str | None = None) -> list[Task]:
        """Tasks of a project, oldest first; ``status`` filters in SQL (index tasks_project_status)."""
        if status is None:
            return self._select(TASKS, "WHERE project_id = ? ORDER BY created_at, rowid", (project_id,))
        self._check(TASKS, {"status": status})
        return self._select(
            TASKS, "WHERE project_id = ? AND status = ? ORDER BY created_at, rowid", (project_id, status)
        )

    def get_cycle_tasks(self, cycle_id: str) -> list[Task]:
        """Tasks assigned to a cycle, oldest first (index tasks_cycle)."""
        rows = self._read("SELECT * FROM tasks WHERE cycle_id = ? ORDER BY created_at, rowid", (cycle_id,))
        return [Task(**r) for r in rows]

    def get_task(self, id: str) -> Task | None:
        return self._get(TASKS, id)

    def update_task(self, id: str, updates: dict[str, Any]) -> Task:
        return self._update(TASKS, id, updates)

    def move_task(self, id: str, status: str) -> Task:
        return self._update(TASKS, id, {"status": status}, action="move")

    def delete_task(self, id: str) -> None:
        self._delete(TASKS, id)

    def count_tasks_by_status(self, project_id: str) -> dict[str, int]:
        counts = dict.fromkeys(schema.TASK_STATUSES, 0)
        for row in self._read(
            "SELECT status, count(*) FROM tasks WHERE project_id = ? GROUP BY status", (project_id,)
        ):
            counts[row[0]] = int(row[1])
        return counts
