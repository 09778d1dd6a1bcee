"""Output of ``claude -p --output-format stream-json`` (NDJSON, or wrapped in a JSON array)
and of ``--output-format json`` (a lone ``result`` object).

How to account it:

* The ``result`` event's cost -- ``total_cost_usd``; ``cost_usd`` / ``total_cost``
  before mid 2025 -- is Claude Code's own figure for the whole run, subagents
  included. It is the session's cost.
* Its ``usage`` covers the main loop only (subagent tokens are missing), and
  ``modelUsage`` (newer versions) breaks tokens and ``costUSD`` down per model,
  subagents included.
* The ``assistant`` events are yielded per response for breakdowns, but their
  output counts are streaming placeholders (5 where the result says 25): summed
  they undercount. Never add them to a session that has a result.
* Unless run with ``--no-session-persistence``, the same run also leaves a
  transcript under ~/.claude/projects. Its records have ``message:request`` ids
  while these have bare message ids, so dedup cannot merge the two: account a
  session from one source, not both.

When did the run happen? Any event may carry an ISO ``timestamp`` (transcript
style), and the result its ``duration_ms`` (Claude Code's own wall-clock time for
the run): :meth:`StreamScan.span` dates the run by those. The real outputs we have
carry no timestamp (neither the 2025 array nor the 2.1.7 NDJSON); then the end is
the file's modification time (the ``result`` is the last line written, so a file
written as the run streamed ends when the run did; a copied or touched file does
not) and the start is that end minus ``duration_ms``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from nerv.usage.jsonstream import Malformed, iter_values
from nerv.usage.records import (
    SYNTHETIC_MODEL,
    LineKind,
    TokenUsage,
    UsageFormatError,
    UsageRecord,
    dedupe,
    external_id,
    parse_timestamp_ms,
    usage_from_api,
)

_COST_FIELDS = ("total_cost_usd", "cost_usd", "total_cost")  # newest first
_MODEL_USAGE_FIELDS = {
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    # No TTL split in modelUsage: counted as 5m writes; costUSD is exact anyway.
    "cacheCreationInputTokens": "cache_creation_input_tokens",
    "cacheReadInputTokens": "cache_read_input_tokens",
}


@dataclass(frozen=True)
class ModelUsage:
    usage: TokenUsage
    cost_usd: float | None


@dataclass(frozen=True)
class StreamResult:
    session_id: str | None
    total_cost_usd: float | None
    usage: TokenUsage  # main loop only
    model_usage: dict[str, ModelUsage]
    num_turns: int | None
    is_error: bool = False
    duration_ms: int | None = None  # the run's wall-clock time, as Claude Code measured it
    timestamp_ms: int | None = None  # the event's own ISO timestamp, when it has one


@dataclass(frozen=True)
class StreamItem:
    kind: LineKind
    record: UsageRecord | None = None
    result: StreamResult | None = None
    timestamp_ms: int | None = None  # the event's ``timestamp``, whatever its type


def _cost(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value >= 0 else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_result(event: Mapping[str, object]) -> StreamResult:
    """Read a ``type: result`` event. Raises UsageFormatError on broken token counts."""
    cost = next((c for c in (_cost(event.get(f)) for f in _COST_FIELDS) if c is not None), None)
    raw_models = event.get("modelUsage")
    per_model: dict[str, ModelUsage] = {}
    if isinstance(raw_models, Mapping):
        for model, raw in raw_models.items():
            if not isinstance(raw, Mapping):
                raise UsageFormatError(f"modelUsage[{model!r}] is not an object")
            renamed = {snake: raw[camel] for camel, snake in _MODEL_USAGE_FIELDS.items() if camel in raw}
            per_model[str(model)] = ModelUsage(usage_from_api(renamed), _cost(raw.get("costUSD")))
    return StreamResult(
        session_id=_str(event.get("session_id")),
        total_cost_usd=cost,
        usage=usage_from_api(event.get("usage") or {}),
        model_usage=per_model,
        num_turns=_count(event.get("num_turns")),
        is_error=event.get("is_error") is True,
        duration_ms=_count(event.get("duration_ms")),
        timestamp_ms=parse_timestamp_ms(event.get("timestamp")),
    )


def _count(value: object) -> int | None:
    """A non-negative integer field, or None (absent, a bool, a float, negative)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _assistant(event: Mapping[str, object], session: str | None, cwd: str | None, source: str) -> StreamItem:
    message = event.get("message")
    if not isinstance(message, Mapping):
        return StreamItem(LineKind.MALFORMED)
    model = _str(message.get("model"))
    if model == SYNTHETIC_MODEL:
        return StreamItem(LineKind.SYNTHETIC)
    message_id = _str(message.get("id"))
    session = _str(event.get("session_id")) or session
    if model is None or message_id is None or session is None:
        return StreamItem(LineKind.MALFORMED)
    try:
        usage = usage_from_api(message.get("usage"))
    except UsageFormatError:
        return StreamItem(LineKind.MALFORMED)
    parent = _str(event.get("parent_tool_use_id"))
    record = UsageRecord(
        external_id=external_id(message_id, _str(event.get("requestId"))),
        session_id=session,
        model=model,
        usage=usage,
        timestamp_ms=parse_timestamp_ms(event.get("timestamp")),
        cwd=cwd,
        is_sidechain=parent is not None,
        # stream-json names no agent; the Task tool_use that spawned it identifies it.
        agent_id=parent,
        source_path=source,
    )
    return StreamItem(LineKind.USAGE, record=record)


def iter_stream(path: Path | str) -> Iterator[StreamItem]:
    """One item per event, in order; broken events are yielded as MALFORMED, not raised."""
    path = Path(path)
    session: str | None = None
    cwd: str | None = None
    for event in iter_values(path):
        if isinstance(event, Malformed) or not isinstance(event, dict):
            yield StreamItem(LineKind.MALFORMED)
            continue
        item = _item(event, session, cwd, str(path))
        if event.get("type") == "system" and event.get("subtype") == "init":
            session = _str(event.get("session_id")) or session
            cwd = _str(event.get("cwd")) or cwd
        yield replace(item, timestamp_ms=parse_timestamp_ms(event.get("timestamp")))


def _item(event: Mapping[str, object], session: str | None, cwd: str | None, source: str) -> StreamItem:
    kind = event.get("type")
    if kind == "assistant":
        return _assistant(event, session, cwd, source)
    if kind == "result":
        try:
            return StreamItem(LineKind.USAGE, result=parse_result(event))
        except UsageFormatError:
            return StreamItem(LineKind.MALFORMED)
    return StreamItem(LineKind.IGNORED)


@dataclass
class StreamScan:
    records: list[UsageRecord]  # deduplicated; output counts are placeholders
    result: StreamResult | None  # the last result event; None if the run never finished
    counts: dict[LineKind, int] = field(default_factory=dict)
    first_at: int | None = None  # the earliest ``timestamp`` of any event (epoch ms)
    last_at: int | None = None  # the latest

    def span(self, file_mtime_ms: int) -> tuple[int, int]:
        """When the run started and ended (epoch ms), from what the output says: the
        result's own timestamp ends it; else the first timestamp plus ``duration_ms``
        (or the last timestamp, if later or the duration is unknown); with no timestamp
        at all, ``file_mtime_ms`` ends it. It starts at the end minus ``duration_ms`` or
        at the first timestamp, whichever is earlier (see the module's docstring)."""
        result = self.result
        duration = result.duration_ms if result is not None else None
        if result is not None and result.timestamp_ms is not None:
            end = result.timestamp_ms
        elif self.first_at is not None and self.last_at is not None:
            end = self.last_at if duration is None else max(self.last_at, self.first_at + duration)
        else:
            end = file_mtime_ms
        # The run began duration_ms before it ended, or at the first dated event if earlier.
        starts = [t for t in (self.first_at, None if duration is None else end - duration) if t is not None]
        return min(starts, default=end), end

    @property
    def session_id(self) -> str | None:
        if self.result and self.result.session_id:
            return self.result.session_id
        return self.records[0].session_id if self.records else None

    @property
    def malformed(self) -> int:
        return self.counts.get(LineKind.MALFORMED, 0)


def read_stream(path: Path | str) -> StreamScan:
    counts = dict.fromkeys(LineKind, 0)
    result: StreamResult | None = None
    first: int | None = None
    last: int | None = None

    def collect() -> Iterator[UsageRecord]:
        nonlocal result, first, last
        for item in iter_stream(path):
            counts[item.kind] += 1
            if item.result is not None:
                result = item.result
            if item.timestamp_ms is not None:
                first = item.timestamp_ms if first is None else min(first, item.timestamp_ms)
                last = item.timestamp_ms if last is None else max(last, item.timestamp_ms)
            if item.record is not None:
                yield item.record

    records = dedupe(collect())  # streamed: only one copy per response is held
    return StreamScan(records=records, result=result, counts=counts, first_at=first, last_at=last)
