"""Token counts and per-API-response usage records, plus the dedup rule.

Claude Code writes one API response as several lines (one per content block);
early copies carry streaming placeholder output counts. Everything that
aggregates usage must therefore collapse copies by ``external_id`` using
:func:`better`, which the database layer mirrors in its upsert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

# Claude Code's model name for messages it fabricates itself (API errors,
# interruptions) without calling the API: they cost nothing.
SYNTHETIC_MODEL = "<synthetic>"


class UsageFormatError(ValueError):
    """A usage object has the wrong shape; the line carrying it is malformed."""


class LineKind(StrEnum):
    """What a parser made of one line / event; every skip is counted, never fatal."""

    USAGE = "usage"  # produced a UsageRecord
    SYNTHETIC = "synthetic"  # a `<synthetic>` message: no API call, costs nothing, dropped
    IGNORED = "ignored"  # valid JSON that carries no usage (user, system, hook progress...)
    MALFORMED = "malformed"  # not JSON, not an object, or usage-bearing but broken


@dataclass(frozen=True)
class TokenUsage:
    input: int = 0
    output: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> int:
        return self.input + self.output + self.cache_write_5m + self.cache_write_1h + self.cache_read

    def rank(self) -> tuple[int, int, int, int, int, int]:
        """Total order used to pick the best copy of a response (see :func:`better`).

        Total first (the final copy has the real output count, placeholders are
        smaller); the remaining fields only break exact-total ties so the choice
        never depends on which copy arrived first.
        """
        return (
            self.total,
            self.output,
            self.cache_write_1h,
            self.cache_write_5m,
            self.cache_read,
            self.input,
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(
            input=self.input + other.input,
            output=self.output + other.output,
            cache_write_5m=self.cache_write_5m + other.cache_write_5m,
            cache_write_1h=self.cache_write_1h + other.cache_write_1h,
            cache_read=self.cache_read + other.cache_read,
        )


ZERO_USAGE = TokenUsage()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class UsageRecord:
    """One API response. ``external_id`` is the global dedup key."""

    external_id: str
    session_id: str
    model: str
    usage: TokenUsage
    timestamp_ms: int | None
    cwd: str | None
    is_sidechain: bool
    agent_id: str | None
    source_path: str
    cost_usd: float | None = None


def external_id(message_id: str, request_id: str | None) -> str:
    # The request id disambiguates a message id reused across retries; stream-json
    # output has no request id, so the message id alone is the key there.
    return f"{message_id}:{request_id}" if request_id else message_id


def better(a: UsageRecord, b: UsageRecord) -> UsageRecord:
    """The copy to keep when two records describe the same API response.

    Keeps the record whose usage ranks higher (max by total, see
    :meth:`TokenUsage.rank`); on an exact tie keeps ``a``, the one already held.
    A whole real copy is kept rather than a field-wise max: the copies of a
    response differ only in the growing output count, and a field-wise max
    could invent a combination no line ever reported (e.g. count a cache write
    both as 5m and 1h if two writers split it differently).

    The database mirrors this as: upsert on ``external_id``, overwrite only when
    ``excluded.rank > stored.rank`` (SQLite row-value comparison).
    """
    if a.external_id != b.external_id:
        raise ValueError(f"cannot merge different responses {a.external_id!r} and {b.external_id!r}")
    return b if b.usage.rank() > a.usage.rank() else a


def dedupe(records: Iterable[UsageRecord]) -> list[UsageRecord]:
    """Collapse copies of each response with :func:`better`, in first-seen order."""
    kept: dict[str, UsageRecord] = {}
    for record in records:
        held = kept.get(record.external_id)
        kept[record.external_id] = record if held is None else better(held, record)
    return list(kept.values())


MAX_TOKENS = 2**53  # exclusive; five of them still sum far below 2**63


def _count(raw: Mapping[str, object], key: str) -> int:
    value = raw.get(key, 0)
    if value is None:
        return 0
    # bool is an int subclass; a True token count is a format error, not 1. Counts at or
    # above 2**53 are no real usage (and would overflow SQLite's 64-bit sums): refused.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TOKENS:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise UsageFormatError(f"{key} is not an integer in [0, 2**53): {shown}")
    return value


def usage_from_api(raw: object) -> TokenUsage:
    """Convert an Anthropic API ``usage`` object (as logged by Claude Code).

    Cache writes are split by TTL from ``cache_creation.ephemeral_{5m,1h}_input_tokens``
    when present. Older logs have only ``cache_creation_input_tokens``: that is
    all 5-minute writes, the only TTL that existed then. If the split sums to
    less than the total, the remainder is counted as 5m so no token is lost.
    """
    if not isinstance(raw, Mapping):
        raise UsageFormatError(f"usage is not an object: {type(raw).__name__}")
    created = _count(raw, "cache_creation_input_tokens")
    split = raw.get("cache_creation")
    write_5m, write_1h = created, 0
    if isinstance(split, Mapping) and (
        "ephemeral_5m_input_tokens" in split or "ephemeral_1h_input_tokens" in split
    ):
        write_5m = _count(split, "ephemeral_5m_input_tokens")
        write_1h = _count(split, "ephemeral_1h_input_tokens")
        write_5m += max(0, created - write_5m - write_1h)
    return TokenUsage(
        input=_count(raw, "input_tokens"),
        output=_count(raw, "output_tokens"),
        cache_write_5m=write_5m,
        cache_write_1h=write_1h,
        cache_read=_count(raw, "cache_read_input_tokens"),
    )


def parse_timestamp_ms(value: object) -> int | None:
    """ISO-8601 (``2026-02-10T21:58:15.454Z``) to epoch milliseconds; None if absent/bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a naive time has no defined instant; better unknown than wrong
    # Integer arithmetic: float seconds * 1000 can land one millisecond short.
    return (parsed - _EPOCH) // timedelta(milliseconds=1)
