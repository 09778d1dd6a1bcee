"""Reading the append-only audit log (writing happens in base.ServiceBase._audit)."""

from __future__ import annotations

import json
from typing import Any

from nerv.models import AuditEntry
from nerv.service.base import ServiceBase


def _entry(row: Any) -> AuditEntry:
    values = dict(row)
    for key in ("before", "after"):
        if values[key] is not None:
            values[key] = json.loads(values[key])
    return AuditEntry(**values)


class AuditMixin(ServiceBase):
    def get_audit(
        self,
        entity_type: str | None = None,
        entity_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        clauses: list[str] = []
        params: list[Any] = []
        if entity_type is not None:
            clauses.append("entity_type = ?")
            params.append(entity_type)
        if entity_id is not None:
            clauses.append("entity_id = ?")
            params.append(entity_id)
        if since is not None:
            clauses.append("at >= ?")
            params.append(since)
        if until is not None:
            clauses.append("at < ?")
            params.append(until)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM audit_log {where} ORDER BY at {order}, rowid {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_entry(r) for r in self._read(sql, params)]

    def record_event(
        self, entity_type: str, entity_id: str, action: str, details: dict[str, Any] | None = None
    ) -> None:
        """An audit row for something that is not a row change (an import, a hook decision...)."""
        with self.transaction():
            self._audit(entity_type, entity_id, action, None, details)
