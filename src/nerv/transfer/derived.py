"""What an import never takes on trust: derived columns, column types and widening rules.

An export file is data someone may have edited. A rule whose ``match_key`` does not
match its pattern is listed as enabled but enforced by nothing (the hook only loads
rules by key), a token count written as text or a cost of ``inf`` breaks every sum,
and a session whose totals are below its metrics contradicts them. So the importer:

- recomputes every derived column from the columns it derives from (``fix_derived``);
- checks each value of nerv's own tables against the column's declared type
  (``check_types``), with the record's location in the error;
- after applying, refuses sessions whose totals disagree with their metrics
  (``transfer.checks.totals_sql``), and
- reports allow rules that let through more than any rule the database had
  (``widening_rules``).
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from nerv.permissions import RuleSyntaxError, candidate_key, format_rule, parse_rule
from nerv.transfer.tables import KNOWN_ORDER, TableInfo

# Token counts must stay exact in a float (reports sum them in SQLite and JSON).
MAX_TOKENS = 2**53
_NONE: type = type(None)
_INT_KINDS: frozenset[type] = frozenset({int, _NONE})
_REAL_KINDS: frozenset[type] = frozenset({int, float, _NONE})
_TEXT_KINDS: frozenset[type] = frozenset({str, _NONE})
_BLOB_KINDS: frozenset[type] = frozenset({bytes, _NONE})
_NERV_TABLES = frozenset(KNOWN_ORDER)


def column_kinds(conn: sqlite3.Connection, info: TableInfo) -> dict[str, frozenset[type]]:
    """Python types each column of one of nerv's own tables accepts (by declared type)."""
    if info.name not in _NERV_TABLES:
        return {}  # a table of a later migration: SQLite's own typing applies
    kinds: dict[str, frozenset[type]] = {}
    quoted = '"' + info.name.replace('"', '""') + '"'
    for row in conn.execute(f"PRAGMA main.table_xinfo({quoted})").fetchall():
        declared = str(row[2]).upper()
        if "INT" in declared:
            kinds[str(row[1])] = _INT_KINDS
        elif any(word in declared for word in ("REAL", "FLOA", "DOUB")):
            kinds[str(row[1])] = _REAL_KINDS
        elif any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
            kinds[str(row[1])] = _TEXT_KINDS
        elif "BLOB" in declared:
            kinds[str(row[1])] = _BLOB_KINDS
    return kinds


def type_problem(row: dict[str, Any], kinds: dict[str, frozenset[type]]) -> str | None:
    """Why ``row`` does not fit its columns' types, or None. Booleans were made ints before."""
    for column, value in row.items():
        allowed = kinds.get(column)
        if allowed is None:
            continue
        kind = type(value)
        if kind not in allowed:
            wanted = {_INT_KINDS: "an integer", _REAL_KINDS: "a number", _TEXT_KINDS: "text"}.get(
                allowed, "bytes"
            )
            return f"{column}: {value!r} is not {wanted}"
        if kind is float and not math.isfinite(value):
            return f"{column}: {value!r} is not a finite number"
        if kind is int and "tokens" in column and not 0 <= value < MAX_TOKENS:
            return f"{column}: token count {value} is not between 0 and 2**53"
    return None


def fix_derived(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its derived columns recomputed (a copy when anything changes).

    Raises ValueError with a reason when the columns they derive from are invalid.
    """
    if table == "approval_rules" and "tool" in row:
        tool, pattern = row.get("tool"), row.get("pattern")
        if not isinstance(tool, str) or not isinstance(pattern, str | None):
            return row  # type_problem reports it
        try:
            parse_rule(format_rule(tool, pattern or None))
        except RuleSyntaxError as exc:
            raise ValueError(f"not a valid rule: {exc}") from None
        key = candidate_key(tool, pattern or None)
        if row.get("match_key") != key:
            return {**row, "match_key": key}
    return row


@dataclass(frozen=True)
class AllowRule:
    tool: str
    pattern: str
    project_id: str | None

    @property
    def text(self) -> str:
        return format_rule(self.tool, self.pattern or None)


def allow_rules(conn: sqlite3.Connection) -> list[AllowRule]:
    """The enabled allow rules in the database now."""
    try:
        rows = conn.execute(
            "SELECT tool, pattern, project_id FROM approval_rules WHERE action = 'allow' AND enabled = 1"
        ).fetchall()
    except sqlite3.Error:
        return []
    return [AllowRule(str(r[0]), str(r[1] or ""), r[2]) for r in rows]


def _whole(pattern: str) -> bool:
    return pattern.strip() in ("", "*")


def _prefix(pattern: str) -> str | None:
    """The literal prefix a trailing-wildcard pattern allows (``npm:*`` -> ``npm``), else None."""
    for tail in (":*", "*"):
        if pattern.endswith(tail):
            return pattern[: -len(tail)]
    return None


def covers(old: AllowRule, new: AllowRule) -> bool:
    """Whether ``old`` already allowed everything ``new`` allows (conservatively: no means maybe)."""
    if old.tool != new.tool or (old.project_id is not None and old.project_id != new.project_id):
        return False
    if _whole(old.pattern) or old.pattern == new.pattern:
        return True
    prefix = _prefix(old.pattern)
    return prefix is not None and not _whole(new.pattern) and new.pattern.startswith(prefix)


def widening_rules(before: Iterable[AllowRule], after: Iterable[AllowRule]) -> list[AllowRule]:
    """Allow rules present after an import that no rule present before already covered."""
    old = list(before)
    return [rule for rule in after if not any(covers(o, rule) for o in old)]
