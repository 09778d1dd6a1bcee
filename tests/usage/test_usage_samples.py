"""Ingest every sample file end to end: discover, classify, parse, price.

Per-session figures are the sums derived line by line in test_usage_transcripts.py
and test_usage_stream_json.py; repeated here as the overall acceptance check.
"""

from __future__ import annotations

import pytest

from fixture_paths import SAMPLES
from nerv.usage.discovery import FileKind, classify, iter_files
from nerv.usage.pricing import PriceTable
from nerv.usage.records import TokenUsage, UsageRecord, dedupe
from nerv.usage.stream_json import read_stream
from nerv.usage.transcripts import scan_transcript

# session -> (in, out, 5m, 1h, read), USD
TRANSCRIPT_SESSIONS = {
    # short: 1 opus-4-6 response
    "55604662-cf2a-4331-851a-ec234028f8ca": (TokenUsage(3, 13, 0, 13835, 11515), 0.1444475),
    # tool-heavy: 4 opus-4-6 responses
    "d6e0bada-1959-4eec-a9d2-0bfade768d8f": (TokenUsage(54, 212, 0, 17696, 88231), 0.2266455),
    # agent-progress: opus 1568/1112/0/18313/179771 ($0.3086555)
    #               + haiku  24/7/0/14285/95343 ($0.0381633), via agent_progress lines
    "491e126e-1e71-469c-ade2-fcc8af567c74": (TokenUsage(1592, 1119, 0, 32598, 275114), 0.3468188),
    # subagent file, rolled up to its parent session
    "8463c716-a2ea-4c14-9efa-87158ebd9f20": (TokenUsage(94, 33, 0, 13554, 299487), 0.0573157),
    # inline sidechain: main 64/2003/26074/0/190261 ($0.1850928) + side 65/1626/21673/0/133998 ($0.14605815)
    "5c0375b4-57a5-4f26-b12d-d022ee4e51b7": (TokenUsage(129, 3629, 47747, 0, 324259), 0.33115095),
}
# stream-json sessions are accounted by their result event's cost
STREAM_SESSIONS = {
    "1d83341e-ae14-4f52-b7e2-67651c9eb29a": 1.8977178,  # legacy cost_usd
    "1d1e46f9-35c7-4834-b529-846d5bb82288": 0.1354875,  # total_cost_usd
}


def test_ingest_every_sample() -> None:
    prices = PriceTable.load()
    records: list[UsageRecord] = []
    stream_costs: dict[str, float] = {}
    skipped: list[str] = []
    for path in iter_files([SAMPLES]):
        kind = classify(path)
        if kind in (FileKind.TRANSCRIPT, FileKind.SUBAGENT):
            scan = scan_transcript(path)
            assert scan.malformed == 0, path.name
            assert scan.end_offset == path.stat().st_size, path.name
            records += scan.records
        elif kind is FileKind.STREAM_JSON:
            stream = read_stream(path)
            assert stream.malformed == 0 and stream.result is not None, path.name
            assert stream.session_id is not None and stream.result.total_cost_usd is not None
            stream_costs[stream.session_id] = stream.result.total_cost_usd
        else:
            assert kind is FileKind.HOOK_INPUT, path.name
            skipped.append(path.name)

    assert sorted(skipped) == [
        "hook-input-permissionrequest-2026-02.json",
        "hook-input-posttooluse-2025-07.json",
        "hook-input-pretooluse-2025-07.json",
    ]
    priced = [prices.with_cost(r) for r in dedupe(records)]
    assert [r.model for r in priced if r.cost_usd is None] == []  # every sample model is known

    by_session: dict[str, tuple[TokenUsage, float]] = {}
    for r in priced:
        usage, cost = by_session.get(r.session_id, (TokenUsage(), 0.0))
        by_session[r.session_id] = (usage + r.usage, cost + (r.cost_usd or 0.0))
    assert {s: u for s, (u, _) in by_session.items()} == {s: u for s, (u, _) in TRANSCRIPT_SESSIONS.items()}
    for session, (_, cost) in TRANSCRIPT_SESSIONS.items():
        assert by_session[session][1] == pytest.approx(cost, abs=1e-12), session
    assert stream_costs == pytest.approx(STREAM_SESSIONS)
