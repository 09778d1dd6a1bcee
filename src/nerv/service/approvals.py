"""The approval queue: permission requests waiting for a person."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nerv.errors import ValidationError
from nerv.ids import now_ms
from nerv.models import ApprovalRequest
from nerv.service.base import ServiceBase
from nerv.service.tables import REQUESTS

# request status -> the audit action that recorded it
_DECISION_ACTIONS = {"approved": "approve", "denied": "deny", "expired": "expire"}


class ApprovalsMixin(ServiceBase):
    def create_request(
        self,
        tool_name: str,
        tool_input: Mapping[str, Any],
        *,
        project_id: str | None = None,
        session_id: str | None = None,
        task_id: str | None = None,
        cwd: str | None = None,
    ) -> ApprovalRequest:
        return self._insert(
            REQUESTS,
            {
                "tool_name": tool_name,
                "tool_input": json.dumps(dict(tool_input), sort_keys=True),
                "project_id": project_id,
                "session_id": session_id,
                "task_id": task_id,
                "cwd": cwd,
                "status": "pending",
            },
        )

    def get_request(self, id: str) -> ApprovalRequest | None:
        return self._get(REQUESTS, id)

    def get_requests(
        self, status: str | None = "pending", project_id: str | None = None
    ) -> list[ApprovalRequest]:
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            self._validate(REQUESTS, {"status": status})
            clauses.append("status = ?")
            params.append(status)
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(f"SELECT * FROM approval_requests {where} ORDER BY created_at, rowid", params)
        return [REQUESTS.make(r) for r in rows]

    def count_requests(self, status: str | None = "pending", project_id: str | None = None) -> int:
        """How many requests have ``status`` (optionally of one project), counted in SQL."""
        clauses: list[str] = []
        params: list[Any] = []
        if status is not None:
            self._validate(REQUESTS, {"status": status})
            clauses.append("status = ?")
            params.append(status)
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        row = self._read_one(f"SELECT count(*) FROM approval_requests {where}", params)
        return int(row[0]) if row else 0

    def decide_request(
        self, id: str, status: str, *, reason: str | None = None, decided_by: str | None = None
    ) -> ApprovalRequest:
        """Move a pending request to approved / denied / expired; a decided one stays as it is."""
        if status not in ("approved", "denied", "expired"):
            raise ValidationError(f"invalid decision {status!r}: expected approved, denied or expired")
        with self.transaction():
            current = self._require(REQUESTS, id)
            if current.status != "pending":
                raise ValidationError(f"request {id} is already {current.status}")
            return self._update(
                REQUESTS,
                id,
                {
                    "status": status,
                    "reason": reason,
                    "decided_by": decided_by or self.actor,
                    "decided_at": now_ms(),
                },
                action=_DECISION_ACTIONS[status],
            )
