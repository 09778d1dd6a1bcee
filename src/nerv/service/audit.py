"""Reading the append-only audit log (writing happens in base.ServiceBase._audit)."""

from __future__ import annotations

import json
from typing import Any

from nerv.errors import AmbiguousIdError, NotFoundError, ValidationError
from nerv.models import AuditEntry
from nerv.service.base import ServiceBase
from nerv.store import rows as store_rows


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
        store_rows.event(self._conn, self.actor, entity_type, entity_id, action, details)

    def resolve_audit_entity_id(self, prefix: str, entity_type: str | None = None) -> str:
        """The full entity id the audit log knows for an exact id or unique prefix.

        Works for deleted entities too: only the log itself is consulted.
        """
        prefix = prefix.strip()
        if not prefix:
            raise ValidationError("entity id must not be empty")
        type_clause = "" if entity_type is None else " AND entity_type = ?"
        type_param: tuple[Any, ...] = () if entity_type is None else (entity_type,)
        exact = f"SELECT 1 FROM audit_log WHERE entity_id = ?{type_clause} LIMIT 1"
        if self._read_one(exact, (prefix, *type_param)):
            return prefix
        rows = self._read(
            f"SELECT DISTINCT entity_id FROM audit_log WHERE entity_id >= ? AND entity_id < ?{type_clause} "
            "ORDER BY entity_id LIMIT 6",
            (prefix, prefix + "~", *type_param),
        )
        label = entity_type or "entity"
        if not rows:
            raise NotFoundError(label, prefix)
        if len(rows) > 1:
            raise AmbiguousIdError(label, prefix, [str(r[0]) for r in rows])
        return str(rows[0][0])
