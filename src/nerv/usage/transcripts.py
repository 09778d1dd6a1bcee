"""Streaming parser for Claude Code session transcripts (JSONL, one event a line).

Usage lives in three places, all handled the same way:

* ``type: assistant`` lines with ``message.usage`` -- the main session, and in
  1.0.x also subagent (Task) traffic written inline with ``isSidechain: true``;
* the same lines in ``<session>/subagents/agent-<id>.jsonl`` (``isSidechain``,
  ``agentId``; ``sessionId`` is the parent's, so they roll up to the parent);
* ``type: progress`` lines with ``data.type: agent_progress``: a subagent's
  message echoed into the parent as ``data.message = {type: assistant,
  message: {id, model, usage, ...}, requestId, timestamp}``.

A response seen both echoed and in its subagent file has the same
``external_id`` either way, so global dedup counts it once.

Files are read line by line from a byte offset, and a last line without its
newline (still being written) is left for the next call, so an ingester can
save ``end_offset`` and resume without parsing any line twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nerv.usage.discovery import session_id_for_file
from nerv.usage.records import (
    SYNTHETIC_MODEL,
    LineKind,
    UsageFormatError,
    UsageRecord,
    better,
    dedupe,
    external_id,
    parse_timestamp_ms,
    usage_from_api,
)

__all__ = [
    "ParsedLine",
    "TranscriptScan",
    "better",
    "dedupe",
    "iter_transcript",
    "parse_line",
    "scan_transcript",
]


@dataclass(frozen=True)
class ParsedLine:
    kind: LineKind
    end_offset: int  # byte offset just past this line: where a later call resumes
    record: UsageRecord | None = None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_line(
    line: bytes | str, *, source_path: str, fallback_session: str | None = None
) -> tuple[LineKind, UsageRecord | None]:
    """Classify one transcript line and extract its usage record, if any."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are both ValueErrors
        return LineKind.MALFORMED, None
    if not isinstance(obj, dict):
        return LineKind.MALFORMED, None
    if obj.get("type") == "assistant":
        return _record(
            obj,
            obj.get("message"),
            request_id=obj.get("requestId"),
            timestamp=obj.get("timestamp"),
            sidechain=obj.get("isSidechain") is True,
            agent_id=obj.get("agentId"),
            source_path=source_path,
            fallback_session=fallback_session,
        )
    data = obj.get("data")
    if obj.get("type") == "progress" and isinstance(data, dict) and data.get("type") == "agent_progress":
        inner = data.get("message")
        if not isinstance(inner, dict) or inner.get("type") != "assistant":
            return LineKind.IGNORED, None  # the subagent's user/tool-result turns carry no usage
        return _record(
            obj,
            inner.get("message"),
            request_id=inner.get("requestId"),
            timestamp=inner.get("timestamp") or obj.get("timestamp"),
            sidechain=True,  # the outer line says false: it is the parent's line, not the message's
            agent_id=data.get("agentId"),
            source_path=source_path,
            fallback_session=fallback_session,
        )
    return LineKind.IGNORED, None


def _record(
    envelope: Mapping[str, object],
    message: object,
    *,
    request_id: object,
    timestamp: object,
    sidechain: bool,
    agent_id: object,
    source_path: str,
    fallback_session: str | None,
) -> tuple[LineKind, UsageRecord | None]:
    if not isinstance(message, dict):
        return LineKind.MALFORMED, None
    model = _str(message.get("model"))
    if model == SYNTHETIC_MODEL:
        return LineKind.SYNTHETIC, None
    message_id = _str(message.get("id"))
    session = _str(envelope.get("sessionId")) or fallback_session
    if model is None or message_id is None or session is None:
        return LineKind.MALFORMED, None
    try:
        usage = usage_from_api(message.get("usage"))
    except UsageFormatError:
        return LineKind.MALFORMED, None
    record = UsageRecord(
        external_id=external_id(message_id, _str(request_id)),
        session_id=session,
        model=model,
        usage=usage,
        timestamp_ms=parse_timestamp_ms(timestamp),
        cwd=_str(envelope.get("cwd")),
        is_sidechain=sidechain,
        agent_id=_str(agent_id),
        source_path=source_path,
    )
    return LineKind.USAGE, record


def iter_transcript(
    path: Path | str, start_offset: int = 0, *, session_id: str | None = None
) -> Iterator[ParsedLine]:
    """One :class:`ParsedLine` per complete line from ``start_offset`` on.

    A trailing line without a newline is not consumed. If the file is now
    shorter than ``start_offset`` it was replaced or truncated, so it is read
    again from the start (dedup by ``external_id`` keeps that from double
    counting). ``session_id`` overrides the path-derived fallback used for
    lines lacking ``sessionId``.
    """
    if start_offset < 0:
        raise ValueError(f"start_offset must be >= 0, got {start_offset}")
    path = Path(path)
    fallback = session_id or session_id_for_file(path)
    source = str(path)
    with path.open("rb") as fh:
        offset = start_offset if start_offset <= os.fstat(fh.fileno()).st_size else 0
        fh.seek(offset)
        for line in fh:
            if not line.endswith(b"\n"):
                return  # half-written: resume here next time
            offset += len(line)
            if not line.strip():
                yield ParsedLine(LineKind.IGNORED, offset)
                continue
            kind, record = parse_line(line, source_path=source, fallback_session=fallback)
            yield ParsedLine(kind, offset, record)


@dataclass
class TranscriptScan:
    """Everything one pass over a transcript produced, records deduplicated."""

    records: list[UsageRecord]
    end_offset: int
    counts: dict[LineKind, int] = field(default_factory=dict)

    @property
    def lines(self) -> int:
        return sum(self.counts.values())

    @property
    def malformed(self) -> int:
        return self.counts.get(LineKind.MALFORMED, 0)


def scan_transcript(
    path: Path | str, start_offset: int = 0, *, session_id: str | None = None
) -> TranscriptScan:
    """Collect :func:`iter_transcript` into deduplicated records plus line counts.

    Dedup here only spans this pass: copies of a response split across two
    passes (the file grew in between) are merged by the database upsert.
    """
    counts = dict.fromkeys(LineKind, 0)
    # Mirrors iter_transcript's restart rule, for a pass that finds no complete line.
    end = start_offset if start_offset <= Path(path).stat().st_size else 0

    def collect() -> Iterator[UsageRecord]:
        nonlocal end
        for parsed in iter_transcript(path, start_offset, session_id=session_id):
            counts[parsed.kind] += 1
            end = parsed.end_offset
            if parsed.record is not None:
                yield parsed.record

    records = dedupe(collect())
    return TranscriptScan(records=records, end_offset=end, counts=counts)
