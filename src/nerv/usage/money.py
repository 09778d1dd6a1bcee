"""Exact money for reports: integer nano-dollars (10**-9 USD).

Costs are stored per API response as REAL dollars (``metrics.cost_usd``); summed as
floats they drift (``0.33115094999999994``). Every response's cost is a whole number
of nano-dollars at the shipped rates (USD per million tokens with at most three
decimals), so reports round each stored cost to nano-dollars once, in SQL, and add
whole numbers from there on. (A finer ``usage.prices`` override, or a stream-json
result split across models, can move a response by at most half a nano-dollar.)

SQLite adds them as integer-valued doubles, not as INTEGERs: exact while a sum stays
under 2**53 nano-dollars ($9,007,199.25), and beyond that an approximation rather than
an "integer overflow" error (a poisoned token count can price one response at
billions of dollars; an INTEGER sum of nano-dollars would then fail the whole report).

For JSON, ``nano / 1e9`` is printed by Python's shortest round-trip float repr: for any
amount below $1,000,000 (fewer than 16 significant digits) that is exactly the decimal
with at most 9 places -- ``0.33115095``, never ``0.33115094999999994`` (a property test
states it). Amounts under $0.0001 come out in exponent form (``5e-06``), still exact.
"""

from __future__ import annotations

NANO_PER_USD = 1_000_000_000

# SQL turning one stored REAL cost into whole nano-dollars (an integer-valued REAL; see above).
NANO_SQL = "round({} * 1e9)"


def to_nano(usd: float) -> int:
    """A float dollar amount rounded to whole nano-dollars (half away from zero, as SQLite)."""
    scaled = usd * NANO_PER_USD
    return int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)


def usd(nano: int) -> float:
    """The float nearest ``nano`` nano-dollars; its repr is the exact decimal (see above)."""
    return nano / NANO_PER_USD


def decimal_text(nano: int) -> str:
    """``nano`` as a plain decimal string with at most 9 places and no exponent: ``0.33115095``."""
    sign = "-" if nano < 0 else ""
    whole, frac = divmod(abs(nano), NANO_PER_USD)
    digits = f"{frac:09d}".rstrip("0")
    return f"{sign}{whole}.{digits}" if digits else f"{sign}{whole}"


def fmt_usd(nano: int, places: int = 2) -> str:
    """``$1,234.57`` for people: rounded half up to ``places`` (2 by default), computed on integers."""
    step = 10 ** (9 - places)
    sign = "-" if nano < 0 else ""
    cents, rest = divmod(abs(nano), step)
    cents += rest * 2 >= step
    whole, frac = divmod(cents, 10**places)
    return f"{sign}${whole:,}" + (f".{frac:0{places}d}" if places else "")
