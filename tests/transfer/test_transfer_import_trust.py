"""Import never trusts what it can check (issue 9, fault 4).

Derived columns are recomputed, values must fit their columns' types, session totals must
agree with their metrics, and an allow rule wider than any the database had is reported.
Every refusal names the record's line and changes nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import export_text, load_doc, populate, snapshot, write_ndjson

from nerv import DatabaseService
from nerv.permissions import candidate_key


@pytest.fixture
def source_doc(tmp_path: Path) -> dict[str, Any]:
    with DatabaseService(tmp_path / "source.db") as svc:
        ids = populate(svc)
        doc = load_doc(export_text(svc, "ndjson"))
    doc["ids"] = ids
    return doc


def _write(path: Path, doc: dict[str, Any], edit: Any = None) -> Path:
    rows = [(table, dict(row)) for table, table_rows in doc["tables"].items() for row in table_rows]
    if edit is not None:
        edit(rows)
    write_ndjson(path, doc["header"], rows)
    return path


def _line_of(path: Path, table: str, key: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if f'"table": "{table}"' in line and f'"id": "{key}"' in line:
            return number
    raise AssertionError(f"{table} {key} not in {path}")


def _first(rows: list[tuple[str, dict[str, Any]]], table: str, **match: Any) -> dict[str, Any]:
    return next(r for t, r in rows if t == table and all(r.get(k) == v for k, v in match.items()))


def _refused(run_cli: Any, db_path: Path, path: Path, *fragments: str) -> str:
    before = snapshot(db_path)
    for extra in ((), ("--dry-run",)):
        result = run_cli("import", str(path), *extra)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
        line: str = result.stderr.strip()
        assert "\n" not in line and line.startswith("nerv: error: "), line
        for fragment in fragments:
            assert fragment in line, line
    assert snapshot(db_path) == before  # nothing written
    return line


# -- derived columns -------------------------------------------------------------------------


def test_a_wrong_match_key_is_recomputed(
    source_doc: dict[str, Any], db_path: Path, tmp_path: Path, run_cli: Any
) -> None:
    def poison(rows: list[tuple[str, dict[str, Any]]]) -> None:
        rule = _first(rows, "approval_rules", pattern="npm test")
        rule["match_key"] = "Bash:nothing-ever-matches-this"

    DatabaseService(db_path).close()
    path = _write(tmp_path / "poisoned.ndjson", source_doc, poison)
    run_cli("import", str(path), check=True)
    with DatabaseService(db_path) as svc:
        rule = next(r for r in svc.get_rules() if r.pattern == "npm test")
        assert rule.match_key == candidate_key("Bash", "npm test") == "Bash:npm"
    # and the rule is enforced: the matcher's SQL prefilter finds it by its key
    decided = run_cli("rules", "test", "Bash", "npm test", "--json", check=True).json()
    assert decided["decision"] == "allow"


def test_an_unreadable_rule_is_refused(
    source_doc: dict[str, Any], db_path: Path, tmp_path: Path, run_cli: Any
) -> None:
    def poison(rows: list[tuple[str, dict[str, Any]]]) -> None:
        rule = _first(rows, "approval_rules", pattern="npm test")
        rule["pattern"] = "npm:* test"  # ':*' in the middle: Claude Code would ignore it silently

    DatabaseService(db_path).close()
    path = _write(tmp_path / "bad-rule.ndjson", source_doc, poison)
    rule_id = _first([(t, r) for t, rs in source_doc["tables"].items() for r in rs], "approval_rules",
                     pattern="npm test")["id"]
    _refused(run_cli, db_path, path, f"line {_line_of(path, 'approval_rules', rule_id)}", "not a valid rule")


# -- column types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("input_tokens", "100", "is not an integer"),
        ("output_tokens", 1.5, "is not an integer"),
        ("input_tokens", 2**60, "token count"),
        ("cost_usd", {"$float": "inf"}, "not a finite number"),
        ("cost_usd", {"$float": "nan"}, "not a finite number"),
        ("cost_usd", "0.5", "is not a number"),
        ("model", 7, "is not text"),
    ],
)
def test_values_must_fit_their_columns(
    column: str,
    value: Any,
    message: str,
    source_doc: dict[str, Any],
    db_path: Path,
    tmp_path: Path,
    run_cli: Any,
) -> None:
    target: dict[str, Any] = {}

    def poison(rows: list[tuple[str, dict[str, Any]]]) -> None:
        metric = _first(rows, "metrics", external_id="m-2")
        metric[column] = value
        target.update(metric)

    DatabaseService(db_path).close()
    path = _write(tmp_path / "typed.ndjson", source_doc, poison)
    line = _line_of(path, "metrics", target["id"])
    _refused(run_cli, db_path, path, f"line {line}, metrics record #", column, message)


# -- session totals ------------------------------------------------------------------------------


def test_session_totals_below_their_metrics_are_refused(
    source_doc: dict[str, Any], db_path: Path, tmp_path: Path, run_cli: Any
) -> None:
    session_id = source_doc["ids"]["session"]

    def poison(rows: list[tuple[str, dict[str, Any]]]) -> None:
        _first(rows, "claude_sessions", id=session_id)["tokens_input"] = 5  # its metrics hold 107

    DatabaseService(db_path).close()
    path = _write(tmp_path / "totals.ndjson", source_doc, poison)
    line = _line_of(path, "claude_sessions", session_id)
    _refused(run_cli, db_path, path, f"line {line}, claude_sessions record", "tokens_input is 5", "107")


def test_db_check_reports_totals_that_disagree_with_metrics(db_path: Path, run_cli: Any) -> None:
    with DatabaseService(db_path) as svc:
        session = svc.create_session(None)
        svc.record_metric(session.id, input_tokens=40, cost_usd=0.25)
    assert run_cli("db", "check").returncode == 0
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE claude_sessions SET tokens_input = 10, cost_usd = 0.1 WHERE id = ?", (session.id,))
    conn.commit()
    conn.close()
    result = run_cli("db", "check")
    assert result.returncode == 5
    assert f"session {session.id}: tokens_input is 10, its metrics add up to 40" in result.stdout
    report = run_cli("db", "check", "--json").json()
    assert report["ok"] is False and len(report["totals_mismatches"]) == 2


# -- widening allow rules -----------------------------------------------------------------------


def test_an_allow_rule_broader_than_any_existing_one_is_reported(
    source_doc: dict[str, Any], db_path: Path, tmp_path: Path, run_cli: Any
) -> None:
    with DatabaseService(db_path) as svc:
        svc.create_rule("npm test", "allow", "Bash")
        svc.create_rule("git status:*", "allow", "Bash")

    def widen(rows: list[tuple[str, dict[str, Any]]]) -> None:
        base = _first(rows, "approval_rules", pattern="npm test")
        rows.append(("approval_rules", {**base, "id": "widerule00000001", "pattern": "", "match_key": "x"}))
        rows.append(
            ("approval_rules", {**base, "id": "narrowrule000001", "pattern": "git status --short"})
        )

    path = _write(tmp_path / "wide.ndjson", source_doc, widen)
    result = run_cli("import", str(path), "--on-conflict", "skip", "--json", check=True)
    warnings = result.json()["warnings"]
    assert len(warnings) == 1 and "1 imported allow rule(s)" in warnings[0], warnings
    assert ": Bash (review" in warnings[0]  # the whole-Bash rule; the narrower one is covered
    assert "nerv: warning: 1 imported allow rule(s) allow more" in result.stderr
    again = run_cli("import", str(path), "--on-conflict", "skip", "--json", check=True)
    assert again.json()["warnings"] == []  # nothing new the second time
