"""Reports over the ingested samples, by every grouping; figures from usage_helpers.EXPECTED.

Days are local calendar days; these tests pin TZ=UTC (and one checks another zone), so the
transcripts' UTC timestamps give: inline sidechain 2025-09-07; short, tool-heavy and
agent-progress 2026-02-10; the subagent file 2026-02-11; the two stream-json results at
their files' mtime, 2026-01-15 12:00.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from usage_helpers import (
    EXPECTED,
    S_ARRAY,
    S_BASIC,
    S_INLINE,
    S_PROGRESS,
    S_SHORT,
    S_SUBAGENT,
    S_TOOL,
    STREAM_BASIC,
    STREAM_MTIME,
    Tree,
)

from fixture_paths import SAMPLES
from nerv import DatabaseService
from nerv.errors import ValidationError
from nerv.usage.money import to_nano, usd
from nerv.usage.records import TokenUsage
from nerv.usage.report import GROUPINGS, UsageReport, bar, human_count, parse_bound, short_ids, to_ms


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _cost(*sessions: str) -> float:
    return sum(EXPECTED[s][1] for s in sessions)


def _tokens(*sessions: str) -> TokenUsage:
    return sum((EXPECTED[s][0] for s in sessions), TokenUsage())


TOKEN_KEYS = ["cache_read", "cache_write_1h", "cache_write_5m", "input", "output"]


def test_by_session_json_shape(ingested: DatabaseService) -> None:
    rows = [r.to_json() for r in ingested.usage_report("session")]
    assert [r["session_id"] for r in rows] == [  # most expensive first
        S_ARRAY,
        S_PROGRESS,
        S_INLINE,
        S_TOOL,
        S_SHORT,
        S_BASIC,
        S_SUBAGENT,
    ]
    for row in rows:
        assert {"session_id", "project_id", "models", "tokens", "cost_usd"} <= set(row)
        assert sorted(row["tokens"]) == TOKEN_KEYS
        tokens, cost, responses = EXPECTED[row["session_id"]]
        assert TokenUsage(**row["tokens"]) == tokens
        assert row["cost_usd"] == pytest.approx(cost, abs=1e-9)
        assert row["responses"] == responses and row["sessions"] == 1 and row["project_id"] is None
    progress = next(r for r in rows if r["session_id"] == S_PROGRESS)
    assert progress["models"] == ["claude-haiku-4-5-20251001", "claude-opus-4-6"]


def test_by_day_and_month(ingested: DatabaseService) -> None:
    days = {r.key: r for r in ingested.usage_report("day")}
    assert list(days) == ["2025-09-07", "2026-01-15", "2026-02-10", "2026-02-11"]  # chronological
    expect = {
        "2025-09-07": (S_INLINE,),
        "2026-01-15": (S_ARRAY, S_BASIC),
        "2026-02-10": (S_SHORT, S_TOOL, S_PROGRESS),
        "2026-02-11": (S_SUBAGENT,),
    }
    for day, sessions in expect.items():
        assert days[day].tokens == _tokens(*sessions), day
        assert days[day].cost_usd == pytest.approx(_cost(*sessions), abs=1e-9), day
        assert days[day].sessions == len(sessions)
    # 2026-02-10: in 3+54+1592 = 1649, out 13+212+1119 = 1344, 1h 13835+17696+32598 = 64129,
    # read 11515+88231+275114 = 374860; $0.1444475 + 0.2266455 + 0.3468188 = $0.7179118
    assert days["2026-02-10"].tokens == TokenUsage(1649, 1344, 0, 64129, 374860)
    assert days["2026-02-10"].cost_usd == pytest.approx(0.7179118)
    months = {r.key: r.to_json() for r in ingested.usage_report("month")}
    assert list(months) == ["2025-09", "2026-01", "2026-02"]
    assert months["2026-02"]["cost_usd"] == pytest.approx(_cost(S_SHORT, S_TOOL, S_PROGRESS, S_SUBAGENT))
    assert months["2026-02"]["month"] == "2026-02" and sorted(months["2026-02"]["tokens"]) == TOKEN_KEYS


def test_by_model(ingested: DatabaseService) -> None:
    rows = ingested.usage_report("model")
    assert [r.key for r in rows] == [
        "claude-opus-4-20250514",  # $1.8977178
        "claude-opus-4-6",  # short + tool-heavy + agent-progress main loop
        "claude-sonnet-4-20250514",
        "claude-opus-4-5-20251101",
        "claude-haiku-4-5-20251001",  # subagent file + agent-progress subagent
    ]
    opus46, haiku = rows[1], rows[4]
    # opus-4-6: in 3+54+1568 = 1625, out 13+212+1112 = 1337, 1h 13835+17696+18313 = 49844,
    # read 11515+88231+179771 = 279517; $0.1444475 + 0.2266455 + 0.3086555 = $0.6797485
    assert (opus46.tokens, opus46.sessions, opus46.responses) == (
        TokenUsage(1625, 1337, 0, 49844, 279517),
        3,
        11,
    )
    assert opus46.cost_usd == pytest.approx(0.6797485)
    # haiku-4-5: in 94+24 = 118, out 33+7 = 40, 1h 13554+14285 = 27839, read 299487+95343 = 394830;
    # $0.0573157 + $0.0381633 = $0.095479
    assert (haiku.tokens, haiku.sessions, haiku.responses) == (TokenUsage(118, 40, 0, 27839, 394830), 2, 18)
    assert haiku.cost_usd == pytest.approx(0.095479)
    assert rows[0].to_json()["model"] == "claude-opus-4-20250514"


def test_by_project_and_task_with_filters(service: DatabaseService, tree: Tree) -> None:
    spotter = service.create_project("spotter")
    service.add_repo(spotter.id, "/home/marco/projects/spotter")
    service.ingest([tree.projects, tree.out])
    task = service.create_task(spotter.id, "make the tool calls cheaper")
    tool = service.get_session_by_claude_id(S_TOOL)
    assert tool is not None
    service.update_session(tool.id, {"task_id": task.id})

    projects = {r.key: r for r in service.usage_report("project")}
    assert projects[spotter.id].cost_usd == pytest.approx(_cost(S_SHORT, S_TOOL, S_PROGRESS))
    assert projects[spotter.id].extra["project_name"] == "spotter" and projects[spotter.id].sessions == 3
    assert projects[None].label == "(unassigned)" and projects[None].sessions == 4
    assert projects[spotter.id].to_json()["project_id"] == spotter.id

    tasks = {r.key: r.to_json() for r in service.usage_report("task")}
    assert tasks[task.id]["cost_usd"] == pytest.approx(0.2266455)
    assert tasks[task.id]["task_title"] == "make the tool calls cheaper"
    assert tasks[task.id]["project_id"] == spotter.id
    assert tasks[None]["sessions"] == 6

    mine = service.usage_report("session", project_id=spotter.id)
    assert {r.key for r in mine} == {S_SHORT, S_TOOL, S_PROGRESS}
    assert all(r.extra["project_id"] == spotter.id for r in mine)
    loose = service.usage_report("session", unassigned=True)
    assert {r.key for r in loose} == {S_INLINE, S_SUBAGENT, S_ARRAY, S_BASIC}

    one_day = service.usage_report(
        "day", since=parse_bound("2026-02-01", end=False), until=parse_bound("2026-02-10", end=True)
    )
    assert [r.key for r in one_day] == ["2026-02-10"]
    assert service.usage_report("model", since=parse_bound("2027-01-01", end=False)) == []


def test_every_grouping_has_the_same_total(ingested: DatabaseService) -> None:
    total = _cost(*EXPECTED)
    tokens = _tokens(*EXPECTED)
    for by in GROUPINGS:
        rows = ingested.usage_report(by)
        assert sum(r.cost_usd for r in rows) == pytest.approx(total, abs=1e-9), by
        assert sum((r.tokens for r in rows), TokenUsage()) == tokens, by
        assert sum(r.responses for r in rows) == 51, by
    with pytest.raises(ValidationError):
        ingested.usage_report("fortnight")


def test_amounts_recorded_on_a_session_directly_are_included(ingested: DatabaseService) -> None:
    # A session whose cost was recorded by hand (not as metrics): it counts at its start,
    # so reports agree with get_project_cost.
    project = ingested.create_project("manual")
    started = to_ms(datetime(2026, 2, 10, 12, 0))
    ingested.create_session(project.id, cost_usd=1.5, tokens_input=1000, started_at=started)
    by_project = {r.key: r for r in ingested.usage_report("project")}
    assert by_project[project.id].cost_usd == pytest.approx(1.5) == ingested.get_project_cost(project.id)
    assert by_project[project.id].tokens == TokenUsage(input=1000) and by_project[project.id].responses == 0
    days = {r.key: r for r in ingested.usage_report("day")}
    assert days["2026-02-10"].cost_usd == pytest.approx(0.7179118 + 1.5)


def test_all_time_and_bounded_reports_agree(ingested: DatabaseService) -> None:
    # All-time reports by session, project or task read the sessions' own columns; bounded
    # ones sum metrics in range. With a session holding amounts of its own, both must agree.
    project = ingested.create_project("manual")
    task = ingested.create_task(project.id, "by hand")
    ingested.create_session(project.id, task.id, cost_usd=2.0, tokens_output=7, model="claude-x")
    short = ingested.get_session_by_claude_id(S_SHORT)
    assert short is not None
    ingested.update_session(short.id, {"cost_usd": short.cost_usd + 1.0})  # metrics plus $1 by hand
    everything = (-(2**40), 2**42)
    for by in ("session", "project", "task"):
        unbounded = [r.to_json() for r in ingested.usage_report(by)]
        bounded = [r.to_json() for r in ingested.usage_report(by, since=everything[0], until=everything[1])]
        assert unbounded == bounded, by
    rows = {r.key: r for r in ingested.usage_report("session")}
    assert rows[S_SHORT].cost_usd == pytest.approx(0.1444475 + 1.0) and rows[S_SHORT].responses == 1
    assert "claude-opus-4-6" in rows[S_SHORT].models


def test_budget_spend_matches_the_report(ingested: DatabaseService) -> None:
    spotter = ingested.create_project("spotter")
    tool = ingested.get_session_by_claude_id(S_TOOL)
    assert tool is not None
    ingested.update_session(tool.id, {"project_id": spotter.id, "cost_usd": tool.cost_usd + 0.5})
    ingested.create_session(spotter.id, cost_usd=2.0, started_at=to_ms(datetime(2026, 2, 12, 9)))
    ingested.set_setting("budget.monthly_usd", 10)
    ingested.set_setting("budget.monthly_usd", 3, project_id=spotter.id)
    feb = {"since": parse_bound("2026-02", end=False), "until": parse_bound("2026-02", end=True)}
    [everyone, mine] = ingested.budget_status(spotter.id, now=datetime(2026, 2, 20, 12))
    assert everyone.spent_usd == pytest.approx(sum(r.cost_usd for r in ingested.usage_report("month", **feb)))
    assert everyone.spent_usd == pytest.approx(0.7179118 + 0.0573157 + 0.5 + 2.0)
    assert everyone.to_json()["spent_usd"] == 3.2752275  # exactly: summed in nano-dollars
    project_rows = ingested.usage_report("session", project_id=spotter.id, **feb)
    assert mine.spent_usd == pytest.approx(sum(r.cost_usd for r in project_rows)) == pytest.approx(2.7266455)
    assert mine.level == "warning" and mine.projected_exhaustion == date(2026, 2, 23)  # $0.136/day


def test_days_follow_the_local_time_zone(ingested: DatabaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    by_day: dict[str, float] = {}
    for row in ingested.connection.execute("SELECT recorded_at, cost_usd FROM metrics"):
        day = datetime.fromtimestamp(row[0] / 1000).date().isoformat()
        by_day[day] = by_day.get(day, 0.0) + row[1]
    report = {r.key: r.cost_usd for r in ingested.usage_report("day")}
    assert report == pytest.approx(by_day)
    # UTC+9: the 2026-02-10T21-22h (UTC) responses fall on the 11th, the subagent's on the 12th.
    assert report["2026-02-11"] == pytest.approx(0.7179118) and "2026-02-10" not in report
    assert report["2026-02-12"] == pytest.approx(0.0573157)


def test_groupings_agree() -> None:
    from nerv.service import usage as service_usage

    assert service_usage.GROUPINGS == GROUPINGS  # kept apart so the service imports stay light


def test_parse_bound() -> None:
    today = date(2026, 2, 17)
    assert parse_bound("today", end=False, today=today) == to_ms(datetime(2026, 2, 17))
    assert parse_bound("today", end=True, today=today) == to_ms(datetime(2026, 2, 18))
    assert parse_bound("yesterday", end=False, today=today) == to_ms(datetime(2026, 2, 16))
    assert parse_bound("7d", end=False, today=today) == to_ms(datetime(2026, 2, 10))
    assert parse_bound("2026-02", end=False) == to_ms(datetime(2026, 2, 1))
    assert parse_bound("2026-12", end=True) == to_ms(datetime(2027, 1, 1))
    assert parse_bound("2026-02-10", end=True) == to_ms(datetime(2026, 2, 11))
    assert parse_bound("2026-02-10T21:30", end=True) == to_ms(datetime(2026, 2, 10, 21, 30))
    for bad in ("2026-13", "2026-02-30", "last week", ""):
        with pytest.raises(ValidationError):
            parse_bound(bad, end=False)


def test_bar_and_counts() -> None:
    assert bar(0, 10) == "" and bar(5, 0) == ""
    assert bar(10, 10, 4) == "████"
    assert bar(5, 10, 4) == "██"
    assert bar(1, 10, 4) == "▍"  # 3.2 eighths of a cell
    assert bar(0.0001, 10, 4) == "▏"  # anything spent is visible
    assert [human_count(n) for n in (0, 999, 1000, 12345, 999_999, 4_567_890)] == [
        "0",
        "999",
        "1k",
        "12.3k",
        "1M",
        "4.57M",
    ]


def test_money_is_exact(ingested: DatabaseService) -> None:
    # The inline session's 20 stored costs add up, as floats, to 0.33115094999999994 (the
    # session column kept by trigger says so too); rounded to nano-dollars each and added
    # as integers they are $0.33115095 exactly.
    floats = ingested.connection.execute(
        "SELECT sum(m.cost_usd) FROM metrics m JOIN claude_sessions s ON s.id = m.session_id "
        "WHERE s.claude_session_id = ?",
        (S_INLINE,),
    ).fetchone()[0]
    assert floats != 0.33115095  # the drift the report must not show
    rows = {r.key: r for r in ingested.usage_report("session")}
    assert rows[S_INLINE].cost_nano == 331_150_950
    assert json.dumps(rows[S_INLINE].to_json()["cost_usd"]) == "0.33115095"
    for by in GROUPINGS:
        for row in ingested.usage_report(by, now_ms=0):
            data = row.to_json()
            assert data["cost_usd"] == usd(data["cost_nanousd"]), by
            assert len(repr(data["cost_usd"]).partition(".")[2]) <= 9, (by, data["cost_usd"])
    # Every total is the sum of the hand-derived per-session figures, to the nano-dollar:
    # 144447500 + 226645500 + 346818800 + 57315700 + 331150950 + 1897717800 + 135487500.
    total = ingested.usage_totals()
    assert total.cost_nano == sum(to_nano(c) for _, c, _ in EXPECTED.values()) == 3_139_583_750
    assert total.to_json()["cost_usd"] == 3.13958375


def test_report_json_has_rows_and_totals(ingested: DatabaseService) -> None:
    report = UsageReport("day", ingested.usage_report("day"), ingested.usage_totals()).to_json()
    assert sorted(report) == ["by", "rows", "totals"] and report["by"] == "day"
    totals = report["totals"]
    assert "day" not in totals and totals["sessions"] == 7 and totals["responses"] == 51
    assert TokenUsage(**totals["tokens"]) == _tokens(*EXPECTED)
    # total tokens: 770+1196+56154+232712 (array) + 10+25+21570 (basic) + ... = the sum of each
    # session's five counts.
    assert totals["total_tokens"] == sum(t.total for t, _, _ in EXPECTED.values()) == _tokens(*EXPECTED).total
    for row in report["rows"]:
        assert row["total_tokens"] == sum(row["tokens"].values())
    assert sum(r["cost_nanousd"] for r in report["rows"]) == totals["cost_nanousd"]
    # The totals follow the range and scope like the rows.
    feb = ingested.usage_totals(
        since=parse_bound("2026-02", end=False), until=parse_bound("2026-02", end=True)
    )
    assert feb.cost_nano == 717_911_800 + 57_315_700 and feb.sessions == 4
    empty = ingested.usage_totals(since=parse_bound("2030-01-01", end=False))
    assert (empty.cost_nano, empty.sessions, empty.tokens) == (0, 0, TokenUsage())


def test_by_week(ingested: DatabaseService) -> None:
    # Weeks run Monday to Sunday and are named by their Monday: 2025-09-07 is a Sunday
    # (week of 2025-09-01); 2026-01-15 a Thursday (week of 01-12); 2026-02-10 and -11 a
    # Tuesday and Wednesday (week of 02-09).
    weeks = {r.key: r for r in ingested.usage_report("week")}
    assert list(weeks) == ["2025-09-01", "2026-01-12", "2026-02-09"]
    expect = {
        "2025-09-01": (S_INLINE,),
        "2026-01-12": (S_ARRAY, S_BASIC),
        "2026-02-09": (S_SHORT, S_TOOL, S_PROGRESS, S_SUBAGENT),
    }
    for week, sessions in expect.items():
        assert weeks[week].cost_nano == sum(to_nano(EXPECTED[s][1]) for s in sessions), week
        assert weeks[week].tokens == _tokens(*sessions) and weeks[week].sessions == len(sessions), week
    # $0.7179118 (02-10) + $0.0573157 (02-11) = $0.7752275
    assert weeks["2026-02-09"].to_json()["cost_usd"] == 0.7752275
    assert weeks["2026-02-09"].to_json()["week"] == "2026-02-09"


def test_breakdown_by_model(ingested: DatabaseService) -> None:
    days = {r.key: r for r in ingested.usage_report("day", breakdown=True)}
    feb10 = days["2026-02-10"]
    assert feb10.breakdown is not None
    # opus-4-6: short + tool-heavy + progress main loop = $0.1444475 + $0.2266455 + $0.3086555
    # = $0.6797485 (in 1625, out 1337, 1h 49844, read 279517, 11 responses); haiku-4-5: the
    # progress subagent, $0.0381633 (in 24, out 7, 1h 14285, read 95343, 5 responses).
    assert [(s.model, s.cost_nano, s.tokens, s.responses) for s in feb10.breakdown] == [
        ("claude-opus-4-6", 679_748_500, TokenUsage(1625, 1337, 0, 49844, 279517), 11),
        ("claude-haiku-4-5-20251001", 38_163_300, TokenUsage(24, 7, 0, 14285, 95343), 5),
    ]
    for by in ("session", "day", "week", "month", "block", "project", "task"):
        for row in ingested.usage_report(by, breakdown=True, now_ms=0):
            assert row.breakdown, (by, row.key)
            assert sum(s.cost_nano for s in row.breakdown) == row.cost_nano, (by, row.key)
            assert sum((s.tokens for s in row.breakdown), TokenUsage()) == row.tokens, (by, row.key)
            assert sorted(s.model for s in row.breakdown if s.model) == row.models, (by, row.key)
            assert row.to_json()["breakdown"][0]["total_tokens"] == row.breakdown[0].tokens.total
    assert "breakdown" not in ingested.usage_report("day")[0].to_json()
    sessions = {r.key: r for r in ingested.usage_report("session", breakdown=True)}
    progress = sessions[S_PROGRESS].breakdown
    assert progress is not None and [(s.model, s.cost_nano) for s in progress] == [
        ("claude-opus-4-6", 308_655_500),  # 7840 + 27800 + 183130 + 89885.5 = 308655.5 / 1e6
        ("claude-haiku-4-5-20251001", 38_163_300),
    ]
    with pytest.raises(ValidationError, match="breakdown"):
        ingested.usage_report("model", breakdown=True)


def test_session_rows_say_where_and_when(service: DatabaseService, tree: Tree) -> None:
    spotter = service.create_project("spotter")
    service.add_repo(spotter.id, "/home/marco/projects/spotter")
    service.ingest([tree.projects, tree.out])
    rows = {r.key: r for r in service.usage_report("session")}
    short = rows[S_SHORT].to_json()
    assert short["short_id"] == S_SHORT[:8] == "55604662" and rows[S_SHORT].label == S_SHORT
    assert (short["project_id"], short["project_name"]) == (spotter.id, "spotter")
    assert short["cwd"] == "/home/marco/projects/spotter"
    # tool-heavy: first response 2026-02-10T22:57:57.941Z, last 22:59:37.598Z
    tool = rows[S_TOOL].to_json()
    assert (tool["first_at"], tool["last_at"]) == (1_770_764_277_941, 1_770_764_377_598)
    assert all(len(r.extra["short_id"]) == 8 for r in rows.values())


def test_short_ids_grow_until_unique() -> None:
    ids = ["abcdefgh-1", "abcdefgh-2", "abcdefzz", "12345678-x"]
    assert short_ids(ids) == {
        "abcdefgh-1": "abcdefgh-1",
        "abcdefgh-2": "abcdefgh-2",
        "abcdefzz": "abcdefzz",
        "12345678-x": "12345678",
    }
    assert short_ids(["abcdefghij", "abcdefghijk"]) == {
        "abcdefghij": "abcdefghij",
        "abcdefghijk": "abcdefghijk",
    }


def test_token_columns_include_subagents_like_the_cost(ingested: DatabaseService) -> None:
    # The 2025 stream-json run: its cost ($1.8977178, the result's) covers its Task subagents,
    # and so do its tokens: the main loop's 658/444/5285/31989 (in/out/5m/read, from the
    # result) plus the 16 subagent responses' 112/752/50869/200723.
    rows = {r.key: r for r in ingested.usage_report("session")}
    assert rows[S_ARRAY].tokens == TokenUsage(658 + 112, 444 + 752, 5285 + 50869, 0, 31989 + 200723)
    assert rows[S_ARRAY].cost_nano == 1_897_717_800
    # agent-progress transcript: the haiku subagent echoed in agent_progress lines is in both
    # the cost ($0.0381633) and the tokens (24/7/14285 1h/95343) of the parent's row.
    progress = ingested.usage_report("session", breakdown=True)
    [share] = [
        s for r in progress if r.key == S_PROGRESS for s in r.breakdown or () if "haiku" in (s.model or "")
    ]
    assert (share.tokens, share.cost_nano) == (TokenUsage(24, 7, 0, 14285, 95343), 38_163_300)
    assert rows[S_PROGRESS].tokens.total == 1592 + 1119 + 32598 + 275114


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_the_readme_names_every_report_key(ingested: DatabaseService) -> None:
    from fixture_paths import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Usage and cost") : readme.index("### Backup")]
    active_now = 1_770_766_200_000  # 2026-02-10 23:30 UTC: a block with a burn rate
    keys: set[str] = {"by", "rows", "totals"}
    for by in GROUPINGS:
        breakdown = by != "model"
        rows = ingested.usage_report(by, breakdown=breakdown, now_ms=active_now)
        keys |= _keys(UsageReport(by, rows, ingested.usage_totals()).to_json())
    assert {"burn_rate", "tokens_per_minute", "remaining_minutes", "short_id", "cost_nanousd"} <= keys
    forms = ("`{}`", '"{}"', "{{{},", " {},", " {}}}", "({},")  # `key`, "key", or inside {a, b} / (a, b)
    missing = sorted(k for k in keys if not any(form.format(k) in section for form in forms))
    assert missing == []


def test_stream_json_is_dated_by_its_own_timestamps(service: DatabaseService, tmp_path: Path) -> None:
    # The real NDJSON run, with the timestamps a dated stream would carry, in a file whose
    # mtime says 2026-01-15 12:00: the report puts it on 2026-01-10, when it ran.
    stamps = ["2026-01-10T07:59:58Z", "2026-01-10T08:00:00Z", "2026-01-10T08:00:02.360Z"]
    lines = []
    for line, stamp in zip((SAMPLES / STREAM_BASIC).read_text().splitlines(), stamps, strict=True):
        event = json.loads(line)
        event["timestamp"] = stamp
        lines.append(json.dumps(event))
    dated = tmp_path / "dated.ndjson"
    dated.write_text("\n".join(lines) + "\n")
    os.utime(dated, (STREAM_MTIME.timestamp(), STREAM_MTIME.timestamp()))
    service.ingest([dated])
    [day] = service.usage_report("day")
    assert (day.key, day.cost_nano) == ("2026-01-10", 135_487_500)  # the result's $0.1354875
    # Without timestamps (the real file as it is) the run counts on its file's mtime day.
    plain = tmp_path / "plain.ndjson"
    plain.write_text((SAMPLES / STREAM_BASIC).read_text().replace(S_BASIC, "another-session"))
    os.utime(plain, (STREAM_MTIME.timestamp(), STREAM_MTIME.timestamp()))
    service.ingest([plain])
    assert [r.key for r in service.usage_report("day")] == ["2026-01-10", "2026-01-15"]


def test_absurd_costs_do_not_break_the_report(service: DatabaseService) -> None:
    # 2**53 - 1 input tokens at Opus 4's $75/MTok output rate price one response at ~$6.8e11:
    # 6.8e20 nano-dollars, past what an SQLite INTEGER holds. The report still answers
    # (approximately, beyond 2**53 nano-dollars) instead of failing with "integer overflow".
    session = service.create_session(None, started_at=to_ms(datetime(2026, 2, 10, 12)))
    huge = (2**53 - 1) * 75 / 1e6
    for n in range(3):
        service.record_metric(
            session.id, cost_usd=huge, model="claude-opus-4", recorded_at=to_ms(datetime(2026, 2, 10, 12, n))
        )
    for by in GROUPINGS:
        [row] = service.usage_report(by, now_ms=0)
        assert row.cost_usd == pytest.approx(3 * huge, rel=1e-12), by
    assert service.usage_totals().cost_usd == pytest.approx(3 * huge, rel=1e-12)
