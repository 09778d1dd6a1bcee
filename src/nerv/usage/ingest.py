"""Incremental ingest, the parts that need no database: what to read of a file,
reading it fast, and turning a stream-json run into metric rows.

The database side (sessions, the metrics upsert, file state) is
:mod:`nerv.service.ingest` over :mod:`nerv.store.usage`.

How a file is read again (state kept per path in ``ingested_files``):

* size, mtime and inode unchanged -> not opened at all (a re-scan costs a stat);
* same inode, not shorter than what was read, first KiB unchanged -> appended:
  read from the saved offset (the end of the last complete line);
* anything else (replaced, truncated, first KiB changed) -> rewritten: read from
  the start. Metrics are unique by response id, so nothing is counted twice.

A last line without its newline is still being written: it is left for the
next pass, which resumes exactly there.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from nerv.usage.pricing import PriceTable
from nerv.usage.records import LineKind, TokenUsage, UsageRecord, better
from nerv.usage.stream_json import StreamScan
from nerv.usage.transcripts import parse_line

HEAD_BYTES = 1024  # the prefix hashed to tell an appended file from a rewritten one
BATCH_RECORDS = 4096  # unique responses held before they are written (flat memory on huge files)
RESULT_PREFIX = "result:"  # external_id prefix of rows that come from a stream-json result event

# Every line that can carry usage -- an assistant message, or a subagent's
# assistant message echoed in an agent_progress line -- contains this token.
# Other lines are never JSON-decoded: they cannot produce a record, and a
# complete-looking object ({...}) is counted as ignored, anything else
# (cut short, not an object, not text) as malformed. The one difference from
# decoding everything: a corrupt line that still starts with "{" and ends
# with "}" and never mentions "assistant" counts as ignored, not malformed.
_CANDIDATE = b'"assistant"'


@dataclass(frozen=True)
class FileState:
    """One ``ingested_files`` row."""

    path: str
    kind: str
    size: int
    mtime_ns: int
    inode: int
    read_offset: int
    head_len: int
    head_hash: str
    lines: int = 0
    malformed: int = 0

    def unchanged(self, st: os.stat_result) -> bool:
        return self.size == st.st_size and self.mtime_ns == st.st_mtime_ns and self.inode == st.st_ino


def head_digest(head: bytes) -> str:
    return hashlib.sha1(head, usedforsecurity=False).hexdigest()


def resume_offset(prev: FileState | None, st: os.stat_result, head: bytes) -> int:
    """Where to continue reading a changed file: the saved offset if it only grew, else 0."""
    if prev is None or prev.inode != st.st_ino or st.st_size < prev.read_offset:
        return 0
    if len(head) < prev.head_len or head_digest(head[: prev.head_len]) != prev.head_hash:
        return 0
    return prev.read_offset


@dataclass
class Batch:
    """Part of one pass over a transcript: its records (deduplicated) and where it ended."""

    records: list[UsageRecord]
    end_offset: int
    counts: dict[LineKind, int] = field(default_factory=lambda: dict.fromkeys(LineKind, 0))
    final: bool = False  # the pass's last batch: it reached the end of the complete lines
    bad: list[int] = field(default_factory=list)  # malformed lines, numbered from the pass's start (1-based)

    @property
    def lines(self) -> int:
        return sum(self.counts.values())


def read_batches(
    fh: BinaryIO,
    start: int,
    *,
    source: str,
    fallback_session: str | None,
    batch_records: int | None = None,
) -> Iterator[Batch]:
    """Complete lines of ``fh`` from byte ``start`` on, as batches of usage records.

    Same records and offsets as :func:`nerv.usage.transcripts.iter_transcript`
    (whose ``parse_line`` decodes every candidate line), but lines that cannot
    carry usage are only scanned for a marker, not decoded: two to three
    times faster on real transcripts, where tool output dominates. The last
    batch is always yielded (possibly empty) so its ``end_offset`` can be saved.
    """
    limit = BATCH_RECORDS if batch_records is None else batch_records
    fh.seek(start)
    offset = start
    kept: dict[str, UsageRecord] = {}
    usage = synthetic = ignored = malformed = 0
    number = 0
    bad: list[int] = []
    for line in fh:
        if not line.endswith(b"\n"):
            break  # half-written: the next pass resumes at its start
        offset += len(line)
        number += 1
        if _CANDIDATE in line:
            kind, record = parse_line(line, source_path=source, fallback_session=fallback_session)
            if record is not None:
                usage += 1
                held = kept.get(record.external_id)
                kept[record.external_id] = record if held is None else better(held, record)
                if len(kept) >= limit:
                    counts = _counts(usage, synthetic, ignored, malformed)
                    yield Batch(list(kept.values()), offset, counts, bad=bad)
                    kept = {}
                    bad = []
                    usage = synthetic = ignored = malformed = 0
            elif kind is LineKind.SYNTHETIC:
                synthetic += 1
            elif kind is LineKind.MALFORMED:
                malformed += 1
                _note(bad, number)
            else:
                ignored += 1
            continue
        # Checked without stripping: copying every line would cost more than the scan.
        if line.startswith(b"{") and (line.endswith(b"}\n") or line.endswith(b"}\r\n")):
            ignored += 1
            continue
        body = line.strip()
        if not body or (body[:1] == b"{" and body[-1:] == b"}"):
            ignored += 1
        else:
            malformed += 1  # cut short, not an object, or not text at all
            _note(bad, number)
    counts = _counts(usage, synthetic, ignored, malformed)
    yield Batch(list(kept.values()), offset, counts, final=True, bad=bad)


BAD_LINES_SHOWN = 20  # line numbers kept per batch (and per run) to show; all are counted


def _note(bad: list[int], number: int) -> None:
    if len(bad) < BAD_LINES_SHOWN:
        bad.append(number)


def _counts(usage: int, synthetic: int, ignored: int, malformed: int) -> dict[LineKind, int]:
    return {
        LineKind.USAGE: usage,
        LineKind.SYNTHETIC: synthetic,
        LineKind.IGNORED: ignored,
        LineKind.MALFORMED: malformed,
    }


# -- stream-json ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRow:
    """One metric row of a stream-json run: its tokens for one model and its share of the cost."""

    external_id: str
    model: str | None
    usage: TokenUsage
    cost_usd: float | None  # None: no cost in the result and no price for the model


def stream_rows(scan: StreamScan, prices: PriceTable) -> list[ResultRow]:
    """The metric rows a finished ``claude -p`` run stands for (empty if it never finished).

    The ``result`` event's cost is the session's cost, so the rows' costs add
    up to it exactly. One row per model, external id ``result:<session>:<model>``:

    * with ``modelUsage`` (newer Claude Code): its tokens; each model's share of
      the total is its ``costUSD`` (priced from the table where absent);
    * without it: the main loop's tokens are the result's ``usage`` (the final
      counts) when the main loop used one model, the subagents' tokens are the
      sum of their messages (output counts there are streaming placeholders:
      an undercount, documented); the total is split by each model's
      table-priced cost, or by tokens when a model has no price.

    With no cost in the result, each row is priced from the table (None when unknown).
    """
    result, session = scan.result, scan.session_id
    if result is None or session is None:
        return []
    parts: dict[str | None, TokenUsage] = {}
    weights: dict[str | None, float | None] = {}
    if result.model_usage:
        for name, mu in result.model_usage.items():
            parts[name] = mu.usage
            weights[name] = mu.cost_usd if mu.cost_usd is not None else prices.cost_of(name, mu.usage)
    else:
        main = [r for r in scan.records if not r.is_sidechain]
        main_models = {r.model for r in main}
        if result.usage.total and len(main_models) <= 1:
            parts[next(iter(main_models), None)] = result.usage
        else:
            for r in main:
                parts[r.model] = parts.get(r.model, TokenUsage()) + r.usage
        for r in scan.records:
            if r.is_sidechain:
                parts[r.model] = parts.get(r.model, TokenUsage()) + r.usage
        for key, usage in parts.items():
            weights[key] = prices.cost_of(key, usage) if key is not None else None
    if not parts:
        if result.total_cost_usd is None:
            return []
        parts[None], weights[None] = TokenUsage(), None
    models = list(parts)
    total = result.total_cost_usd
    costs: list[float | None]
    if total is None:
        costs = [weights[m] for m in models]
    else:
        costs = list(_split(total, [weights[m] for m in models], [parts[m].total for m in models]))
    return [
        ResultRow(f"{RESULT_PREFIX}{session}:{model or '-'}", model, parts[model], cost)
        for model, cost in zip(models, costs, strict=True)
    ]


def _split(total: float, weights: list[float | None], tokens: list[int]) -> list[float]:
    """``total`` in shares proportional to ``weights`` (or to ``tokens`` when a weight is
    missing or all are zero); the last share takes the rounding so the parts add up."""
    basis: list[float]
    if all(w is not None for w in weights) and sum(w or 0.0 for w in weights) > 0:
        basis = [w or 0.0 for w in weights]
    elif sum(tokens) > 0:
        basis = [float(t) for t in tokens]
    else:
        basis = [1.0] + [0.0] * (len(weights) - 1)
    whole = sum(basis)
    shares = [total * b / whole for b in basis[:-1]]
    return [*shares, max(0.0, total - sum(shares))]


# -- the outcome of a run ------------------------------------------------------------


@dataclass
class IngestResult:
    """What one ingest run saw and changed (printed by ``nerv usage ingest``)."""

    files_seen: int = 0  # usage-like files found (*.jsonl, *.json, *.ndjson, or named)
    files_read: int = 0  # opened and parsed: new or changed since the last run
    files_unchanged: int = 0  # same size, mtime and inode: not opened
    files_other: int = 0  # not usage data (hook payload logs, other JSON)
    bytes_read: int = 0
    lines: int = 0
    responses_added: int = 0  # new metrics rows
    responses_updated: int = 0  # rows replaced by a copy with more tokens
    responses_seen: int = 0  # unique responses in what was read (before the database dedup)
    malformed_lines: int = 0
    synthetic: int = 0  # `<synthetic>` messages: free, not stored
    sessions_created: int = 0
    sessions_assigned: int = 0  # unassigned sessions given a project from their cwd
    streams: int = 0  # stream-json results stored
    streams_incomplete: int = 0  # stream-json files without a result event yet: nothing stored
    covered_by_result: int = 0  # transcript responses skipped: their session is costed by a result
    replaced_by_result: int = 0  # transcript rows removed when a result arrived for their session
    repriced: int = 0  # unpriced rows that got a price (usage.prices) in this run
    unknown_models: dict[str, int] = field(default_factory=dict)  # model -> responses added unpriced
    unpriced_total: int = 0  # rows in the database still without a price, after this run
    errors: list[str] = field(default_factory=list)  # files that could not be read
    bad_lines: list[str] = field(default_factory=list)  # "file:line" of the first malformed lines skipped
    audit_id: str | None = None
    elapsed_s: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(
            self.responses_added
            or self.responses_updated
            or self.sessions_created
            or self.sessions_assigned
            or self.replaced_by_result
            or self.repriced
        )

    def add_unknown(self, model: str) -> None:
        self.unknown_models[model] = self.unknown_models.get(model, 0) + 1
