"""Exact money: nano-dollar integers printed as the decimals they are, in JSON as well."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from nerv.usage.money import NANO_PER_USD, decimal_text, fmt_usd, to_nano, usd

MILLION_USD = 10**6 * NANO_PER_USD


@given(st.integers(min_value=0, max_value=MILLION_USD - 1))
def test_json_prints_the_exact_decimal(nano: int) -> None:
    # The law the report's JSON relies on: the float nearest nano / 1e9, printed by json,
    # reads back as exactly nano nano-dollars -- never 0.33115094999999994.
    text = json.dumps(usd(nano))
    assert Decimal(text) == Decimal(nano).scaleb(-9)
    if usd(nano) >= 1e-4:  # below that Python writes an exponent (5e-06), still exact
        whole_dollars = nano % NANO_PER_USD == 0
        assert text == (f"{decimal_text(nano)}.0" if whole_dollars else decimal_text(nano))
    assert to_nano(usd(nano)) == nano


@given(st.integers(min_value=-MILLION_USD, max_value=MILLION_USD))
def test_decimal_text_has_at_most_nine_places(nano: int) -> None:
    text = decimal_text(nano)
    assert "e" not in text and Decimal(text) == Decimal(nano).scaleb(-9)
    assert len(text.partition(".")[2]) <= 9


def test_examples() -> None:
    # The inline sample session: 20 responses summing to $0.33115095 (a float sum gives
    # 0.33115094999999994; the nano-dollar sum is 331,150,950).
    assert usd(331_150_950) == 0.33115095 and json.dumps(usd(331_150_950)) == "0.33115095"
    assert decimal_text(331_150_950) == "0.33115095" and decimal_text(5_000) == "0.000005"
    assert decimal_text(2 * NANO_PER_USD) == "2" and decimal_text(-1) == "-0.000000001"
    assert to_nano(0.1 + 0.2) == 300_000_000  # 0.30000000000000004 rounds back
    assert [fmt_usd(n) for n in (0, 4_999_999, 5_000_000, 1_234_567_890_000)] == [
        "$0.00",
        "$0.00",
        "$0.01",  # half a cent rounds up
        "$1,234.57",
    ]
    assert fmt_usd(-5_000_000) == "-$0.01" and fmt_usd(123_456_789, 4) == "$0.1235"
