"""A dated per-model price table (shipped as ``prices.json``) and cost arithmetic.

An unknown model resolves to ``None``, never to a zero price: a silent $0
would make a usage report look cheap exactly when it is least trustworthy.
``<synthetic>`` (messages Claude Code fabricates without calling the API) is
known and free.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from importlib import resources

from nerv.errors import ValidationError
from nerv.usage.records import SYNTHETIC_MODEL, TokenUsage, UsageRecord

RATE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_DERIVED = ("cache_write_5m", "cache_write_1h", "cache_read")
_PER = 1_000_000

_CONTEXT_TAG = re.compile(r"\[[^\]]*\]$")  # "claude-opus-4-6[1m]" in modelUsage keys
_VENDOR_PREFIX = re.compile(r"^(?:[a-z]+\.)?anthropic\.")  # Bedrock "us.", "global.anthropic.claude-..."
_VENDOR_VERSION = re.compile(r"-v\d+(?::\d+)?$")  # Bedrock "...-v1:0"
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")
# After a family prefix, a 1-2 digit segment is a newer minor version
# ("claude-opus-4" vs "claude-opus-4-7"), which may be priced differently:
# refuse it so the model is reported unknown instead of mispriced.
_MINOR_VERSION = re.compile(r"\d{1,2}(?:-|$)")


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for each token category."""

    model: str
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float

    def cost(self, usage: TokenUsage) -> float:
        return (
            usage.input * self.input
            + usage.output * self.output
            + usage.cache_write_5m * self.cache_write_5m
            + usage.cache_write_1h * self.cache_write_1h
            + usage.cache_read * self.cache_read
        ) / _PER


_SYNTHETIC_PRICE = ModelPrice(SYNTHETIC_MODEL, 0.0, 0.0, 0.0, 0.0, 0.0)


def _rate(model: str, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValidationError(f"price {model}.{field} must be a non-negative number, got {value!r}")
    return float(value)


def _rates(model: str, raw: object) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"price entry for {model} must be an object")
    unknown = sorted(set(raw) - set(RATE_FIELDS))
    if unknown:
        raise ValidationError(f"price entry for {model} has unknown fields {unknown}; allowed: {RATE_FIELDS}")
    return {field: _rate(model, field, value) for field, value in raw.items()}


def _normalize(model: str) -> str:
    name = _CONTEXT_TAG.sub("", model.strip().lower())
    name = _VENDOR_PREFIX.sub("", name)
    name = _VENDOR_VERSION.sub("", name)
    return name.replace("@", "-")  # Vertex writes "claude-sonnet-4@20250514"


class PriceTable:
    """Model id -> :class:`ModelPrice`, valid as of ``effective_date``.

    Build with :meth:`load`; ``overrides`` let a user correct or extend the
    shipped prices without waiting for a release.
    """

    def __init__(
        self,
        rates: Mapping[str, Mapping[str, float]],
        *,
        multipliers: Mapping[str, float],
        effective_date: date,
        source: str = "",
        aliases: Mapping[str, str] | None = None,
        overridden: frozenset[str] = frozenset(),
    ) -> None:
        self.effective_date = effective_date
        self.source = source
        self.overridden = overridden
        self._aliases = dict(aliases or {})
        self._prices: dict[str, ModelPrice] = {}
        for model, given in rates.items():
            if "input" not in given or "output" not in given:
                raise ValidationError(f"price entry for {model} needs at least input and output")
            r = {**{f: round(given["input"] * multipliers[f], 6) for f in _DERIVED}, **given}
            self._prices[model] = ModelPrice(
                model, r["input"], r["output"], r["cache_write_5m"], r["cache_write_1h"], r["cache_read"]
            )
        self._resolved: dict[str, str | None] = {}

    @classmethod
    def load(cls, overrides: Mapping[str, Mapping[str, float]] | None = None) -> PriceTable:
        """The shipped table, with ``overrides`` (model -> {field: USD/MTok}) applied."""
        text = resources.files("nerv.usage").joinpath("prices.json").read_text(encoding="utf-8")
        return cls.from_data(json.loads(text), overrides)

    @classmethod
    def from_data(
        cls, data: object, overrides: Mapping[str, Mapping[str, float]] | None = None
    ) -> PriceTable:
        if not isinstance(data, Mapping):
            raise ValidationError("price table must be a JSON object")
        try:
            effective = date.fromisoformat(str(data.get("effective_date")))
        except ValueError:
            raise ValidationError("price table needs an ISO effective_date") from None
        raw_mult = data.get("multipliers")
        mult = _rates("multipliers", raw_mult if isinstance(raw_mult, Mapping) else {})
        if set(mult) != set(_DERIVED):
            raise ValidationError(f"price table multipliers must define exactly {_DERIVED}")
        models = data.get("models")
        if not isinstance(models, Mapping) or not models:
            raise ValidationError("price table has no models")
        rates = {str(model): _rates(str(model), raw) for model, raw in models.items()}
        raw_aliases = data.get("aliases") or {}
        if not isinstance(raw_aliases, Mapping) or not all(isinstance(v, str) for v in raw_aliases.values()):
            raise ValidationError("price table aliases must map model ids to model ids")
        aliases = {str(k): str(v) for k, v in raw_aliases.items()}
        source = data.get("source")
        table = cls(rates, multipliers=mult, effective_date=effective, aliases=aliases)
        # Explicit values win; cache rates an entry never set keep following its
        # input rate, so overriding input alone re-derives them.
        overridden: set[str] = set()
        for given, raw in (overrides or {}).items():
            if given == SYNTHETIC_MODEL:
                raise ValidationError(f"{SYNTHETIC_MODEL} is free by definition and cannot be priced")
            model = _normalize(given)  # so "Claude-Opus-4-6" overrides the entry it names
            extra = _rates(given, raw)
            base = model if model in rates else table.resolve(model)
            rates[model] = {**(rates[base] if base else {}), **extra}
            overridden.add(model)
        return cls(
            rates,
            multipliers=mult,
            effective_date=effective,
            source=source if isinstance(source, str) else "",
            aliases=aliases,
            overridden=frozenset(overridden),
        )

    def resolve(self, model: str) -> str | None:
        """The table key pricing ``model``: exact id, then without date suffix, then family."""
        if model not in self._resolved:
            self._resolved[model] = self._lookup(model)
        return self._resolved[model]

    def _lookup(self, model: str) -> str | None:
        if model in self._prices:
            return model
        name = _normalize(model)
        undated = _DATE_SUFFIX.sub("", name)
        for candidate in (name, undated, self._aliases.get(undated, "")):
            if candidate in self._prices:
                return candidate
        family = [
            key
            for key in self._prices
            if undated.startswith(key + "-") and not _MINOR_VERSION.match(undated[len(key) + 1 :])
        ]
        return max(family, key=len) if family else None

    def price_for(self, model: str) -> ModelPrice | None:
        """Price of ``model``, or None when unknown: report it, never count it as $0."""
        if model == SYNTHETIC_MODEL:
            return _SYNTHETIC_PRICE
        key = self.resolve(model)
        return self._prices[key] if key else None

    def cost_of(self, model: str, usage: TokenUsage) -> float | None:
        price = self.price_for(model)
        return price.cost(usage) if price else None

    def with_cost(self, record: UsageRecord) -> UsageRecord:
        """``record`` with ``cost_usd`` filled in (left None for an unknown model)."""
        return replace(record, cost_usd=self.cost_of(record.model, record.usage))

    def as_rows(self) -> list[dict[str, str | float]]:
        """One row per model in table order, for display (rates in USD/MTok)."""
        rows: list[dict[str, str | float]] = []
        for model, price in self._prices.items():
            row: dict[str, str | float] = {"model": model}
            row.update({field: float(getattr(price, field)) for field in RATE_FIELDS})
            row["origin"] = "override" if model in self.overridden else "builtin"
            rows.append(row)
        return rows


def validate_overrides(value: object) -> dict[str, dict[str, float]]:
    """Check a ``usage.prices`` setting: {model: {field: USD per MTok}}. Raises ValidationError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("usage.prices must be an object: {model: {input: USD/MTok, output: ...}}")
    checked: dict[str, dict[str, float]] = {}
    for model, raw in value.items():
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("usage.prices model names must be non-empty strings")
        if model == SYNTHETIC_MODEL:
            raise ValidationError(f"{SYNTHETIC_MODEL} is free by definition and cannot be priced")
        checked[model] = _rates(model, raw)
    PriceTable.load(checked)  # a new model must give at least input and output
    return checked
