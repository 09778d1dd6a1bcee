"""The approval queue: permission requests waiting for a person."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from nerv.errors import ValidationError
from nerv.ids import now_ms
from nerv.models import ApprovalRequest, Rule
from nerv.service.base import ServiceBase
from nerv.service.tables import REQUESTS
from nerv.store import requests

# How long past the longest possible hook wait a pending request counts as orphaned.
ORPHAN_GRACE_MS = 60_000


class ApprovalsMixin(ServiceBase):
    if TYPE_CHECKING:  # provided by RulesMixin in DatabaseService

        def find_rule(
            self, tool: str, pattern: str | None, action: str, project_id: str | None = None
        ) -> Rule | None: ...

        def create_rule(
            self,
            pattern: str | None,
            action: str,
            tool: str,
            *,
            project_id: str | None = None,
            note: str | None = None,
            enabled: bool = True,
        ) -> Rule: ...

    def create_request(
        self,
        tool_name: str,
        tool_input: Mapping[str, Any],
        *,
        project_id: str | None = None,
        session_id: str | None = None,
        task_id: str | None = None,
        cwd: str | None = None,
        expires_at: int | None = None,
    ) -> ApprovalRequest:
        """A pending request (as nerv-hook files one; ``expires_at``: when its waiter gives up)."""
        self._check(REQUESTS, {"tool_name": tool_name})
        row = requests.create(
            self._conn, self.actor, tool_name, tool_input, project_id=project_id, session_id=session_id,
            task_id=task_id, cwd=cwd, expires_at=expires_at,
        )
        return REQUESTS.make(row)

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
        self,
        id: str,
        status: str,
        *,
        reason: str | None = None,
        decided_by: str | None = None,
        add_rule: str | None = None,
        rule_project_id: str | None = None,
        rule_note: str | None = None,
    ) -> ApprovalRequest:
        """Move a pending request to approved / denied / expired; a decided one stays as it is.

        ``add_rule`` (Claude Code rule text, e.g. ``Bash(npm test:*)``) also stores
        an allow rule (approved) or a deny rule (denied) in the same transaction;
        an identical rule that already exists is kept as it is.
        """
        if status not in ("approved", "denied", "expired"):
            raise ValidationError(f"invalid decision {status!r}: expected approved, denied or expired")
        rule: tuple[str, str, str] | None = None
        if add_rule is not None:
            if status == "expired":
                raise ValidationError("a rule can only be added when approving or denying")
            from nerv.service.rules import parse_rule_text

            tool, pattern = parse_rule_text(add_rule)
            rule = ("allow" if status == "approved" else "deny", tool, pattern)
        with self.transaction() as conn:
            recorded = requests.decide(
                conn, self.actor, id, status, reason=reason, decided_by=decided_by or self.actor
            )
            if recorded and rule is not None:
                action, tool, pattern = rule
                if self.find_rule(tool, pattern, action, rule_project_id) is None:
                    self.create_rule(pattern, action, tool, project_id=rule_project_id,
                                     note=rule_note or f"from approval request {id[:8]}")
        if not recorded:  # committed as expired: the hook had already answered deny
            raise requests.RequestExpiredError(requests.expired_message(id))
        return self._require(REQUESTS, id)

    def expire_orphaned_requests(self) -> list[ApprovalRequest]:
        """Expire pending requests older than any waiting hook could be.

        A queued nerv-hook waits at most ``approval.timeout_seconds`` (its
        project's value or the global one) and marks its request expired itself;
        a request still pending well after that lost its hook (killed with
        SIGKILL, machine asleep...), and approving it would let nothing through.
        Safe even if the setting was lowered meanwhile: a hook that finds its
        request expired denies the call.
        """
        longest = float(self.get_setting("approval.timeout_seconds") or 0)
        for row in self._read("SELECT value FROM settings WHERE key = 'approval.timeout_seconds'"):
            value = json.loads(row[0])
            if isinstance(value, int | float) and not isinstance(value, bool):
                longest = max(longest, float(value))
        return self.expire_requests(int(longest * 1000) + ORPHAN_GRACE_MS)

    def expire_requests(self, older_than_ms: int) -> list[ApprovalRequest]:
        """Mark pending requests created more than ``older_than_ms`` ago, or past the end of
        their hook's wait, expired (their hook is gone or has answered deny)."""
        now = now_ms()
        rows = self._read(
            "SELECT id FROM approval_requests WHERE status = 'pending' "
            "AND (created_at < ? OR expires_at <= ?) ORDER BY created_at",
            (now - older_than_ms, now),
        )
        expired: list[ApprovalRequest] = []
        for (ident,) in rows:
            try:
                expired.append(
                    self.decide_request(ident, "expired", reason="no hook is waiting for it any more")
                )
            except ValidationError:
                continue  # decided meanwhile
        return expired
