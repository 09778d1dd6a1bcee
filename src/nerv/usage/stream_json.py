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
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class StreamItem:
    kind: LineKind
    record: UsageRecord | None = None
    result: StreamResult | None = None


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
    turns = event.get("num_turns")
    return StreamResult(
        session_id=_str(event.get("session_id")),
        total_cost_usd=cost,
        usage=usage_from_api(event.get("usage") or {}),
        model_usage=per_model,
        num_turns=turns if isinstance(turns, int) and not isinstance(turns, bool) else None,
        is_error=event.get("is_error") is True,
    )


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
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "init":
            session = _str(event.get("session_id")) or session
            cwd = _str(event.get("cwd")) or cwd
            yield StreamItem(LineKind.IGNORED)
        elif kind == "assistant":
            yield _assistant(event, session, cwd, str(path))
        elif kind == "result":
            try:
                yield StreamItem(LineKind.USAGE, result=parse_result(event))
            except UsageFormatError:
                yield StreamItem(LineKind.MALFORMED)
        else:
            yield StreamItem(LineKind.IGNORED)


@dataclass
class StreamScan:
    records: list[UsageRecord]  # deduplicated; output counts are placeholders
    result: StreamResult | None  # the last result event; None if the run never finished
    counts: dict[LineKind, int] = field(default_factory=dict)

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

    def collect() -> Iterator[UsageRecord]:
        nonlocal result
        for item in iter_stream(path):
            counts[item.kind] += 1
            if item.result is not None:
                result = item.result
            if item.record is not None:
                yield item.record

    records = dedupe(collect())  # streamed: only one copy per response is held
    return StreamScan(records=records, result=result, counts=counts)
