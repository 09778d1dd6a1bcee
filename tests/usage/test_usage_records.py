from __future__ import annotations

import pytest

from nerv.usage.records import (
    TokenUsage,
    UsageFormatError,
    UsageRecord,
    better,
    dedupe,
    external_id,
    parse_timestamp_ms,
    usage_from_api,
)


def _rec(ext: str, usage: TokenUsage, source: str = "f") -> UsageRecord:
    return UsageRecord(
        external_id=ext,
        session_id="s",
        model="claude-opus-4-6",
        usage=usage,
        timestamp_ms=None,
        cwd=None,
        is_sidechain=False,
        agent_id=None,
        source_path=source,
    )


def test_token_usage_total_and_add() -> None:
    a = TokenUsage(input=1, output=2, cache_write_5m=3, cache_write_1h=4, cache_read=5)
    b = TokenUsage(input=10, output=20, cache_write_5m=30, cache_write_1h=40, cache_read=50)
    assert a.total == 15
    assert a.cache_write == 7
    assert a + b == TokenUsage(11, 22, 33, 44, 55)
    assert sum([a, b], TokenUsage()) == a + b


def test_external_id() -> None:
    assert external_id("msg_1", "req_1") == "msg_1:req_1"
    assert external_id("msg_1", None) == "msg_1"


def test_usage_split_from_cache_creation_object() -> None:
    # Shape of cc-transcript-v2.1.38-opus46-short.jsonl line 5 (1h cache).
    raw = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 13835,
        "cache_read_input_tokens": 11515,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 13835},
        "output_tokens": 13,
        "service_tier": "standard",
    }
    assert usage_from_api(raw) == TokenUsage(3, 13, 0, 13835, 11515)


def test_usage_without_split_is_all_5m() -> None:
    # Shape of the stream-json samples: no cache_creation object.
    raw = {"input_tokens": 10, "cache_creation_input_tokens": 21570, "output_tokens": 5}
    assert usage_from_api(raw) == TokenUsage(10, 5, 21570, 0, 0)


def test_usage_split_remainder_is_kept_as_5m() -> None:
    raw = {
        "cache_creation_input_tokens": 100,
        "cache_creation": {"ephemeral_1h_input_tokens": 60},
    }
    assert usage_from_api(raw) == TokenUsage(cache_write_5m=40, cache_write_1h=60)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [1, 2],
        {"output_tokens": "12"},
        {"output_tokens": -1},
        {"output_tokens": 1.5},
        {"output_tokens": True},
        {"cache_creation": {"ephemeral_1h_input_tokens": "x"}},
    ],
)
def test_usage_rejects_bad_shapes(raw: object) -> None:
    with pytest.raises(UsageFormatError):
        usage_from_api(raw)


def test_null_counts_are_zero() -> None:
    assert usage_from_api({"input_tokens": None, "output_tokens": 4}) == TokenUsage(output=4)


def test_better_keeps_biggest_copy_in_either_order() -> None:
    # cc-transcript-v2.1.38-opus46-tool-heavy.jsonl lines 34 and 37: the same
    # response, output 25 (placeholder) then 173 (final).
    early = _rec("m:r", TokenUsage(47, 25, 0, 1115, 26504), "line34")
    final = _rec("m:r", TokenUsage(47, 173, 0, 1115, 26504), "line37")
    assert better(early, final) is final
    assert better(final, early) is final


def test_better_tie_keeps_the_held_copy() -> None:
    a = _rec("m:r", TokenUsage(1, 2, 3, 4, 5), "a")
    b = _rec("m:r", TokenUsage(1, 2, 3, 4, 5), "b")
    assert better(a, b) is a
    assert better(b, a) is b


def test_better_breaks_equal_totals_deterministically() -> None:
    # Same total (10), different split: the higher output wins whatever the order.
    a = _rec("m:r", TokenUsage(input=6, output=4))
    b = _rec("m:r", TokenUsage(input=4, output=6))
    assert better(a, b) is b
    assert better(b, a) is b


def test_better_refuses_different_responses() -> None:
    with pytest.raises(ValueError):
        better(_rec("a", TokenUsage()), _rec("b", TokenUsage()))


def test_dedupe_keeps_first_seen_order_and_biggest_copy() -> None:
    records = [
        _rec("x", TokenUsage(output=1)),
        _rec("y", TokenUsage(output=5)),
        _rec("x", TokenUsage(output=9)),
        _rec("x", TokenUsage(output=3)),
    ]
    kept = dedupe(records)
    assert [r.external_id for r in kept] == ["x", "y"]
    assert [r.usage.output for r in kept] == [9, 5]


def test_parse_timestamp_ms() -> None:
    # 2026-02-10T21:58:15.454Z: 1770760695 s since the epoch (date -d ... +%s), + 454 ms.
    assert parse_timestamp_ms("2026-02-10T21:58:15.454Z") == 1770760695454
    assert parse_timestamp_ms("2026-02-10T21:58:15") is None  # naive: no instant
    assert parse_timestamp_ms("yesterday") is None
    assert parse_timestamp_ms(None) is None
