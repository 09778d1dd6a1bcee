"""stream-json parsing against the real samples; figures derived by hand (see comments).

Opus 4 rates (USD/MTok): input 15, output 75, 5m write 18.75, read 1.5.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixture_paths import SAMPLES
from nerv.usage.pricing import PriceTable
from nerv.usage.records import LineKind, TokenUsage, UsageRecord
from nerv.usage.stream_json import ModelUsage, parse_result, read_stream

BASIC = SAMPLES / "stream-json-v2.1.7-opus45-basic.ndjson"
ARRAY = SAMPLES / "stream-json-2025-06-opus4-task-subagents.json"

PRICES = PriceTable.load()


def _sum(records: list[UsageRecord]) -> TokenUsage:
    return sum((r.usage for r in records), TokenUsage())


def test_basic_ndjson() -> None:
    # 3 lines: system/init, one assistant (output_tokens 5, a placeholder), result.
    scan = read_stream(BASIC)
    assert scan.counts == {
        LineKind.IGNORED: 1,
        LineKind.USAGE: 2,
        LineKind.MALFORMED: 0,
        LineKind.SYNTHETIC: 0,
    }
    [rec] = scan.records
    assert rec.external_id == "msg_01Y1Lo6gYUXN71XaAq7sjUPm"  # no requestId in stream-json
    assert rec.session_id == "1d1e46f9-35c7-4834-b529-846d5bb82288"
    assert rec.cwd == "/home/cyou/claude-agent-sdk-gleam"  # from system/init
    assert rec.usage == TokenUsage(input=10, output=5, cache_write_5m=21570)
    assert rec.is_sidechain is False and rec.timestamp_ms is None
    result = scan.result
    assert result is not None
    assert result.total_cost_usd == pytest.approx(0.1354875)
    # The result line carries the final count: output 25, not 5.
    assert result.usage == TokenUsage(input=10, output=25, cache_write_5m=21570)
    assert result.num_turns == 1 and result.is_error is False
    assert result.model_usage == {}
    assert scan.session_id == "1d1e46f9-35c7-4834-b529-846d5bb82288"


def test_array_with_task_subagents_and_legacy_cost() -> None:
    # JSON array of 52 events; 26 assistant events for 18 distinct message ids
    # (msg_01CPUg x4, msg_01UwwN x6, the other 16 once).
    # Main loop (parent_tool_use_id null), 2 responses:
    #   msg_01CPUg (4 copies): in 3,   out 7, 5m 2169, read 14910
    #   msg_01GxTB (last):     in 655, out 1, 5m 3116, read 17079
    #   in 658, out 8, 5m 5285, read 31989 -- equal to the result's usage except output (444)
    # Task subagents (parent_tool_use_id = the Task tool_use), 16 responses:
    #   msg_01A8gP 4/107/13801/0      msg_01UwwN 4/8/13802/0 (6 copies)  msg_011Lfb 4/3/13792/0
    #   msg_01J9wv 7/32/123/13792     msg_017z12 8/89/176/13801          msg_011CVy 8/24/133/13977
    #   msg_01HUJr 7/72/674/13915     msg_01PLGp 8/77/133/14110          msg_01Agr9 7/24/94/14589
    #   msg_01ThWw 8/86/117/14243     msg_015FgG 7/38/151/14683          msg_01Lq6R 8/25/125/14360
    #   msg_015pX9 8/30/128/14485     msg_01CsCm 8/34/7414/14613         msg_019c6J 8/78/101/22027
    #   msg_012xrY 8/25/105/22128     (in/out/5m/read)
    #   in 112, out 752, 5m 50869, read 200723
    # The result has only the pre-rename fields cost_usd = total_cost = 1.8977178.
    scan = read_stream(ARRAY)
    assert scan.malformed == 0
    assert scan.counts[LineKind.USAGE] == 26 + 1  # assistant events + the result
    assert len(scan.records) == 18
    main = [r for r in scan.records if not r.is_sidechain]
    sub = [r for r in scan.records if r.is_sidechain]
    assert _sum(main) == TokenUsage(input=658, output=8, cache_write_5m=5285, cache_read=31989)
    assert _sum(sub) == TokenUsage(input=112, output=752, cache_write_5m=50869, cache_read=200723)
    assert {r.agent_id for r in sub} == {
        "toolu_014ShrK4SGpysCvNPmtLiZEZ",
        "toolu_011NzzzYrnhuLmETVTWY8snT",
        "toolu_01XNkN4CjjYJphmpe75T1juR",
    }
    assert {r.model for r in scan.records} == {"claude-opus-4-20250514"}
    assert {r.session_id for r in scan.records} == {"1d83341e-ae14-4f52-b7e2-67651c9eb29a"}
    result = scan.result
    assert result is not None
    assert result.total_cost_usd == pytest.approx(1.8977178)
    assert result.usage == TokenUsage(input=658, output=444, cache_write_5m=5285, cache_read=31989)
    assert result.num_turns == 8

    # Why the result's cost is the session's cost: pricing the per-message
    # records (placeholder outputs) gives
    #   main 658*15 + 8*75 + 5285*18.75 + 31989*1.5 = 157547.25
    #   sub  112*15 + 752*75 + 50869*18.75 + 200723*1.5 = 1312958.25
    #   = 1470505.5 /1e6 = $1.4705055, well under Claude Code's $1.8977178;
    # and the result's own usage (main loop only) prices at
    #   658*15 + 444*75 + 5285*18.75 + 31989*1.5 = 190247.25 /1e6 = $0.19024725.
    per_message = sum(PRICES.cost_of(r.model, r.usage) or 0.0 for r in scan.records)
    assert per_message == pytest.approx(1.4705055, abs=1e-9)
    assert PRICES.cost_of("claude-opus-4-20250514", result.usage) == pytest.approx(0.19024725, abs=1e-9)


def _same(a: Path, b: Path) -> None:
    sa, sb = read_stream(a), read_stream(b)
    assert [(r.external_id, r.usage, r.is_sidechain) for r in sa.records] == [
        (r.external_id, r.usage, r.is_sidechain) for r in sb.records
    ]
    assert sa.result is not None and sa.result == sb.result
    assert sa.counts == sb.counts


def test_ndjson_and_array_forms_agree(tmp_path: Path) -> None:
    events = [json.loads(line) for line in BASIC.read_text().splitlines()]
    as_array = tmp_path / "basic.json"
    as_array.write_text(json.dumps(events, indent=2))
    _same(BASIC, as_array)

    as_ndjson = tmp_path / "task.ndjson"
    as_ndjson.write_text("".join(json.dumps(e) + "\n" for e in json.loads(ARRAY.read_text())))
    _same(ARRAY, as_ndjson)


def test_array_read_in_small_chunks_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Force many buffer refills so elements straddle chunk boundaries.
    import nerv.usage.jsonstream as js

    monkeypatch.setattr(js, "_CHUNK", 7)
    monkeypatch.setattr(js, "_MAX_CHUNK", 64)
    scan = read_stream(ARRAY)
    assert len(scan.records) == 18 and scan.malformed == 0
    assert scan.result is not None and scan.result.total_cost_usd == pytest.approx(1.8977178)


def test_truncated_array_keeps_what_was_complete(tmp_path: Path) -> None:
    text = ARRAY.read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    scan = read_stream(cut)
    assert scan.malformed == 1  # the element cut in half; nothing after it is readable
    assert scan.result is None  # the run never finished: no authoritative cost
    assert 0 < len(scan.records) < 18


def test_cost_field_precedence() -> None:
    assert parse_result({"type": "result", "total_cost": 0.5}).total_cost_usd == 0.5
    assert parse_result({"type": "result", "cost_usd": 0.7, "total_cost": 0.5}).total_cost_usd == 0.7
    both = {"type": "result", "total_cost_usd": 1.25, "cost_usd": 0.7}
    assert parse_result(both).total_cost_usd == 1.25
    assert parse_result({"type": "result", "total_cost_usd": "1.0"}).total_cost_usd is None
    assert parse_result({"type": "result"}).usage == TokenUsage()


def test_model_usage() -> None:
    # Figures in the shape Claude Code 2.x writes; costUSD checks against our table:
    # opus-4-5: 5*5 + 1587*25 + 59073*0.5 + 30316*6.25 = 25 + 39675 + 29536.5 + 189475 = 258711.5 -> 0.2587115
    # haiku-4-5: 2823*1 + 270*5 = 4173 -> 0.004173; together 0.2628845 = total_cost_usd.
    event = {
        "type": "result",
        "session_id": "s",
        "total_cost_usd": 0.26288449999999997,
        "num_turns": 3,
        "usage": {"input_tokens": 5, "output_tokens": 1587},
        "modelUsage": {
            "claude-haiku-4-5-20251001": {"inputTokens": 2823, "outputTokens": 270, "costUSD": 0.004173},
            "claude-opus-4-5-20251101": {
                "inputTokens": 5,
                "outputTokens": 1587,
                "cacheReadInputTokens": 59073,
                "cacheCreationInputTokens": 30316,
                "webSearchRequests": 0,
                "costUSD": 0.2587115,
                "contextWindow": 200000,
            },
        },
    }
    result = parse_result(event)
    assert result.model_usage["claude-haiku-4-5-20251001"] == ModelUsage(TokenUsage(2823, 270), 0.004173)
    opus = result.model_usage["claude-opus-4-5-20251101"]
    assert opus.usage == TokenUsage(input=5, output=1587, cache_write_5m=30316, cache_read=59073)
    for model, mu in result.model_usage.items():
        assert PRICES.cost_of(model, mu.usage) == pytest.approx(mu.cost_usd, abs=1e-12)
    assert result.total_cost_usd == pytest.approx(sum(mu.cost_usd or 0 for mu in result.model_usage.values()))


def test_json_output_format_single_result(tmp_path: Path) -> None:
    f = tmp_path / "out.json"
    f.write_text(json.dumps({"type": "result", "session_id": "s1", "total_cost_usd": 0.01, "num_turns": 1}))
    scan = read_stream(f)
    assert scan.result is not None and scan.result.total_cost_usd == 0.01
    assert scan.records == [] and scan.session_id == "s1"


def test_unknown_and_synthetic_models(tmp_path: Path) -> None:
    events = [
        {"type": "system", "subtype": "init", "session_id": "s", "cwd": "/w"},
        {
            "type": "assistant",
            "session_id": "s",
            "message": {"id": "m1", "model": "claude-opus-9", "usage": {}},
        },
        {
            "type": "assistant",
            "session_id": "s",
            "message": {"id": "m2", "model": "<synthetic>", "usage": {}},
        },
        {
            "type": "assistant",
            "session_id": "s",
            "message": {"id": "m3", "model": "x", "usage": {"input_tokens": -3}},
        },
        "stray string",
    ]
    f = tmp_path / "s.ndjson"
    f.write_text("".join(json.dumps(e) + "\n" for e in events) + "{not json\n")
    scan = read_stream(f)
    assert scan.counts == {
        LineKind.IGNORED: 1,
        LineKind.USAGE: 1,
        LineKind.SYNTHETIC: 1,
        LineKind.MALFORMED: 3,
    }
    [rec] = scan.records
    assert rec.model == "claude-opus-9" and rec.cwd == "/w"
    assert PRICES.price_for(rec.model) is None  # reported as unknown, not priced at $0
    assert PRICES.with_cost(rec).cost_usd is None


def test_runs_without_timestamps_are_dated_by_mtime_and_duration() -> None:
    # Neither real output carries a timestamp: the end is the file's mtime, the start that
    # minus the result's duration_ms (2360 in the NDJSON, 88076 in the 2025 array).
    mtime = 1_768_478_400_000
    basic = read_stream(BASIC)
    assert (basic.first_at, basic.last_at) == (None, None)
    assert basic.result is not None and basic.result.duration_ms == 2360
    assert basic.span(mtime) == (mtime - 2360, mtime)
    array = read_stream(ARRAY)
    assert array.result is not None and array.result.duration_ms == 88076
    assert array.span(mtime) == (mtime - 88076, mtime)


def test_timestamps_inside_the_output_date_the_run(tmp_path: Path) -> None:
    # The real NDJSON with a transcript-style timestamp added to each event: those win over
    # the file's mtime and the duration, whichever events carry them.
    stamps = ["2026-01-15T08:59:58.000Z", None, "2026-01-15T09:00:00.360Z"]
    lines = []
    for line, stamp in zip(BASIC.read_text().splitlines(), stamps, strict=True):
        event = json.loads(line)
        if stamp:
            event["timestamp"] = stamp
        lines.append(json.dumps(event))
    dated = tmp_path / "dated.ndjson"
    dated.write_text("\n".join(lines) + "\n")
    scan = read_stream(dated)
    start, end = 1_768_467_598_000, 1_768_467_600_360  # 08:59:58.000Z and 09:00:00.360Z
    assert (scan.first_at, scan.last_at) == (start, end)
    assert scan.span(file_mtime_ms=1) == (start, end)
    assert scan.result is not None and scan.result.timestamp_ms == end
    # Only the start is dated (system/init): the end is that plus duration_ms, 2360 ms, not
    # the file's mtime: 08:59:58.000 + 2.360 s = 09:00:00.360.
    only_init = tmp_path / "init.ndjson"
    only_init.write_text("\n".join([lines[0], *BASIC.read_text().splitlines()[1:]]) + "\n")
    assert read_stream(only_init).span(file_mtime_ms=1_768_467_700_000) == (start, start + 2360)
    # Only the end is dated (the result): the start is that minus duration_ms.
    only_result = tmp_path / "result.ndjson"
    only_result.write_text("\n".join([*BASIC.read_text().splitlines()[:2], lines[2]]) + "\n")
    assert read_stream(only_result).span(file_mtime_ms=1) == (end - 2360, end)


@pytest.mark.parametrize("value", [-5, True, 1.5, "2360", None])
def test_a_bad_duration_is_ignored(value: object) -> None:
    event = {"type": "result", "total_cost_usd": 0.5, "duration_ms": value, "num_turns": value}
    result = parse_result(event)
    assert result.duration_ms is None and result.num_turns is None


def test_ingest_dates_a_stream_json_run_by_its_timestamps(tmp_path: Path) -> None:
    # End to end: the same dated output, its file touched a month later; ingest must count the
    # run when it happened (the result's timestamp), not when the file was last written.
    from nerv import DatabaseService

    lines = []
    for line, stamp in zip(BASIC.read_text().splitlines(),
                           ["2026-01-15T08:59:58.000Z", None, "2026-01-15T09:00:00.360Z"], strict=True):
        event = json.loads(line)
        if stamp:
            event["timestamp"] = stamp
        lines.append(json.dumps(event))
    folder = tmp_path / "runs"
    folder.mkdir()
    dated = folder / "dated.ndjson"
    dated.write_text("\n".join(lines) + "\n")
    month_later = 1_771_146_000  # 2026-02-15T09:00:00Z, in seconds
    os.utime(dated, (month_later, month_later))
    with DatabaseService(tmp_path / "state.db") as svc:
        svc.ingest([folder])
        rows = svc.usage_report("session")
    assert len(rows) == 1
    assert (rows[0].first_at, rows[0].last_at) == (1_768_467_600_360, 1_768_467_600_360)
