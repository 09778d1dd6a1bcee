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
from nerv.service.settings import CURRENT_PROJECT_KEY
from nerv.service.tables import CYCLES, DECISIONS, PROJECTS, REPOS, TASKS


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

    def project_contents(self, id: str) -> dict[str, int]:
        """How many rows of each kind a project owns (what a cascading delete would remove)."""
        from nerv.store import cascade as store_cascade

        return store_cascade.contents(self._conn, id)

    def delete_project(self, id: str, *, cascade: bool = False) -> dict[str, int]:
        """Delete a project, in one transaction; returns how many rows of each kind went with it.

        Without ``cascade`` only an empty project goes (its repos, settings and rules
        with it); work hanging off it is refused. With ``cascade`` everything in it goes
        too: approval requests, sessions and their metrics, decisions, tasks, cycles.
        Every row but the metrics gets its own audit row (metrics are never audited one
        by one; their count is in the project's row), and the audit log itself stays.
        """
        from nerv.store import cascade as store_cascade

        with self.transaction() as conn:
            self._require(PROJECTS, id)
            owned = store_cascade.contents(conn, id)
            work = {label: owned[label] for label in _WORK if owned[label]}
            if work and not cascade:
                listed = ", ".join(f"{n} {label}" for label, n in work.items())
                raise ConstraintError(
                    f"project {id} still has {listed}; delete or move them first, "
                    "or delete it with everything in it (--cascade)"
                )
            return store_cascade.delete_project(conn, self.actor, id, current_key=CURRENT_PROJECT_KEY)

    def delete_cycle(self, id: str) -> list[str]:
        """Delete a cycle; its tasks and decisions stay, without a cycle (each change audited).

        Returns the ids of the tasks and decisions that were in it. One transaction.
        """
        with self.transaction() as conn:
            self._require(CYCLES, id)
            tasks = [row[0] for row in conn.execute("SELECT id FROM tasks WHERE cycle_id = ?", (id,))]
            decisions = [row[0] for row in conn.execute("SELECT id FROM decisions WHERE cycle_id = ?", (id,))]
            for task in tasks:
                self._update(TASKS, task, {"cycle_id": None})
            for decision in decisions:
                self._update(DECISIONS, decision, {"cycle_id": None})
            self._delete(CYCLES, id)
        return tasks + decisions

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


# What a project must not have to be deleted without cascade: work, not configuration.
_WORK = ("tasks", "sessions", "cycles", "decisions", "approval requests")


def normalize_path(path: str) -> str:
    """Absolute, with ``~``, ``.`` and ``..`` resolved (symlinks left as the user wrote them)."""
    if not isinstance(path, str) or not path.strip():
        raise ValidationError("path must not be empty")
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))
