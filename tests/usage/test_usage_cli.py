"""`nerv usage ...` as a real subprocess: ingest, report, assign, prices, budget, reprice."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from usage_helpers import EXPECTED, S_INLINE, S_PROGRESS, S_SHORT, Tree

from nerv import DatabaseService


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_ingest_then_reingest(run_cli: Any, tree: Tree) -> None:
    # No PATH: the default roots, found from $HOME (~/.claude/projects).
    first = _ok(run_cli("usage", "ingest", "--json", env={"HOME": str(tree.home)})).json()
    assert first["files_read"] == 5 and first["responses_added"] == 49 and first["changed"] is True
    assert first["malformed_lines"] == 0 and first["errors"] == [] and first["unknown_models"] == {}
    # Named paths: the stream-json outputs and hook logs; humans get a summary.
    out = _ok(run_cli("usage", "ingest", str(tree.out))).stdout
    assert "files: 5 scanned, 2 read" in out and "3 not usage data" in out
    assert "responses: 2 added, 0 updated" in out and "stream-json results: 2 stored" in out
    again = _ok(run_cli("usage", "ingest", str(tree.projects), str(tree.out), "--quiet"))
    assert again.stdout == "" and again.stderr == ""
    missing = run_cli("usage", "ingest", str(tree.home / "nope"))
    assert missing.returncode == 2 and "path not found" in missing.stderr  # a bad value, not an id


def test_unknown_model_warns_loudly(run_cli: Any, tmp_path: Path) -> None:
    line = {
        "type": "assistant",
        "sessionId": "s-unknown",
        "requestId": "req_1",
        "timestamp": "2026-02-10T10:00:00Z",
        "message": {
            "id": "msg_1",
            "model": "claude-opus-9",
            "usage": {"input_tokens": 5, "output_tokens": 5},
        },
    }
    f = tmp_path / "s-unknown.jsonl"
    f.write_text(json.dumps(line) + "\nnot json\n")
    result = _ok(run_cli("usage", "ingest", str(f), "--quiet"))
    assert result.stdout == ""
    assert "unknown model 'claude-opus-9' (1 responses): no price" in result.stderr
    assert "nerv settings set usage.prices" in result.stderr
    report = _ok(run_cli("usage", "report", "--by", "model"))
    assert "$0.00+" in report.stdout and "1 responses have no price (model claude-opus-9)" in report.stderr


def test_report_assign_prices_budget(run_cli: Any, db_path: Path, tree: Tree) -> None:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("spotter")
        svc.add_repo(project.id, "/home/marco/projects/spotter")
        svc.ingest([tree.projects, tree.out])

    report = _ok(run_cli("usage", "report", "--by", "session", "--json")).json()
    assert sorted(report) == ["by", "rows", "totals"] and report["by"] == "session"
    rows = report["rows"]
    assert len(rows) == 7
    for row in rows:
        assert {"session_id", "project_id", "models", "tokens", "cost_usd"} <= set(row)
        assert row["cost_usd"] == pytest.approx(EXPECTED[row["session_id"]][1], abs=1e-9)
    assert {r["session_id"] for r in rows if r["project_id"] == project.id} == {
        S_SHORT,
        S_PROGRESS,
        "d6e0bada-1959-4eec-a9d2-0bfade768d8f",
    }

    human = _ok(run_cli("usage", "report", "--by", "project")).stdout
    assert human.splitlines()[0].split()[:3] == ["PROJECT", "SESSIONS", "MODELS"]
    assert "(unassigned)" in human and "█" in human and human.splitlines()[-1].startswith("total")
    assert _ok(run_cli("usage", "report", "--by", "day", "--since", "2030-01-01")).stdout.startswith(
        "no usage"
    )
    bad = run_cli("usage", "report", "--by", "fortnight")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr

    assigned = _ok(run_cli("usage", "assign", S_INLINE[:8], project.id[:6], "--json")).json()
    assert assigned["project_id"] == project.id and assigned["claude_session_id"] == S_INLINE
    mine = _ok(run_cli("usage", "report", "--by", "session", "--project", project.id, "--json")).json()[
        "rows"
    ]
    assert S_INLINE in {r["session_id"] for r in mine} and len(mine) == 4

    prices = _ok(run_cli("usage", "prices", "--json")).json()
    assert prices["effective_date"] == "2026-02-17" and prices["unit"] == "USD per million tokens"
    opus = next(m for m in prices["models"] if m["model"] == "claude-opus-4-6")
    assert (opus["input"], opus["cache_write_1h"], opus["origin"]) == (5.0, 10.0, "builtin")
    shown = _ok(run_cli("usage", "prices")).stdout
    assert shown.startswith("prices effective 2026-02-17") and "claude-haiku-4-5" in shown

    # $1 spent today against a $0.50 daily budget: the report warns, `usage budget` says exceeded.
    with DatabaseService(db_path) as svc:
        svc.record_metric(svc.create_session(project.id).id, cost_usd=1.0, model="claude-opus-4-6")
    _ok(run_cli("settings", "set", "budget.daily_usd", "0.5"))
    warned = _ok(run_cli("usage", "report", "--by", "month"))
    assert "warning: daily budget (all projects): $1.00 of $0.50 (200%), exceeded on" in warned.stderr
    budget = _ok(run_cli("usage", "budget", "--json")).json()
    assert [(b["period"], b["level"], b["spent_usd"]) for b in budget] == [("daily", "exceeded", 1.0)]
    assert _ok(run_cli("usage", "budget")).stdout.startswith("EXCEEDED daily budget")


def test_prices_override_and_reprice(invoke: Any, tree: Tree) -> None:
    # In-process for speed: the same main() as the console script.
    assert invoke("usage", "ingest", str(tree.projects), "--quiet").returncode == 0
    override = json.dumps({"claude-opus-4-6": {"input": 10, "output": 50}})
    assert invoke("settings", "set", "usage.prices", override).returncode == 0
    table = invoke("usage", "prices", "--json").json()
    opus = next(m for m in table["models"] if m["model"] == "claude-opus-4-6")
    assert (opus["input"], opus["cache_write_1h"], opus["origin"]) == (10.0, 20.0, "override")
    result = invoke("usage", "reprice", "--all", "--json")
    assert result.returncode == 0 and result.json() == {"repriced": 11}
    bad = invoke("settings", "set", "usage.prices", '{"claude-x": {"output": 1}}')
    assert bad.returncode == 2 and "usage.prices" in bad.stderr


def test_budget_command_without_budget(invoke: Any) -> None:
    result = invoke("usage", "budget")
    assert result.returncode == 0 and result.stdout.startswith("no budget set")
    assert invoke("usage", "assign").returncode == 2


def test_status_shows_budget_warnings(invoke: Any, service: DatabaseService) -> None:
    project = service.create_project("alpha")
    service.record_metric(service.create_session(project.id).id, cost_usd=0.9, model="claude-opus-4-6")
    assert invoke("status", "--json").json()["warnings"] == []  # no budget set
    service.set_setting("budget.daily_usd", 1.0)  # 90%: past the default 0.8 threshold
    service.set_setting("budget.monthly_usd", 0.5, project_id=project.id)  # exceeded
    warnings = invoke("status", "--json").json()["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("daily budget (all projects): $0.90 of $1.00 (90%)")
    assert warnings[1].startswith(
        f"monthly budget (project {project.id}): $0.90 of $0.50 (180%), exceeded on"
    )
    summary = service.usage_summary(project.id)
    assert summary.today_usd == summary.month_usd == pytest.approx(0.9)


def test_report_tables_and_exact_json(run_cli: Any, db_path: Path, tree: Tree) -> None:
    with DatabaseService(db_path) as svc:
        project = svc.create_project("spotter")
        svc.add_repo(project.id, "/home/marco/projects/spotter")
        svc.ingest([tree.projects, tree.out])

    text = _ok(run_cli("usage", "report", "--by", "session", "--json")).stdout
    # Every amount is printed from its integer: no float noise like 0.33115094999999994.
    assert re.search(r"\d\.\d{10,}", text) is None
    assert '"cost_usd": 0.33115095' in text and '"cost_nanousd": 331150950' in text
    report = json.loads(text)
    assert report["totals"]["cost_nanousd"] == 3_139_583_750 and report["totals"]["cost_usd"] == 3.13958375

    sessions = _ok(run_cli("usage", "report", "--by", "session")).stdout.splitlines()
    assert sessions[0].split()[:6] == ["SESSION", "PROJECT", "CWD", "FIRST", "LAST", "MODELS"]
    assert "TOTAL TOKENS" in sessions[0]
    short = next(line for line in sessions if line.startswith("55604662 "))
    assert "spotter" in short and "/home/marco/projects/spotter" in short and S_SHORT not in short
    assert short.split()[-2] == "$0.14"  # $0.1444475
    assert sessions[-1].split()[0] == "total" and "$3.14" in sessions[-1]

    weeks = _ok(run_cli("usage", "report", "--by", "week", "--breakdown")).stdout.splitlines()
    assert weeks[0].split()[:2] == ["WEEK", "OF"]
    feb = weeks.index(next(line for line in weeks if line.split()[0] == "2026-02-09"))
    # opus-4-6 $0.6797485 then haiku-4-5 $0.0573157 + $0.0381633 = $0.095479 inside that week
    assert weeks[feb + 1].split()[:2] == ["└", "opus-4-6"] and weeks[feb + 1].split()[-1] == "$0.68"
    assert weeks[feb + 2].split()[:2] == ["└", "haiku-4-5-20251001"] and weeks[feb + 2].split()[-1] == "$0.10"
    blocks = _ok(run_cli("usage", "report", "--by", "block", "--json")).json()
    assert [r["block"][:16] for r in blocks["rows"]][-1].startswith("2026-02-11T")
    assert not any(r["active"] for r in blocks["rows"])
    refused = run_cli("usage", "report", "--by", "model", "--breakdown")
    assert refused.returncode == 2 and "--breakdown" in refused.stderr and "Traceback" not in refused.stderr


def test_active_block_line(run_cli: Any, db_path: Path) -> None:
    # Two responses an hour apart, the last 30 minutes ago: the block they opened is still
    # open (it started at most 2 h 29 min ago), and $0.60 over one hour is $0.60/h.
    now = int(time.time() * 1000)
    with DatabaseService(db_path) as svc:
        session = svc.create_session(None).id
        for ago in (90, 30):
            svc.record_metric(
                session,
                cost_usd=0.3,
                output_tokens=100,
                model="claude-opus-4-6",
                recorded_at=now - ago * 60_000,
            )
    out = _ok(run_cli("usage", "report", "--by", "block")).stdout
    assert " active" in out.splitlines()[1]
    assert "active block ends" in out and "burn rate $0.60/h, 3 tokens/min" in out
    data = _ok(run_cli("usage", "report", "--by", "block", "--json")).json()
    [row] = data["rows"]
    assert row["active"] is True and row["burn_rate"]["cost_nanousd_per_hour"] == 600_000_000
    left = row["projected"]["remaining_minutes"]
    assert 150 <= left <= 5 * 60 - 90
    # projected = $0.60 + $0.60/h over what is left of the block
    assert row["projected"]["cost_nanousd"] == pytest.approx(600_000_000 + 10_000_000 * left, abs=10_000_000)


def test_status_says_which_figures_are_the_projects_and_which_are_global(
    invoke: Any, service: DatabaseService
) -> None:
    # The case: the project spent nothing today, other work spent $2.03 against a
    # global $1.00 daily budget. Both figures are shown; each says whose spending it is.
    project = service.create_project("alpha")
    service.record_metric(service.create_session(None).id, cost_usd=2.03, model="claude-opus-4-6")
    service.set_setting("budget.daily_usd", 1.0)
    service.set_setting("budget.monthly_usd", 50, project_id=project.id)
    lines = invoke("status", "--project", project.id).stdout.splitlines()
    cost = next(line for line in lines if line.startswith("cost"))
    assert cost.split() == [
        "cost",
        "(this",
        "project)",
        "today",
        "$0.00,",
        "this",
        "month",
        "$0.00,",
        "total",
        "$0.00",
    ]
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 1  # the project's own monthly budget is fine
    assert warnings[0].startswith("warning: daily budget (all projects): $2.03 of $1.00 (203%), exceeded on")
    budgets = invoke("usage", "budget", "--project", project.id).stdout
    assert "daily budget (all projects): $2.03" in budgets
    assert f"monthly budget (project {project.id}): $0.00 of $50.00 (0%)" in budgets


def test_block_totals_cover_the_whole_blocks(
    invoke: Any, ingested: DatabaseService, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        report = invoke("usage", "report", "--by", "block", "--since", "2026-02-11", "--json").json()
    finally:
        monkeypatch.undo()
        time.tzset()
    # The 2026-02-10 21:00 block ($0.7179118, 3 sessions) and the 02-11 22:00 one ($0.0573157, 1).
    assert [r["cost_nanousd"] for r in report["rows"]] == [717_911_800, 57_315_700]
    assert report["totals"]["cost_nanousd"] == 775_227_500 and report["totals"]["sessions"] == 4
