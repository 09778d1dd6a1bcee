"""Property: export -> import into an empty database -> export gives the same document."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from transfer_helpers import export_text, import_rows, load_doc, normalized

from nerv import DatabaseService
from nerv.db import schema
from nerv.permissions import RuleSyntaxError, candidate_key, format_rule, parse_rule
from nerv.transfer.importer import import_file

TEXT = st.text(alphabet=st.characters(min_codepoint=1, exclude_categories=["Cs"]), max_size=12)
NAME = TEXT.map(lambda s: "n" + s)
MAYBE_TEXT = st.none() | TEXT
TIME = st.integers(min_value=0, max_value=2**53)
TOKENS = st.integers(min_value=0, max_value=10**9)
COST = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
# What is recorded on a session itself adds to its metrics: never below them (see db check).
OWN_COST = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | COST | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def databases(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """Rows for every table, respecting the schema's references, checks and unique keys."""
    counter = iter(range(10**6))

    def ident(prefix: str) -> str:
        return f"{prefix}{next(counter):06d}{draw(st.sampled_from('abcxyz'))}"

    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in ("projects", "cycles", "tasks")}
    for _ in range(draw(st.integers(1, 3))):
        rows["projects"].append(
            {
                "id": ident("p"),
                "name": draw(NAME),
                "goal": draw(MAYBE_TEXT),
                "created_at": draw(TIME),
                "updated_at": draw(TIME),
            }
        )
    project_ids = [p["id"] for p in rows["projects"]]
    for number, project in enumerate(draw(st.lists(st.sampled_from(project_ids), max_size=3)), start=1):
        rows["cycles"].append(
            {
                "id": ident("c"),
                "project_id": project,
                "number": number,
                "goal": draw(MAYBE_TEXT),
                "status": draw(st.sampled_from(schema.CYCLE_STATUSES)),
                "learnings": draw(MAYBE_TEXT),
                "started_at": draw(st.none() | TIME),
                "completed_at": draw(st.none() | TIME),
                "created_at": draw(TIME),
                "updated_at": draw(TIME),
            }
        )
    cycle_ids = [c["id"] for c in rows["cycles"]]
    for _ in range(draw(st.integers(0, 5))):
        rows["tasks"].append(
            {
                "id": ident("t"),
                "project_id": draw(st.sampled_from(project_ids)),
                "cycle_id": draw(st.none() | st.sampled_from(cycle_ids)) if cycle_ids else None,
                "title": draw(NAME),
                "description": draw(MAYBE_TEXT),
                "type": draw(st.sampled_from(schema.TASK_TYPES)),
                "status": draw(st.sampled_from(schema.TASK_STATUSES)),
                "created_at": draw(TIME),
                "updated_at": draw(TIME),
            }
        )
    task_ids = [t["id"] for t in rows["tasks"]]
    rows["claude_sessions"] = [
        {
            "id": ident("s"),
            "project_id": draw(st.none() | st.sampled_from(project_ids)),
            "task_id": draw(st.none() | st.sampled_from(task_ids)) if task_ids else None,
            "status": draw(st.sampled_from(schema.SESSION_STATUSES)),
            "started_at": draw(TIME),
            "ended_at": draw(st.none() | TIME),
            "tokens_input": draw(TOKENS),
            "tokens_output": draw(TOKENS),
            "cost_usd": draw(OWN_COST),
            "claude_session_id": draw(st.none() | st.uuids().map(str)),
            "tokens_cache_read": draw(TOKENS),
            "model": draw(MAYBE_TEXT),
            "updated_at": draw(TIME),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    session_ids = [s["id"] for s in rows["claude_sessions"]]
    rows["metrics"] = [
        {
            "id": ident("m"),
            "session_id": draw(st.sampled_from(session_ids)),
            "external_id": draw(st.none() | st.uuids().map(str)),
            "model": draw(MAYBE_TEXT),
            "input_tokens": draw(TOKENS),
            "output_tokens": draw(TOKENS),
            "cache_read_tokens": draw(TOKENS),
            "cache_write_5m_tokens": draw(TOKENS),
            "cost_usd": draw(COST),
            "recorded_at": draw(TIME),
            "created_at": draw(TIME),
        }
        for _ in range(draw(st.integers(0, 6) if session_ids else st.just(0)))
    ]
    rows["approval_rules"] = []
    for i in range(draw(st.integers(0, 3))):
        tool, pattern = draw(st.sampled_from(["Bash", "Read", "WebFetch"])), f"p{i}" + draw(TEXT)
        try:
            parse_rule(format_rule(tool, pattern))
        except RuleSyntaxError:
            continue  # import refuses rules the matcher cannot read (tested elsewhere)
        rows["approval_rules"].append(
            {
                "id": ident("r"),
                "pattern": pattern,
                "action": draw(st.sampled_from(schema.RULE_ACTIONS)),
                "tool": tool,
                "created_at": draw(TIME),
                "project_id": draw(st.none() | st.sampled_from(project_ids)),
                "enabled": draw(st.sampled_from([0, 1])),
                "note": draw(MAYBE_TEXT),
                "updated_at": draw(TIME),
                # derived from tool and pattern: import recomputes it, so the round trip keeps it
                "match_key": candidate_key(tool, pattern),
            }
        )
    rows["approval_requests"] = [
        {
            "id": ident("q"),
            "project_id": draw(st.none() | st.sampled_from(project_ids)),
            "session_id": draw(st.none() | st.sampled_from(session_ids)) if session_ids else None,
            "tool_name": "Bash",
            "tool_input": json.dumps({"command": draw(TEXT)}),
            "status": draw(st.sampled_from(schema.REQUEST_STATUSES)),
            "reason": draw(MAYBE_TEXT),
            "created_at": draw(TIME),
            "updated_at": draw(TIME),
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    decisions: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 3))):
        decisions.append(
            {
                "id": ident("d"),
                "project_id": project_ids[0],
                "title": draw(NAME),
                "context": draw(MAYBE_TEXT),
                "status": draw(st.sampled_from(schema.DECISION_STATUSES)),
                "created_at": draw(TIME),
                "updated_at": draw(TIME),
            }
        )
    for decision in decisions:  # a decision may point at any other, including a later id
        others = [d["id"] for d in decisions if d is not decision]
        decision["superseded_by"] = draw(st.none() | st.sampled_from(others)) if others else None
    rows["decisions"] = decisions
    keys = draw(
        st.lists(
            st.tuples(st.none() | st.sampled_from(project_ids), TEXT.map(lambda s: "k" + s)),
            max_size=4,
            unique=True,
        )
    )
    rows["settings"] = [
        {
            "id": ident("g"),
            "project_id": scope,
            "key": key,
            "value": json.dumps(draw(JSON_VALUE)),
            "created_at": draw(TIME),
            "updated_at": draw(TIME),
        }
        for scope, key in keys
    ]
    rows["audit_log"] = [
        {
            "id": ident("a"),
            "at": draw(TIME),
            "actor": draw(NAME),
            "entity_type": draw(TEXT),
            "entity_id": draw(TEXT),
            "action": draw(TEXT),
            "before": draw(st.none() | JSON_VALUE.map(json.dumps)),
            "after": draw(st.none() | JSON_VALUE.map(json.dumps)),
        }
        for _ in range(draw(st.integers(0, 4)))
    ]
    return rows


def _fill(service: DatabaseService, rows: dict[str, list[dict[str, Any]]]) -> None:
    conn = service.connection
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("PRAGMA defer_foreign_keys = ON")
    for table, table_rows in rows.items():
        for row in table_rows:
            columns = ", ".join(row)
            conn.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' for _ in row)})", tuple(row.values())
            )
    conn.execute("COMMIT")


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=databases(), fmt=st.sampled_from(["json", "ndjson"]))
def test_random_databases_round_trip(rows: dict[str, list[dict[str, Any]]], fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with DatabaseService(folder / "a.db", actor="prop") as source:
            _fill(source, rows)
            first = export_text(source, fmt)
            source_sessions = source.connection.execute(
                "SELECT id, tokens_input, cost_usd FROM claude_sessions ORDER BY id"
            ).fetchall()
        path = folder / f"export.{fmt}"
        path.write_text(first, encoding="utf-8")
        with DatabaseService(folder / "b.db", actor="prop") as target:
            result = import_file(target, path)
            # nerv's seeded default rules are in both: the file's copies replace the target's
            assert result.inserted + result.updated == result.records and result.conflicts == 0
            second = export_text(target, fmt)
            # importing again changes nothing
            assert not import_file(target, path).changed
            assert export_text(target, fmt, exported_at=1) == _with_time(second, fmt)
            target_sessions = target.connection.execute(
                "SELECT id, tokens_input, cost_usd FROM claude_sessions ORDER BY id"
            ).fetchall()
    a, b = load_doc(first), load_doc(second)
    assert normalized(a) == normalized(b)
    assert len(import_rows(b)) == 1
    assert [tuple(r) for r in source_sessions] == [tuple(r) for r in target_sessions]


def _with_time(text: str, fmt: str) -> str:
    """``text`` with its exported_at replaced by 1 (the header is the first line in both layouts)."""
    first, rest = text.split("\n", 1)
    out = io.StringIO()
    head_end = first.index('"exported_at":') + len('"exported_at":')
    number_end = head_end
    while first[number_end].isdigit():
        number_end += 1
    out.write(first[:head_end] + "1" + first[number_end:] + "\n" + rest)
    return out.getvalue()
