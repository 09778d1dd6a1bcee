"""nerv export / nerv import: format, round trip, idempotence, conflicts, bad files."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from transfer_helpers import (
    empty_database,
    export_text,
    import_rows,
    load_doc,
    normalized,
    populate,
    snapshot,
    write_ndjson,
)

from nerv import DatabaseService
from nerv.db.migrations import latest_version
from nerv.transfer.errors import ExportFileError, ImportConflictError, ImportRefusedError
from nerv.transfer.importer import import_file
from nerv.transfer.tables import KNOWN_ORDER


@pytest.fixture
def source(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "source" / "state.db"
    with DatabaseService(path, actor="test") as svc:
        ids = populate(svc)
    return path, ids


def _export_file(run_cli: Any, db: Path, out: Path, *extra: str) -> None:
    run_cli("--db", str(db), "export", "-o", str(out), *extra, check=True)


# -- the document ---------------------------------------------------------------------------


def test_json_export_is_valid_json_one_record_per_line(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, _ = source
    out = tmp_path / "e.json"
    _export_file(run_cli, db, out)
    text = out.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["format"] == "nerv-export" and data["version"] == 1
    assert data["schema_version"] == latest_version()
    assert isinstance(data["exported_at"], int)
    names = list(data["tables"])
    assert names[: len(KNOWN_ORDER)] == list(KNOWN_ORDER)
    assert "schema_migrations" not in names
    lines = text.splitlines()
    rows = sum(len(v) for v in data["tables"].values())
    # header + per table: open and close (or one line when empty) + the end line
    assert len(lines) == 1 + rows + sum(2 if v else 1 for v in data["tables"].values()) + 1
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    # rows ordered by primary key, columns in table order
    for name, table_rows in data["tables"].items():
        if table_rows and "id" in table_rows[0]:
            assert [r["id"] for r in table_rows] == sorted(r["id"] for r in table_rows), name


def test_ndjson_export_has_header_rows_and_end_line(run_cli: Any, source: Any) -> None:
    db, _ = source
    result = run_cli("--db", str(db), "export", "--format", "ndjson", check=True)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["format"] == "nerv-export"
    assert "tables" not in lines[0]
    assert all(set(item) == {"table", "row"} for item in lines[1:-1])
    end = lines[-1]["end"]["rows"]
    assert sum(end.values()) == len(lines) - 2
    assert result.stderr == ""  # not a terminal: no progress bar


def test_export_is_deterministic_and_both_layouts_agree(source: Any) -> None:
    db, _ = source
    with DatabaseService(db) as svc:
        first, second = export_text(svc, exported_at=1), export_text(svc, exported_at=1)
        ndjson = export_text(svc, "ndjson", exported_at=1)
    assert first == second
    assert load_doc(first) == load_doc(ndjson)


def test_project_export_holds_the_project_and_what_hangs_off_it(source: Any) -> None:
    db, ids = source
    with DatabaseService(db) as svc:
        doc = load_doc(export_text(svc, project_id=ids["alpha"]))
    tables = doc["tables"]
    assert doc["header"]["project"] == ids["alpha"]
    assert [p["id"] for p in tables["projects"]] == [ids["alpha"]]
    for name in ("tasks", "claude_sessions", "cycles", "decisions", "approval_rules", "settings"):
        assert tables[name], name
        assert all(r["project_id"] == ids["alpha"] for r in tables[name]), name
    assert {m["session_id"] for m in tables["metrics"]} == {ids["session"]}
    assert len(tables["metrics"]) == 2
    exported_ids = {r["id"] for rows in tables.values() for r in rows if "id" in r}
    assert tables["audit_log"] and all(a["entity_id"] in exported_ids for a in tables["audit_log"])
    # the global rule and the global setting belong to no project
    assert "ingested_files" not in tables


def test_project_export_imports_into_an_empty_database(source: Any, tmp_path: Path) -> None:
    db, ids = source
    out = tmp_path / "alpha.ndjson"
    with DatabaseService(db) as svc:
        out.write_text(export_text(svc, "ndjson", project_id=ids["beta"]), encoding="utf-8")
    with DatabaseService(tmp_path / "empty.db") as target:
        result = import_file(target, out)
        assert result.changed
        assert target.get_project_cost(ids["beta"]) == pytest.approx(2.0)


# -- round trip and idempotence ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "ndjson"])
def test_round_trip_is_exact_through_the_cli(run_cli: Any, source: Any, tmp_path: Path, fmt: str) -> None:
    db, ids = source
    first = tmp_path / f"first.{fmt}"
    _export_file(run_cli, db, first, "--format", fmt)
    empty = empty_database(tmp_path / "copy" / "state.db")
    imported = run_cli("--db", str(empty), "import", str(first), "--json", check=True).json()
    assert imported["changed"] is True and imported["audit_id"]
    assert imported["inserted"] == imported["records"]
    second = tmp_path / f"second.{fmt}"
    _export_file(run_cli, empty, second, "--format", fmt)
    a = load_doc(first.read_text(encoding="utf-8"))
    b = load_doc(second.read_text(encoding="utf-8"))
    assert normalized(a) == normalized(b)
    # the only difference: one audit row of the import itself
    assert len(import_rows(b)) == 1 and not import_rows(a)
    assert len(b["tables"]["audit_log"]) == len(a["tables"]["audit_log"]) + 1
    audit = import_rows(b)[0]
    assert audit["action"] == "import" and audit["actor"] == "test"
    # session totals stay exactly those of the source (metrics triggers did not add twice)
    with DatabaseService(empty) as svc:
        session = svc.get_session(ids["session"])
        assert session is not None
        assert (session.tokens_input, session.cost_usd) == (107, 0.1875)


def test_round_trip_into_a_fresh_database_with_seeded_rules(source: Any, tmp_path: Path) -> None:
    """A new database holds nerv's default rules under ids of its own: the file's equal copies take
    their place (no conflict), so the round trip is exact for a fresh database too."""
    db, _ = source
    first = tmp_path / "source" / "e.json"
    with DatabaseService(db) as svc:
        first.write_text(export_text(svc), encoding="utf-8")
    fresh = db.with_name("fresh.db")  # same folder: the same seeded rules
    with DatabaseService(fresh) as svc:
        seeded = svc.connection.execute("SELECT count(*) FROM approval_rules").fetchone()[0]
        assert seeded > 0
        result = import_file(svc, first)
        assert result.conflicts == 0 and result.tables["approval_rules"].updated == seeded
        assert normalized(load_doc(export_text(svc))) == normalized(
            load_doc(first.read_text(encoding="utf-8"))
        )
        assert not import_file(svc, first).changed
    # a rule with a history of its own is kept as it is (its audit rows keep pointing at it)
    kept = db.with_name("kept.db")
    with DatabaseService(kept) as svc:
        rule = svc.connection.execute("SELECT * FROM approval_rules ORDER BY id LIMIT 1").fetchone()
        svc.record_event("rule", rule["id"], "note")
        result = import_file(svc, first)
        assert result.tables["approval_rules"].unchanged == 1
        assert svc.get_rule(rule["id"]) is not None


def test_second_import_changes_nothing_and_writes_no_audit(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, _ = source
    out = tmp_path / "e.json"
    _export_file(run_cli, db, out)
    target = tmp_path / "t" / "state.db"
    run_cli("--db", str(target), "import", str(out), check=True)
    before = snapshot(target)
    again = run_cli("--db", str(target), "import", str(out), "--json", check=True).json()
    assert again["changed"] is False and again["audit_id"] is None
    assert again["unchanged"] == again["records"]
    assert snapshot(target) == before
    # and importing the export into its own source changes nothing either
    same = run_cli("--db", str(db), "import", str(out))
    assert same.returncode == 0 and "nothing to change" in same.stdout


def test_dry_run_reports_and_changes_nothing(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, _ = source
    out = tmp_path / "e.json"
    _export_file(run_cli, db, out)
    target = tmp_path / "t" / "state.db"
    with DatabaseService(target):
        pass
    before = snapshot(target)
    result = run_cli("--db", str(target), "import", str(out), "--dry-run", "--json", check=True).json()
    assert result["dry_run"] is True and result["inserted"] > 0
    assert result["inserted"] + result["updated"] == result["records"]
    assert snapshot(target) == before


def test_unknown_tables_blobs_and_special_floats_round_trip(tmp_path: Path) -> None:
    ddl = "CREATE TABLE extra_things (id INTEGER PRIMARY KEY, data BLOB, x REAL, note TEXT)"
    src = tmp_path / "a.db"
    with DatabaseService(src) as svc:
        svc.connection.execute(ddl)
        svc.connection.executemany(
            "INSERT INTO extra_things VALUES (?, ?, ?, ?)",
            [
                (1, b"\x00\xffbinary", float("inf"), "a"),
                (2, None, -float("inf"), None),
                (3, b"", 1.5, "\u2603"),
            ],
        )
        text = export_text(svc)
    assert '{"$base64":' in text and '{"$float":"inf"}' in text
    out = tmp_path / "e.json"
    out.write_text(text, encoding="utf-8")
    dst = tmp_path / "b.db"
    with DatabaseService(dst) as svc:
        svc.connection.execute(ddl)
        import_file(svc, out)
        rows = svc.connection.execute("SELECT * FROM extra_things ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [
            (1, b"\x00\xffbinary", float("inf"), "a"),
            (2, None, -float("inf"), None),
            (3, b"", 1.5, "\u2603"),
        ]
        assert normalized(load_doc(export_text(svc))) == normalized(load_doc(text))


# -- conflicts ------------------------------------------------------------------------------------


def _conflicting_file(source_db: Path, tmp_path: Path, ids: dict[str, str]) -> Path:
    """An export of ``source_db`` in which project alpha was renamed after the fact."""
    with DatabaseService(source_db) as svc:
        doc = load_doc(export_text(svc))
    for project in doc["tables"]["projects"]:
        if project["id"] == ids["alpha"]:
            project["name"] = "alpha renamed"
    path = tmp_path / "conflict.ndjson"
    write_ndjson(path, doc["header"], [(t, r) for t, rows in doc["tables"].items() for r in rows])
    return path


def test_conflict_fail_is_the_default_and_changes_nothing(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, ids = source
    path = _conflicting_file(db, tmp_path, ids)
    before = snapshot(db)
    result = run_cli("--db", str(db), "import", str(path))
    assert result.returncode == 4
    line = result.stderr.strip()
    assert line.startswith("nerv: error: conflict.ndjson: 1 conflict(s); first at line ")
    assert f"projects record '{ids['alpha']}' exists with different content (name)" in line
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert snapshot(db) == before


def test_conflict_skip_keeps_the_database_record(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, ids = source
    path = _conflicting_file(db, tmp_path, ids)
    before = snapshot(db)
    result = run_cli(
        "--db", str(db), "import", str(path), "--on-conflict", "skip", "--json", check=True
    ).json()
    assert result["skipped"] == 1 and result["changed"] is False and result["audit_id"] is None
    assert snapshot(db) == before


def test_conflict_overwrite_takes_the_file_record_and_audits_once(
    run_cli: Any, source: Any, tmp_path: Path
) -> None:
    db, ids = source
    path = _conflicting_file(db, tmp_path, ids)
    result = run_cli("--db", str(db), "import", str(path), "--on-conflict", "overwrite", "--json", check=True)
    data = result.json()
    assert data["updated"] == 1 and data["tables"]["projects"]["updated"] == 1
    with DatabaseService(db) as svc:
        project = svc.get_project(ids["alpha"])
        assert project is not None and project.name == "alpha renamed"
        audits = svc.get_audit(entity_type="import")
        assert len(audits) == 1 and audits[0].after is not None and audits[0].after["updated"] == 1
    # overwriting again is a no-op
    again = run_cli("--db", str(db), "import", str(path), "--on-conflict", "overwrite", "--json", check=True)
    assert again.json()["changed"] is False


def test_unique_key_clash_settings(source: Any, tmp_path: Path) -> None:
    """Same setting (key + scope) under another id: a conflict; overwrite replaces the row."""
    db, _ = source
    other = tmp_path / "other.db"
    with DatabaseService(other) as svc:
        svc.set_setting("approval.mode", "queue")
        path = tmp_path / "other.json"
        path.write_text(export_text(svc), encoding="utf-8")
    with DatabaseService(db) as svc:
        with pytest.raises(ImportConflictError, match=r"settings record .* clashes with record"):
            import_file(svc, path)
        assert svc.get_setting("approval.mode") == "ask"
        skipped = import_file(svc, path, on_conflict="skip")
        assert skipped.tables["settings"].skipped == 1
        assert svc.get_setting("approval.mode") == "ask"
        taken = import_file(svc, path, on_conflict="overwrite")
        assert taken.tables["settings"].updated == 1
        assert svc.get_setting("approval.mode") == "queue"
        assert not import_file(svc, path, on_conflict="overwrite").changed


def test_audit_rows_are_never_overwritten(source: Any, tmp_path: Path) -> None:
    db, _ = source
    with DatabaseService(db) as svc:
        doc = load_doc(export_text(svc))
    doc["tables"]["audit_log"][0]["actor"] = "someone else"
    path = tmp_path / "audit.ndjson"
    write_ndjson(path, doc["header"], [(t, r) for t, rows in doc["tables"].items() for r in rows])
    before = snapshot(db)
    with DatabaseService(db) as svc:
        with pytest.raises(ImportConflictError, match="audit_log is append-only"):
            import_file(svc, path, on_conflict="overwrite")
        with pytest.raises(ImportConflictError, match="audit_log record"):
            import_file(svc, path)
        assert import_file(svc, path, on_conflict="skip").tables["audit_log"].skipped == 1
    assert snapshot(db) == before


def test_missing_audit_rows_are_added_once(source: Any, tmp_path: Path) -> None:
    db, _ = source
    with DatabaseService(db) as svc:
        doc = load_doc(export_text(svc))
        extra = dict(doc["tables"]["audit_log"][0], id="zzzzaudit0000001", action="note")
    path = tmp_path / "more.ndjson"
    write_ndjson(path, doc["header"], [("audit_log", extra)])
    with DatabaseService(db) as svc:
        first = import_file(svc, path)
        assert first.tables["audit_log"].inserted == 1
        assert not import_file(svc, path).changed
        assert len(svc.get_audit(entity_type="import")) == 1


# -- bad files: rejected with a location, nothing changed -------------------------------------------


def _bad_import(run_cli: Any, db: Path, path: Path) -> str:
    before = snapshot(db)
    result = run_cli("--db", str(db), "import", str(path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines: list[str] = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nerv: error: "), result.stderr
    assert snapshot(db) == before
    return lines[0]


@pytest.fixture
def exported(run_cli: Any, source: Any, tmp_path: Path) -> tuple[Path, str, str]:
    db, _ = source
    _export_file(run_cli, db, tmp_path / "e.json")
    _export_file(run_cli, db, tmp_path / "e.ndjson")
    return (
        db,
        (tmp_path / "e.json").read_text(encoding="utf-8"),
        (tmp_path / "e.ndjson").read_text(encoding="utf-8"),
    )


def test_truncated_json_rejected(run_cli: Any, exported: Any, tmp_path: Path) -> None:
    db, text, _ = exported
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.json"
    cut.write_text("".join(lines[:-3]), encoding="utf-8")  # lost the last rows and the closing braces
    assert "truncated" in _bad_import(run_cli, db, cut)
    mid = tmp_path / "mid.json"
    mid.write_text(text[: len(text) // 2], encoding="utf-8")  # cut inside a record
    message = _bad_import(run_cli, db, mid)
    assert "truncated" in message and "line " in message


def test_truncated_ndjson_rejected(run_cli: Any, exported: Any, tmp_path: Path) -> None:
    db, _, text = exported
    lines = text.splitlines(keepends=True)
    cut = tmp_path / "cut.ndjson"
    cut.write_text("".join(lines[:-4]), encoding="utf-8")  # whole lines lost: only the end line tells
    assert "truncated: the end line is missing" in _bad_import(run_cli, db, cut)
    dropped = tmp_path / "dropped.ndjson"
    dropped.write_text("".join(lines[:3] + lines[4:]), encoding="utf-8")
    assert "truncated or edited" in _bad_import(run_cli, db, dropped)


def test_malformed_record_reports_its_line(run_cli: Any, exported: Any, tmp_path: Path) -> None:
    db, text, ndjson = exported
    lines = text.splitlines(keepends=True)
    number = (
        next(i for i, line in enumerate(lines) if line.startswith('"tasks":[')) + 2
    )  # 1-based: 2nd task line
    lines[number - 1] = lines[number - 1].replace('"title":', '"title"', 1)
    bad = tmp_path / "bad.json"
    bad.write_text("".join(lines), encoding="utf-8")
    message = _bad_import(run_cli, db, bad)
    assert f"line {number}, tasks record #1: malformed JSON" in message
    nd_lines = ndjson.splitlines(keepends=True)
    nd_lines[5] = nd_lines[5][:-3] + "\n"
    bad_nd = tmp_path / "bad.ndjson"
    bad_nd.write_text("".join(nd_lines), encoding="utf-8")
    assert "line 6: malformed JSON" in _bad_import(run_cli, db, bad_nd)


def test_broken_json_punctuation_rejected(run_cli: Any, exported: Any, tmp_path: Path) -> None:
    db, text, _ = exported
    lines = text.splitlines(keepends=True)
    audit = next(i for i, line in enumerate(lines) if line.startswith('"audit_log":['))
    lines[audit + 1] = lines[audit + 1].rstrip().rstrip(",") + "\n"  # missing comma between records
    bad = tmp_path / "comma.json"
    bad.write_text("".join(lines), encoding="utf-8")
    assert f"line {audit + 3}: missing ','" in _bad_import(run_cli, db, bad)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"version": 99}, "export version 99 is not supported"),
        ({"version": "1"}, "export version missing or not a number"),
        ({"format": "something-else"}, "not a nerv export (format 'something-else'"),
        ({"schema_version": 999}, "newer than this one"),
        ({"exported_at": None}, "exported_at missing"),
    ],
)
def test_wrong_header_rejected(
    run_cli: Any, exported: Any, tmp_path: Path, change: Any, expected: str
) -> None:
    db, text, ndjson = exported
    for name, body in (("h.json", text), ("h.ndjson", ndjson)):
        first, rest = body.split("\n", 1)
        if name.endswith(".json"):
            head = json.loads(first[: first.rindex(',"tables"')] + "}")
            head.update(change)
            first = json.dumps(head)[:-1] + ', "tables": {'
        else:
            head = json.loads(first)
            head.update(change)
            first = json.dumps(head)
        path = tmp_path / name
        path.write_text(first + "\n" + rest, encoding="utf-8")
        message = _bad_import(run_cli, db, path)
        assert expected in message and "line 1" in message, message


def test_unknown_table_and_column_rejected_with_location(run_cli: Any, exported: Any, tmp_path: Path) -> None:
    db, _, ndjson = exported
    lines = ndjson.splitlines(keepends=True)
    first_row = json.loads(lines[1])
    cases = {
        "table.ndjson": (
            {"table": "nonsense", "row": {"id": "x"}},
            "line 2, nonsense record #1: unknown table",
        ),
        "column.ndjson": (
            {"table": first_row["table"], "row": dict(first_row["row"], colour="red")},
            "unknown column(s) colour",
        ),
        "type.ndjson": (
            {"table": first_row["table"], "row": dict(first_row["row"], name=[1, 2])},
            "name: a list is not a column value",
        ),
        "key.ndjson": (
            {"table": first_row["table"], "row": {k: v for k, v in first_row["row"].items() if k != "id"}},
            "the primary key id is missing",
        ),
    }
    for name, (record, expected) in cases.items():
        path = tmp_path / name
        path.write_text(lines[0] + json.dumps(record) + "\n" + "".join(lines[2:]), encoding="utf-8")
        assert expected in _bad_import(run_cli, db, path), name


def test_constraint_violation_rejected_with_location(source: Any, tmp_path: Path) -> None:
    db, _ = source
    with DatabaseService(db) as svc:
        doc = load_doc(export_text(svc))
    task = dict(doc["tables"]["tasks"][0], id="newtaskid0000001", status="sleeping")
    path = tmp_path / "check.ndjson"
    write_ndjson(path, doc["header"], [("tasks", task)])
    before = snapshot(db)
    with (
        DatabaseService(db) as svc,
        pytest.raises(ImportRefusedError, match=r"line 2, tasks record #1: .*CHECK"),
    ):
        import_file(svc, path)
    dangling = dict(doc["tables"]["tasks"][0], id="newtaskid0000002", project_id="nosuchproject000")
    path2 = tmp_path / "fk.ndjson"
    write_ndjson(path2, doc["header"], [("tasks", dangling)])
    with (
        DatabaseService(db) as svc,
        pytest.raises(ImportRefusedError, match=r"line 2, tasks record #1: refers"),
    ):
        import_file(svc, path2)
    assert snapshot(db) == before


def test_not_an_export_rejected(run_cli: Any, source: Any, tmp_path: Path) -> None:
    db, _ = source
    for name, content, expected in [
        ("empty.json", "", "empty file"),
        ("text.json", "hello\n", "does not start with a JSON object"),
        ("list.json", "[1, 2]\n", "does not start with a JSON object"),
        ("other.json", '{"some": "json"}\n', "not a nerv export"),
    ]:
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        assert expected in _bad_import(run_cli, db, path), name


# -- other layouts and older files ----------------------------------------------------------------


def test_pretty_printed_json_accepted(source: Any, tmp_path: Path) -> None:
    db, _ = source
    with DatabaseService(db) as svc:
        doc = json.loads(export_text(svc))
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    with DatabaseService(empty_database(tmp_path / "t.db")) as svc:
        result = import_file(svc, path)
        assert result.layout == "document" and result.inserted == result.records
        assert normalized(load_doc(export_text(svc))) == normalized(
            {"header": doc, "tables": doc.pop("tables")}
        )


def test_older_schema_export_accepted(tmp_path: Path) -> None:
    """A file from a nerv at schema version 2: fewer tables, fewer columns; defaults fill in."""
    header = {"format": "nerv-export", "version": 1, "schema_version": 2, "exported_at": 1700000000000}
    project = {"id": "oldproject000001", "name": "old", "goal": None, "created_at": 1, "updated_at": 2}
    rule = {
        "id": "oldrule000000001",
        "pattern": "make",
        "action": "allow",
        "tool": "Bash",
        "created_at": 1,
        "project_id": None,
        "enabled": 1,
        "note": None,
        "updated_at": 1,
    }  # no match_key: the column came later
    session = {
        "id": "oldsession000001",
        "project_id": "oldproject000001",
        "task_id": None,
        "status": "completed",
        "started_at": 5,
        "ended_at": 9,
        "tokens_input": 10,
        "tokens_output": 20,
        "cost_usd": 0.5,
        "updated_at": 9,
    }
    path = tmp_path / "old.json"
    lines = [
        json.dumps(header)[:-1] + ', "tables": {',
        '"projects": [',
        json.dumps(project),
        "],",
        '"claude_sessions": [',
        json.dumps(session),
        "],",
        '"approval_rules": [',
        json.dumps(rule),
        "]",
        "}}",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with DatabaseService(tmp_path / "new.db") as svc:
        result = import_file(svc, path)
        assert result.inserted == 3 and result.schema_version == 2
        stored = svc.get_rule("oldrule000000001")
        # A schema-2 rule has no match_key: import computes it, or the hook would never load the rule.
        assert stored is not None and stored.match_key == "Bash:make"
        got = svc.get_session("oldsession000001")
        assert got is not None and got.tokens_cache_read == 0 and got.cost_usd == 0.5
        assert not import_file(svc, path).changed


def test_import_of_missing_file_is_a_usage_error(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("import", str(tmp_path / "nope.json"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_export_and_import_in_process_are_quiet_without_a_terminal(invoke: Any, tmp_path: Path) -> None:
    out = tmp_path / "e.json"
    assert invoke("project", "create", "p").returncode == 0
    result = invoke("export", "-o", str(out), "--quiet")
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    again = invoke("import", str(out), "--quiet")
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""
    streamed = invoke("export", "--format", "ndjson")
    assert streamed.returncode == 0 and streamed.stdout.startswith('{"format":"nerv-export"')
    assert streamed.stderr == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(
    source: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from nerv.cli.transfer import progress_for
    from nerv.transfer.progress import silent

    db, _ = source
    assert progress_for(quiet=False, as_json=False) is silent  # stderr is not a terminal here
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress_for(quiet=True, as_json=False) is silent
    assert progress_for(quiet=False, as_json=True) is silent
    bar = progress_for(quiet=False, as_json=False)
    assert bar is not silent
    out = tmp_path / "e.json"
    with DatabaseService(db) as svc:
        text = export_text(svc, progress=bar)
    out.write_text(text, encoding="utf-8")
    assert "export" in terminal.getvalue() and "100%" in terminal.getvalue()
    with DatabaseService(empty_database(tmp_path / "t.db")) as svc:
        import_file(svc, out, progress=bar)
    assert "validate" in terminal.getvalue() and "import" in terminal.getvalue()


def test_large_json_in_another_layout_is_refused_clearly(
    source: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerv.transfer import reader

    db, _ = source
    with DatabaseService(db) as svc:
        doc = json.loads(export_text(svc))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    one_line = tmp_path / "one-line.json"
    one_line.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(reader, "WHOLE_DOCUMENT_LIMIT", 1000)
    monkeypatch.setattr(reader, "HEADER_LIMIT", 500)  # the one-line document is longer than a header
    for path in (pretty, one_line):
        with pytest.raises(ExportFileError, match=r"must keep nerv's layout .* too large"):
            reader.ExportFile(path, 99)
