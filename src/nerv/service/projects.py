"""Projects, their repositories and development cycles."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from nerv.errors import ConstraintError, NotFoundError, ValidationError
from nerv.ids import now_ms
from nerv.models import Cycle, Project, Repo
from nerv.service.base import ServiceBase
from nerv.service.tables import CYCLES, PROJECTS, REPOS, RULES, SETTINGS

CURRENT_PROJECT_KEY = "project.current"


class ProjectsMixin(ServiceBase):
    # -- projects -------------------------------------------------------------

    def create_project(self, name: str, goal: str | None = None) -> Project:
        return self._insert(PROJECTS, {"name": name.strip() if isinstance(name, str) else name, "goal": goal})

    def get_projects(self) -> list[Project]:
        rows = self._read("SELECT * FROM projects ORDER BY created_at, rowid")
        return [Project(**r) for r in rows]

    def get_project(self, id: str) -> Project | None:
        return self._get(PROJECTS, id)

    def update_project(self, id: str, updates: Mapping[str, Any]) -> Project:
        return self._update(PROJECTS, id, updates)

    def delete_project(self, id: str) -> None:
        """Delete an empty project (its repos, settings and rules go with it, each audited);
        refuse while work hangs off it. Checked and done in one transaction."""
        with self.transaction() as conn:
            self._require(PROJECTS, id)
            counts = {}
            for table, label in (
                ("tasks", "tasks"),
                ("claude_sessions", "sessions"),
                ("cycles", "cycles"),
                ("decisions", "decisions"),
                ("approval_requests", "approval requests"),
            ):
                row = conn.execute(f"SELECT count(*) FROM {table} WHERE project_id = ?", (id,)).fetchone()
                if row and row[0]:
                    counts[label] = int(row[0])
            if counts:
                listed = ", ".join(f"{n} {label}" for label, n in counts.items())
                raise ConstraintError(f"project {id} still has {listed}; delete or move them first")
            for spec in (REPOS, SETTINGS, RULES):
                owned = conn.execute(f"SELECT id FROM {spec.table} WHERE project_id = ?", (id,)).fetchall()
                for (owned_id,) in owned:
                    self._delete(spec, owned_id)
            self._delete(PROJECTS, id)

    def current_project(self) -> Project | None:
        """The project chosen with ``use_project``, else the most recently created one."""
        row = self._read_one(
            "SELECT value FROM settings WHERE project_id IS NULL AND key = ?", (CURRENT_PROJECT_KEY,)
        )
        if row is not None:
            chosen = json.loads(row[0])
            if isinstance(chosen, str):
                project = self.get_project(chosen)
                if project is not None:
                    return project
        latest = self._read_one("SELECT * FROM projects ORDER BY created_at DESC, rowid DESC LIMIT 1")
        return None if latest is None else Project(**latest)

    def use_project(self, id: str) -> Project:
        project = self._require(PROJECTS, id)
        self._put_setting(CURRENT_PROJECT_KEY, project.id, None)
        return project

    # -- repositories ----------------------------------------------------------

    def add_repo(
        self, project_id: str, path: str, name: str | None = None, default_branch: str = "main"
    ) -> Repo:
        full = normalize_path(path)
        return self._insert(
            REPOS,
            {
                "project_id": project_id,
                "path": full,
                "name": name or os.path.basename(full) or full,
                "default_branch": default_branch,
            },
        )

    def get_repos(self, project_id: str | None = None) -> list[Repo]:
        if project_id is None:
            rows = self._read("SELECT * FROM project_repos ORDER BY created_at, rowid")
        else:
            rows = self._read(
                "SELECT * FROM project_repos WHERE project_id = ? ORDER BY created_at, rowid", (project_id,)
            )
        return [Repo(**r) for r in rows]

    def get_repo(self, id: str) -> Repo | None:
        return self._get(REPOS, id)

    def update_repo(self, id: str, updates: Mapping[str, Any]) -> Repo:
        if "path" in updates and isinstance(updates["path"], str):
            updates = {**updates, "path": normalize_path(updates["path"])}
        return self._update(REPOS, id, updates)

    def remove_repo(self, id: str) -> None:
        self._delete(REPOS, id)

    def find_repo_for_path(self, path: str) -> Repo | None:
        """The nearest repository enclosing ``path`` (the deepest registered ancestor)."""
        from nerv.store.reads import enclosing_dirs  # the hook finds projects the same way

        if not isinstance(path, str) or not path.strip():
            raise ValidationError("path must not be empty")
        candidates = enclosing_dirs(path)
        marks = ", ".join("?" for _ in candidates)
        row = self._read_one(
            f"SELECT * FROM project_repos WHERE path IN ({marks}) "
            "ORDER BY length(path) DESC, created_at LIMIT 1",
            candidates,
        )
        return None if row is None else Repo(**row)

    # -- cycles --------------------------------------------------------------------

    def create_cycle(self, project_id: str, goal: str | None = None, status: str = "active") -> Cycle:
        """Open the project's next numbered cycle."""
        with self.transaction():
            self._require(PROJECTS, project_id)
            row = self._read_one(
                "SELECT coalesce(max(number), 0) FROM cycles WHERE project_id = ?", (project_id,)
            )
            number = int(row[0]) + 1 if row else 1
            started = now_ms() if status == "active" else None
            return self._insert(
                CYCLES,
                {
                    "project_id": project_id,
                    "number": number,
                    "goal": goal,
                    "status": status,
                    "started_at": started,
                },
            )

    def get_cycles(self, project_id: str, status: str | None = None) -> list[Cycle]:
        if status is None:
            rows = self._read("SELECT * FROM cycles WHERE project_id = ? ORDER BY number", (project_id,))
        else:
            self._validate(CYCLES, {"status": status})
            rows = self._read(
                "SELECT * FROM cycles WHERE project_id = ? AND status = ? ORDER BY number",
                (project_id, status),
            )
        return [Cycle(**r) for r in rows]

    def get_cycle(self, id: str) -> Cycle | None:
        return self._get(CYCLES, id)

    def update_cycle(self, id: str, updates: Mapping[str, Any]) -> Cycle:
        return self._update(CYCLES, id, updates)

    def complete_cycle(self, id: str, learnings: str | None = None) -> Cycle:
        cycle = self._get(CYCLES, id)
        if cycle is None:
            raise NotFoundError("cycle", id)
        if cycle.status == "completed":
            raise ValidationError(f"cycle {cycle.number} is already completed")
        updates: dict[str, object] = {"status": "completed", "completed_at": now_ms()}
        if learnings is not None:
            updates["learnings"] = learnings
        if cycle.started_at is None:
            updates["started_at"] = updates["completed_at"]
        return self._update(CYCLES, id, updates)


def normalize_path(path: str) -> str:
    """Absolute, with ``~``, ``.`` and ``..`` resolved (symlinks left as the user wrote them)."""
    if not isinstance(path, str) or not path.strip():
        raise ValidationError("path must not be empty")
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))
