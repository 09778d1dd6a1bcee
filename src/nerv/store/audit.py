"""The one audit writer: every change's row in the append-only ``audit_log``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from nerv.ids import new_id, now_ms

_INSERT = (
    "INSERT INTO audit_log (id, at, actor, entity_type, entity_id, action, before, after) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def write(
    conn: sqlite3.Connection,
    actor: str,
    entity_type: str,
    entity_id: str,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    at: int | None = None,
) -> str:
    """One audit row (inside the caller's transaction); returns its id.

    ``before`` / ``after`` hold the changed fields only, as sorted JSON.
    """
    ident = new_id()
    conn.execute(
        _INSERT,
        (
            ident,
            now_ms() if at is None else at,
            actor,
            entity_type,
            entity_id,
            action,
            None if before is None else json.dumps(before, sort_keys=True, default=str),
            None if after is None else json.dumps(after, sort_keys=True, default=str),
        ),
    )
    return ident
