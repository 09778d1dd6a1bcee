"""Architecture decision records."""

from __future__ import annotations

from typing import Any

from nerv.errors import ConstraintError, ValidationError
from nerv.models import Decision
from nerv.service.base import ServiceBase
from nerv.service.tables import DECISIONS

_CREATE_FIELDS = frozenset({"cycle_id", "context", "decision", "alternatives", "consequences", "status"})


class DecisionsMixin(ServiceBase):
    def create_decision(self, project_id: str, title: str, **fields: Any) -> Decision:
        extra = set(fields) - _CREATE_FIELDS
        if extra:
            raise ValidationError(f"unknown decision field(s): {', '.join(sorted(extra))}")
        values: dict[str, Any] = {"project_id": project_id, "title": title, "status": "proposed"}
        values.update(fields)
        return self._insert(DECISIONS, values)

    def get_decisions(self, project_id: str, status: str | None = None) -> list[Decision]:
        if status is None:
            rows = self._read(
                "SELECT * FROM decisions WHERE project_id = ? ORDER BY created_at, rowid", (project_id,)
            )
        else:
            self._validate(DECISIONS, {"status": status})
            rows = self._read(
                "SELECT * FROM decisions WHERE project_id = ? AND status = ? ORDER BY created_at, rowid",
                (project_id, status),
            )
        return [Decision(**r) for r in rows]

    def get_decision(self, id: str) -> Decision | None:
        return self._get(DECISIONS, id)

    def update_decision(self, id: str, updates: dict[str, Any]) -> Decision:
        return self._update(DECISIONS, id, updates)

    def supersede_decision(self, id: str, by: str) -> Decision:
        """Mark ``id`` superseded by decision ``by`` (same project), in one transaction."""
        if id == by:
            raise ValidationError("a decision cannot supersede itself")
        with self.transaction():
            old = self._require(DECISIONS, id)
            new = self._require(DECISIONS, by)
            if old.project_id != new.project_id:
                raise ValidationError("a decision can only be superseded by one of the same project")
            return self._update(
                DECISIONS, id, {"status": "superseded", "superseded_by": by}, action="supersede"
            )

    def delete_decision(self, id: str) -> None:
        """Delete a decision; refused while another one names it as its successor."""
        with self.transaction():
            self._require(DECISIONS, id)
            successors_of = self._read("SELECT id FROM decisions WHERE superseded_by = ? ORDER BY id", (id,))
            if successors_of:
                named = ", ".join(str(row[0])[:8] for row in successors_of)
                raise ConstraintError(
                    f"decision {id[:8]} supersedes {named}: delete that one first, or keep this one"
                )
            self._delete(DECISIONS, id)
