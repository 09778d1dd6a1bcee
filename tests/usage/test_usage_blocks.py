"""5-hour blocks (``--by block``): the window rules on hand-made events, then the real
samples, with the active block's burn rate and projection derived by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from usage_helpers import EXPECTED, S_ARRAY, S_BASIC, S_INLINE, S_PROGRESS, S_SHORT, S_SUBAGENT, S_TOOL, Tree

from nerv import DatabaseService
from nerv.usage.blocks import BLOCK_MS, HOUR_MS, UsageEvent, block_start, build_blocks
from nerv.usage.money import to_nano
from nerv.usage.records import TokenUsage

T0 = int(datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp() * 1000)  # a whole UTC hour
MIN = 60_000
T_1930 = int(datetime(2026, 2, 10, 19, 30, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _event(
    at: int, cost_nano: int = 1_000, model: str = "claude-opus-4-6", session: str = "s1"
) -> UsageEvent:
    return UsageEvent(at, session, model, TokenUsage(input=10, output=5), cost_nano, 0, 1)


def test_a_block_starts_at_the_hour_and_lasts_five_hours() -> None:
    events = [
        _event(T0 + 17 * MIN),  # 09:17 opens the 09:00-14:00 block
        _event(T0 + 4 * HOUR_MS + 59 * MIN),  # 13:59: still inside
        _event(T0 + BLOCK_MS),  # 14:00 exactly: the window is [09:00, 14:00), so a new block at 14:00
        _event(T0 + BLOCK_MS + 3 * HOUR_MS),  # 17:00: inside the 14:00-19:00 block
    ]
    rows = build_blocks(events, now_ms=0)
    assert [(r.extra["start_at"], r.extra["end_at"], r.responses) for r in rows] == [
        (T0, T0 + BLOCK_MS, 2),
        (T0 + BLOCK_MS, T0 + 2 * BLOCK_MS, 2),
    ]
    assert rows[0].first_at == T0 + 17 * MIN and rows[0].last_at == T0 + 4 * HOUR_MS + 59 * MIN
    assert rows[0].label == "2026-03-02 09:00-14:00" and rows[0].key == "2026-03-02T09:00+00:00"


def test_a_gap_starts_a_new_block_floored_to_its_own_hour() -> None:
    # 09:05, then nothing until 20:40: the second block starts at 20:00, not at 14:00 or 19:00.
    rows = build_blocks([_event(T0 + 5 * MIN), _event(T0 + 11 * HOUR_MS + 40 * MIN)], now_ms=0)
    assert [r.extra["start_at"] for r in rows] == [T0, T0 + 11 * HOUR_MS]
    assert block_start(T0 + 11 * HOUR_MS + 40 * MIN) == T0 + 11 * HOUR_MS


def test_only_the_block_open_now_is_active_and_it_projects_its_pace() -> None:
    # Two responses at 09:10 ($0.30) and 10:10 ($0.30): $0.60 over a 60-minute span is $0.60/h.
    events = [_event(T0 + 10 * MIN, 300_000_000), _event(T0 + 70 * MIN, 300_000_000)]
    now = T0 + 2 * HOUR_MS  # 11:00: 3 hours left in the 09:00-14:00 block
    [row] = build_blocks(events, now_ms=now)
    assert row.extra["active"] is True
    assert row.extra["burn_rate"] == {
        "tokens_per_minute": 0.5,  # 30 tokens in 60 minutes
        "cost_usd_per_hour": 0.6,
        "cost_nanousd_per_hour": 600_000_000,
    }
    # $0.60 + 3 h x $0.60/h = $2.40; tokens 30 + 180 min x 0.5 = 120.
    assert row.extra["projected"] == {
        "total_tokens": 120,
        "cost_usd": 2.4,
        "cost_nanousd": 2_400_000_000,
        "remaining_minutes": 180,
    }
    ended = build_blocks(events, now_ms=T0 + BLOCK_MS)[0]  # 14:00: over
    assert (
        ended.extra["active"] is False
        and ended.extra["burn_rate"] is None
        and ended.extra["projected"] is None
    )
    # One response only: a zero span gives no rate (ccusage's rule), but the block is active.
    [single] = build_blocks(events[:1], now_ms=now)
    assert single.extra["active"] is True and single.extra["burn_rate"] is None


def test_breakdown_inside_a_block() -> None:
    events = [
        _event(T0, 700, "claude-opus-4-6"),
        _event(T0 + MIN, 200, "claude-haiku-4-5", session="s2"),
        _event(T0 + 2 * MIN, 300, "claude-opus-4-6"),
    ]
    [row] = build_blocks(events, now_ms=0, breakdown=True)
    assert (
        row.sessions == 2 and row.cost_nano == 1_200 and row.models == ["claude-haiku-4-5", "claude-opus-4-6"]
    )
    assert row.breakdown is not None
    assert [(s.model, s.cost_nano, s.responses) for s in row.breakdown] == [
        ("claude-opus-4-6", 1_000, 2),
        ("claude-haiku-4-5", 200, 1),
    ]
    assert build_blocks(events, now_ms=0)[0].breakdown is None


def test_blocks_of_the_samples(ingested: DatabaseService) -> None:
    # First and last responses per session (UTC; the stream-json results at their files' mtime):
    #   inline     2025-09-07 09:52:09.443 .. 09:54:26.499  -> block 09:00-14:00
    #   array, basic 2026-01-15 12:00 (mtime)              -> block 12:00-17:00
    #   short      2026-02-10 21:11:59.186                  -> opens block 21:00-02:00
    #   progress   2026-02-10 21:54:55.364 .. 21:58:27.120  -> same block
    #   tool-heavy 2026-02-10 22:57:57.941 .. 22:59:37.598  -> same block
    #   subagent   2026-02-11 22:38:05.744 .. 22:38:47.556  -> past 02:00: block 22:00-03:00
    rows = ingested.usage_report("block", now_ms=0)
    expect = [
        ("2025-09-07T09:00+00:00", (S_INLINE,), 20),
        ("2026-01-15T12:00+00:00", (S_ARRAY, S_BASIC), 2),
        ("2026-02-10T21:00+00:00", (S_SHORT, S_PROGRESS, S_TOOL), 1 + 11 + 4),
        ("2026-02-11T22:00+00:00", (S_SUBAGENT,), 13),
    ]
    assert [r.key for r in rows] == [key for key, _, _ in expect]
    for row, (key, sessions, responses) in zip(rows, expect, strict=True):
        assert row.cost_nano == sum(to_nano(EXPECTED[s][1]) for s in sessions), key
        assert row.tokens == sum((EXPECTED[s][0] for s in sessions), TokenUsage()), key
        assert (row.sessions, row.responses, row.extra["active"]) == (len(sessions), responses, False), key
    # 2026-01-15: $1.8977178 + $0.1354875 = $2.0332053, exactly.
    assert rows[1].cost_nano == 2_033_205_300 and rows[1].to_json()["cost_usd"] == 2.0332053


def test_the_active_block_of_the_samples(ingested: DatabaseService) -> None:
    # At 2026-02-10 23:30 UTC the 21:00-02:00 block is active, 150 minutes left (9,000,000 ms).
    # Activity spans 21:11:59.186 .. 22:59:37.598 = 6,458,412 ms; it holds $0.7179118 =
    # 717,911,800 nano-dollars and 1649 + 1344 + 64129 + 374860 = 441,982 tokens.
    # Burn rate: 717,911,800 x 3,600,000 / 6,458,412 = 400,173,058.02 -> $0.400173058/h;
    # 441,982 x 60,000 / 6,458,412 = 4106.1 tokens/min.
    # Projection: 717,911,800 + 717,911,800 x 9,000,000 / 6,458,412 (= 1,000,432,645.05)
    # = 1,718,344,445 nano ($1.718344445).
    now = int(datetime(2026, 2, 10, 23, 30, tzinfo=UTC).timestamp() * 1000)
    until = int(datetime(2026, 2, 11, tzinfo=UTC).timestamp() * 1000)
    rows = ingested.usage_report("block", until=until, now_ms=now)
    active = rows[-1]
    assert active.key == "2026-02-10T21:00+00:00" and active.extra["active"] is True
    assert [r.extra["active"] for r in rows[:-1]] == [False, False]
    assert active.tokens.total == 441_982 and active.cost_nano == 717_911_800
    assert active.extra["burn_rate"] == {
        "tokens_per_minute": 4106.1,
        "cost_usd_per_hour": 0.400173058,
        "cost_nanousd_per_hour": 400_173_058,
    }
    # tokens: 441,982 x 9,000,000 / 6,458,412 = 615,915.8 -> 615,916; 441,982 + 615,916 = 1,057,898
    assert active.extra["projected"] == {
        "total_tokens": 1_057_898,
        "cost_usd": 1.718344445,
        "cost_nanousd": 1_718_344_445,
        "remaining_minutes": 150,
    }


def test_blocks_in_a_half_hour_zone(ingested: DatabaseService, monkeypatch: pytest.MonkeyPatch) -> None:
    # Blocks are floored to the UTC hour (as ccusage does): in India (UTC+5:30) the
    # 2026-02-10 21:00 UTC block is shown from 2026-02-11 02:30 to 07:30 local time.
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    rows = {r.key: r for r in ingested.usage_report("block", now_ms=0)}
    row = rows["2026-02-11T02:30+05:30"]
    assert row.label == "2026-02-11 02:30-07:30" and row.cost_nano == 717_911_800


def test_events_summed_per_hour_in_any_order_within_it() -> None:
    # What the database hands over: one event per session, model and hour, with its first
    # and last moment; within an hour the order is arbitrary.
    events = [
        UsageEvent(T0 + 40 * MIN, "s2", "m", TokenUsage(input=1), 5, 0, 2, T0 + 50 * MIN),
        UsageEvent(T0 + 10 * MIN, "s1", "m", TokenUsage(input=1), 5, 0, 3, T0 + 20 * MIN),
        UsageEvent(T0 + 5 * HOUR_MS + 1, "s1", "m", TokenUsage(input=1), 5, 0, 1),
    ]
    first, second = build_blocks(events, now_ms=0)
    assert (first.first_at, first.last_at, first.responses, first.sessions) == (
        T0 + 10 * MIN,
        T0 + 50 * MIN,
        5,
        2,
    )
    assert (second.extra["start_at"], second.first_at, second.last_at) == (
        T0 + BLOCK_MS,
        T0 + BLOCK_MS + 1,
        T0 + BLOCK_MS + 1,
    )


def test_since_keeps_whole_blocks(ingested: DatabaseService) -> None:
    # --since 2026-02-11 (UTC midnight): the block of 2026-02-10 21:00-02:00 ends after it, so
    # it is kept whole ($0.7179118, though all its usage is from the 10th), as is the
    # 2026-02-11 22:00 block ($0.0573157); nothing older.
    from nerv.usage.report import parse_bound

    since = parse_bound("2026-02-11", end=False)
    rows = ingested.usage_report("block", since=since, now_ms=0)
    assert [(r.key, r.cost_nano) for r in rows] == [
        ("2026-02-10T21:00+00:00", 717_911_800),
        ("2026-02-11T22:00+00:00", 57_315_700),
    ]
    # That last block runs to 2026-02-12 03:00: still there --since the 12th, gone from 03:00.
    assert [r.key for r in ingested.usage_report("block", since=parse_bound("2026-02-12", end=False))] == [
        "2026-02-11T22:00+00:00"
    ]
    assert ingested.usage_report("block", since=parse_bound("2026-02-12T03:00", end=False)) == []


def test_windows_are_the_accounts_even_for_one_project(service: DatabaseService, tree: Tree) -> None:
    # Work outside the project at 19:30 UTC opens the account's 19:00-00:00 window; the
    # project's responses of 21:11-22:59 fall inside it. Narrowed to the project, the block
    # is still 19:00-00:00 (not 21:00-02:00) and holds only the project's $0.7179118.
    spotter = service.create_project("spotter")
    service.add_repo(spotter.id, "/home/marco/projects/spotter")
    service.ingest([tree.projects, tree.out])
    other = service.create_session(None, started_at=T_1930)
    service.record_metric(other.id, cost_usd=1.0, model="claude-opus-4-6", recorded_at=T_1930)
    mine = {r.key: r for r in service.usage_report("block", project_id=spotter.id, now_ms=0)}
    assert list(mine) == ["2026-02-10T19:00+00:00"]
    block = mine["2026-02-10T19:00+00:00"]
    assert (block.cost_nano, block.sessions, block.responses) == (717_911_800, 3, 16)
    assert (block.first_at, block.last_at) == (
        1_770_757_919_186,
        1_770_764_377_598,
    )  # 21:11:59.186, 22:59:37.598
    everyone = {r.key: r.cost_nano for r in service.usage_report("block", now_ms=0)}
    assert everyone["2026-02-10T19:00+00:00"] == 717_911_800 + 1_000_000_000
    loose = {r.key for r in service.usage_report("block", unassigned=True, now_ms=0)}
    assert "2026-02-10T19:00+00:00" in loose and "2026-02-11T22:00+00:00" in loose
