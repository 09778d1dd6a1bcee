from __future__ import annotations

from datetime import date

import pytest

from nerv.errors import ValidationError
from nerv.usage.pricing import PriceTable
from nerv.usage.records import TokenUsage, UsageRecord


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


@pytest.mark.parametrize(
    ("model", "key"),
    [
        # exact ids as written by Claude Code
        ("claude-opus-4-6", "claude-opus-4-6"),
        # dated ids: the -YYYYMMDD suffix is stripped
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4"),
        ("claude-opus-4-20250514", "claude-opus-4"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
        ("claude-3-haiku-20240307", "claude-3-haiku"),
        # provider spellings and context tags
        ("claude-opus-4-6[1m]", "claude-opus-4-6"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("claude-opus-4-0", "claude-opus-4"),
        # family prefix: a non-version suffix keeps the family's price
        ("claude-opus-4-6-thinking", "claude-opus-4-6"),
    ],
)
def test_resolution(table: PriceTable, model: str, key: str) -> None:
    assert table.resolve(model) == key
    price = table.price_for(model)
    assert price is not None and price.model == key


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-7",  # newer minor version: must not fall back to Opus 4's $15
        "claude-opus-4-7-20260301",
        "claude-sonnet-5",
        "gpt-4o",
        "",
    ],
)
def test_unknown_models_are_none_not_free(table: PriceTable, model: str) -> None:
    assert table.price_for(model) is None
    assert table.cost_of(model, TokenUsage(input=1000)) is None


def test_synthetic_is_known_and_free(table: PriceTable) -> None:
    price = table.price_for("<synthetic>")
    assert price is not None
    assert price.cost(TokenUsage(100, 100, 100, 100, 100)) == 0.0


@pytest.mark.parametrize(
    ("model", "rates"),
    [
        # (input, output, 5m write = 1.25x, 1h write = 2x, read = 0.1x) USD/MTok
        ("claude-opus-4-6", (5, 25, 6.25, 10, 0.5)),
        ("claude-opus-4-5", (5, 25, 6.25, 10, 0.5)),
        ("claude-opus-4-1", (15, 75, 18.75, 30, 1.5)),
        ("claude-opus-4", (15, 75, 18.75, 30, 1.5)),
        ("claude-sonnet-4-5", (3, 15, 3.75, 6, 0.3)),
        ("claude-sonnet-4", (3, 15, 3.75, 6, 0.3)),
        ("claude-haiku-4-5", (1, 5, 1.25, 2, 0.1)),
        ("claude-3-7-sonnet", (3, 15, 3.75, 6, 0.3)),
        ("claude-3-5-sonnet", (3, 15, 3.75, 6, 0.3)),
        ("claude-3-5-haiku", (0.8, 4, 1, 1.6, 0.08)),
        ("claude-3-opus", (15, 75, 18.75, 30, 1.5)),
        # Haiku 3: the official table rounds its cache rates (0.30, 0.03), set explicitly
        ("claude-3-haiku", (0.25, 1.25, 0.3, 0.5, 0.03)),
    ],
)
def test_rates(table: PriceTable, model: str, rates: tuple[float, ...]) -> None:
    price = table.price_for(model)
    assert price is not None
    got = (price.input, price.output, price.cache_write_5m, price.cache_write_1h, price.cache_read)
    assert got == pytest.approx(rates)


def test_cost_matches_claude_codes_own_figure(table: PriceTable) -> None:
    # stream-json-v2.1.7-opus45-basic.ndjson: the result reports total_cost_usd
    # 0.1354875 for input 10, cache write 21570 (5m), output 25 on claude-opus-4-5.
    # 10*5 + 21570*6.25 + 25*25 = 50 + 134812.5 + 625 = 135487.5 per MTok.
    usage = TokenUsage(input=10, output=25, cache_write_5m=21570)
    assert table.cost_of("claude-opus-4-5-20251101", usage) == pytest.approx(0.1354875, abs=1e-12)


def test_with_cost(table: PriceTable) -> None:
    rec = UsageRecord(
        "m", "s", "claude-haiku-4-5-20251001", TokenUsage(output=1_000_000), None, None, False, None, "f"
    )
    assert table.with_cost(rec).cost_usd == pytest.approx(5.0)
    unknown = UsageRecord("m", "s", "mystery-model", TokenUsage(output=1), None, None, False, None, "f")
    assert table.with_cost(unknown).cost_usd is None


def test_effective_date_and_rows(table: PriceTable) -> None:
    assert isinstance(table.effective_date, date)
    assert table.source.startswith("https://")
    rows = table.as_rows()
    assert [r["model"] for r in rows][:2] == ["claude-opus-4-6", "claude-opus-4-5"]
    assert {r["origin"] for r in rows} == {"builtin"}
    assert all(
        set(r) == {"model", "input", "output", "cache_write_5m", "cache_write_1h", "cache_read", "origin"}
        for r in rows
    )


def test_override_input_rederives_cache_rates() -> None:
    t = PriceTable.load({"claude-opus-4-6": {"input": 4}})
    price = t.price_for("claude-opus-4-6")
    assert price is not None
    got = (price.input, price.output, price.cache_write_5m, price.cache_write_1h, price.cache_read)
    assert got == pytest.approx((4, 25, 5, 8, 0.4))  # 4 * 1.25, 4 * 2, 4 * 0.1
    assert [r["origin"] for r in t.as_rows() if r["model"] == "claude-opus-4-6"] == ["override"]


def test_override_key_is_normalized() -> None:
    t = PriceTable.load({"Claude-Opus-4-6": {"output": 20}})
    price = t.price_for("claude-opus-4-6")
    assert price is not None and price.output == 20


def test_override_explicit_cache_rate_wins() -> None:
    t = PriceTable.load({"claude-sonnet-4": {"cache_read": 0.25}})
    price = t.price_for("claude-sonnet-4-20250514")
    assert price is not None
    assert price.cache_read == pytest.approx(0.25)
    assert price.cache_write_5m == pytest.approx(3.75)


def test_override_adds_a_new_model_found_by_dated_id() -> None:
    t = PriceTable.load({"claude-opus-4-7": {"input": 5, "output": 25}})
    price = t.price_for("claude-opus-4-7-20260301")
    assert price is not None and price.model == "claude-opus-4-7"
    assert price.cache_write_1h == pytest.approx(10)


def test_override_of_dated_id_builds_on_its_family() -> None:
    t = PriceTable.load({"claude-opus-4-5-20251101": {"output": 30}})
    price = t.price_for("claude-opus-4-5-20251101")
    assert price is not None and (price.input, price.output) == (5, 30)
    other = t.price_for("claude-opus-4-5")
    assert other is not None and other.output == 25


@pytest.mark.parametrize(
    "overrides",
    [
        {"brand-new-model": {"input": 1}},  # unknown model needs input and output
        {"claude-opus-4-6": {"inptu": 1}},  # typo'd field
        {"claude-opus-4-6": {"input": -1}},
        {"claude-opus-4-6": {"input": float("nan")}},
        {"claude-opus-4-6": {"input": True}},
        {"<synthetic>": {"input": 1, "output": 1}},
    ],
)
def test_bad_overrides_are_rejected(overrides: dict[str, dict[str, float]]) -> None:
    with pytest.raises(ValidationError):
        PriceTable.load(overrides)


def test_bad_table_data_is_rejected() -> None:
    good = {
        "effective_date": "2026-02-17",
        "multipliers": {"cache_write_5m": 1.25, "cache_write_1h": 2, "cache_read": 0.1},
        "models": {"m": {"input": 1, "output": 2}},
    }
    assert PriceTable.from_data(good).price_for("m") is not None
    for broken in (
        {**good, "effective_date": "soon"},
        {**good, "models": {}},
        {**good, "multipliers": {"cache_read": 0.1}},
        {**good, "aliases": {"a": 3}},
        [good],
    ):
        with pytest.raises(ValidationError):
            PriceTable.from_data(broken)
