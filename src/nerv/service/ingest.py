"""One usage ingest run over a set of files, and repricing: the service side.

Parsing and prices are :mod:`nerv.usage` (pure, no SQL); every write is a
:mod:`nerv.store.usage` statement inside a service transaction. Imported
lazily by :class:`nerv.service.usage.UsageMixin` (parsing and pricing code is
only loaded when used). Storage decisions are described in
:mod:`nerv.service.usage`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nerv.ids import new_id, now_ms
from nerv.store import rows as store_rows
from nerv.store import usage as store_usage
from nerv.usage.discovery import FileKind, classify, session_id_for_file
from nerv.usage.ingest import (
    BAD_LINES_SHOWN,
    BATCH_RECORDS,
    HEAD_BYTES,
    RESULT_PREFIX,
    FileState,
    IngestResult,
    head_digest,
    read_batches,
    resume_offset,
    stream_rows,
)
from nerv.usage.pricing import PriceTable
from nerv.usage.records import LineKind, TokenUsage, UsageRecord
from nerv.usage.stream_json import read_stream

if TYPE_CHECKING:
    from nerv.service.usage import UsageMixin  # the service drives the run

TRANSCRIPT_KINDS = (FileKind.TRANSCRIPT.value, FileKind.SUBAGENT.value)
_MAX_PENDING_FILES = 256  # unchanged-but-touched files carry no records: bound their count too
RESULT_END = RESULT_PREFIX[:-1] + chr(ord(RESULT_PREFIX[-1]) + 1)  # "result;": end of the prefix range

@dataclass
class _Session:
    id: str
    project_id: str | None
    cwd: str | None
    created: bool = False


@dataclass
class _Chunk:
    """Records parsed from one file (or part of a huge one) and the state to save with them."""

    state: FileState
    offset: int
    lines: int
    malformed: int
    records: list[UsageRecord] = field(default_factory=list)
    main_of: str | None = None  # the session whose main transcript this file is
    mtime_ms: int = 0


def _cost_of(prices: PriceTable) -> store_usage.CostOf:
    def cost(model: str, tokens: tuple[int, int, int, int, int]) -> float | None:
        return prices.cost_of(model, TokenUsage(*tokens))

    return cost


def reprice_unpriced(conn: sqlite3.Connection, prices: PriceTable) -> int:
    return store_usage.reprice_unpriced(conn, _cost_of(prices))


def reprice_all(conn: sqlite3.Connection, prices: PriceTable) -> int:
    """Recompute every transcript row's cost (not stream-json results: Claude Code's own
    figure). A row whose model lost its price is flagged unpriced. Returns rows changed."""
    return store_usage.reprice_all(conn, _cost_of(prices), RESULT_PREFIX, RESULT_END)


class IngestRun:
    """State of one ingest call: caches, counters, and the per-file work."""

    def __init__(self, service: UsageMixin) -> None:
        self.service = service
        self._prices: PriceTable | None = None
        self.result = IngestResult()
        self.sessions: dict[str, _Session] = {}  # Claude Code session id -> row
        self.covered: dict[str, bool] = {}  # session id -> costed by a stream-json result
        self.projects: dict[str, str | None] = {}  # cwd -> project id
        self.tried_assign: set[str] = set()
        self.started = time.perf_counter()
        # Parsed but not yet written: small files are written several to a transaction
        # (a commit per file would rewrite the same index pages again and again).
        self.pending: list[_Chunk] = []
        self.pending_records = 0

    @property
    def prices(self) -> PriceTable:
        """The table in force, loaded on first use: a re-scan that reads nothing never needs it."""
        if self._prices is None:
            self._prices = self.service.price_table()
        return self._prices

    # -- files ----------------------------------------------------------------------------

    def file(
        self, path: str, st: os.stat_result, prev: FileState | None, fallback_session: str | None = None
    ) -> None:
        result = self.result
        result.files_seen += 1
        if prev is not None and prev.unchanged(st):
            result.files_unchanged += 1
            return
        try:
            with open(path, "rb") as fh:
                head = fh.read(HEAD_BYTES)
                start = resume_offset(prev, st, head)
                if prev is not None and start > 0 and prev.kind in TRANSCRIPT_KINDS:
                    kind = prev.kind
                else:
                    kind, start = classify(Path(path)).value, 0
                state = FileState(
                    path, kind, st.st_size, st.st_mtime_ns, st.st_ino, 0, len(head), head_digest(head)
                )
                if kind in TRANSCRIPT_KINDS:
                    self._transcript(fh, state, start, prev if start else None, fallback_session)
                elif kind == FileKind.STREAM_JSON.value:
                    self._stream(path, state)
                else:
                    result.files_other += 1
                    self._queue(_Chunk(state, st.st_size, 0, 0))
        except OSError as exc:
            result.errors.append(f"{path}: {exc.strerror or exc}")

    def _transcript(
        self, fh: BinaryIO, state: FileState, start: int, prev: FileState | None, fallback_session: str | None
    ) -> None:
        result = self.result
        result.files_read += 1
        path = state.path
        fallback = fallback_session or session_id_for_file(Path(path))
        main_of = Path(path).stem if state.kind == FileKind.TRANSCRIPT.value else None
        lines = prev.lines if prev else 0
        malformed = prev.malformed if prev else 0
        mtime_ms = state.mtime_ns // 1_000_000
        offset = start
        base = lines  # the pass numbers its lines from here
        for batch in read_batches(fh, start, source=path, fallback_session=fallback):
            for number in batch.bad:
                if len(result.bad_lines) < BAD_LINES_SHOWN:
                    result.bad_lines.append(f"{path}:{base + number}")
            result.lines += batch.lines
            result.malformed_lines += batch.counts[LineKind.MALFORMED]
            result.synthetic += batch.counts[LineKind.SYNTHETIC]
            lines += batch.lines
            malformed += batch.counts[LineKind.MALFORMED]
            # A batch before the last records the file only up to where it ended: saved with
            # its rows, that state must not look like the whole file, or a run interrupted
            # after this commit would find the file "unchanged" and never read the rest.
            covered = state if batch.final else replace(state, size=batch.end_offset)
            self._queue(_Chunk(covered, batch.end_offset, lines, malformed, batch.records, main_of, mtime_ms))
            offset = batch.end_offset
        result.bytes_read += offset - start

    def _queue(self, chunk: _Chunk) -> None:
        self.pending.append(chunk)
        self.pending_records += len(chunk.records)
        if self.pending_records >= BATCH_RECORDS or len(self.pending) >= _MAX_PENDING_FILES:
            self.flush()

    def flush(self) -> None:
        """Write what is pending -- rows and the read positions they lead to -- atomically."""
        if not self.pending:
            return
        with self.service.transaction() as conn:
            for chunk in self.pending:
                self._store(conn, chunk.records, chunk.main_of, chunk.state.path, chunk.mtime_ms)
                _save(conn, chunk.state, chunk.offset, chunk.lines, chunk.malformed)
        self.pending = []
        self.pending_records = 0

    def _stream(self, path: str, state: FileState) -> None:
        self.flush()  # transcripts read so far first: a result may replace their rows
        result = self.result
        result.files_read += 1
        result.bytes_read += state.size
        scan = read_stream(path)
        result.lines += sum(scan.counts.values())
        result.malformed_lines += scan.malformed
        result.synthetic += scan.counts.get(LineKind.SYNTHETIC, 0)
        rows = stream_rows(scan, self.prices)
        session_id = scan.session_id
        with self.service.transaction() as conn:
            if not rows or session_id is None:
                result.streams_incomplete += 1
            else:
                records = scan.records
                cwd = next((r.cwd for r in records if r.cwd), None)
                main_model = next((r.model for r in records if not r.is_sidechain), None)
                # Dated by the timestamps inside the output (the result's, the events'), the
                # file's modification time only when it has none (StreamScan.span).
                start, at = scan.span(state.mtime_ns // 1_000_000)
                session = self._session(conn, session_id, cwd, main_model, start, at, None)
                replaced = store_usage.delete_transcript_rows(conn, session.id, RESULT_PREFIX, RESULT_END)
                result.replaced_by_result += replaced
                now = now_ms()
                values = [
                    (
                        new_id(),
                        session.id,
                        row.external_id,
                        row.model,
                        row.usage.input,
                        row.usage.output,
                        row.usage.cache_read,
                        row.usage.cache_write_5m,
                        row.usage.cache_write_1h,
                        0.0 if row.cost_usd is None else row.cost_usd,
                        at,
                        now,
                    )
                    for row in rows
                ]
                unpriced = [(row.external_id, row.model or "") for row in rows if row.cost_usd is None]
                result.responses_seen += len(rows)
                self._upsert(conn, values, unpriced)
                self.covered[session_id] = True
                result.streams += 1
                self._drop_if_empty(conn, session_id)
            _save(conn, state, state.size, sum(scan.counts.values()), scan.malformed)

    # -- rows -----------------------------------------------------------------------------

    def _store(
        self,
        conn: sqlite3.Connection,
        records: list[UsageRecord],
        main_of: str | None,
        path: str,
        mtime_ms: int,
    ) -> None:
        if not records:
            return
        result = self.result
        result.responses_seen += len(records)
        groups: dict[str, list[UsageRecord]] = {}
        for record in records:
            groups.setdefault(record.session_id, []).append(record)
        now = now_ms()
        values: list[tuple[Any, ...]] = []
        unpriced: list[tuple[str, str]] = []
        created: list[str] = []
        for claude_id, group in groups.items():
            if self._covered(conn, claude_id):
                result.covered_by_result += len(group)
                continue
            times = [r.timestamp_ms for r in group if r.timestamp_ms is not None] or [mtime_ms]
            cwd = next((r.cwd for r in group if r.cwd), None)
            model = next((r.model for r in group if not r.is_sidechain), None) or group[0].model
            session = self._session(
                conn, claude_id, cwd, model, min(times), max(times), path if main_of == claude_id else None
            )
            if session.created:
                created.append(claude_id)
            for r in group:
                cost = self.prices.cost_of(r.model, r.usage)
                if cost is None:
                    unpriced.append((r.external_id, r.model))
                u = r.usage
                values.append(
                    (
                        new_id(),
                        session.id,
                        r.external_id,
                        r.model,
                        u.input,
                        u.output,
                        u.cache_read,
                        u.cache_write_5m,
                        u.cache_write_1h,
                        0.0 if cost is None else cost,
                        mtime_ms if r.timestamp_ms is None else r.timestamp_ms,
                        now,
                    )
                )
        self._upsert(conn, values, unpriced)
        for claude_id in created:
            self._drop_if_empty(conn, claude_id)

    def _upsert(
        self, conn: sqlite3.Connection, values: list[tuple[Any, ...]], unpriced: list[tuple[str, str]]
    ) -> None:
        if not values:
            return
        added, updated = store_usage.upsert_metrics(conn, values)
        self.result.responses_added += added
        self.result.responses_updated += updated
        for external_id, model in unpriced:
            if store_usage.flag_unpriced(conn, external_id):
                self.result.add_unknown(model)

    def _covered(self, conn: sqlite3.Connection, claude_id: str) -> bool:
        covered = self.covered.get(claude_id)
        if covered is None:
            prefix = f"{RESULT_PREFIX}{claude_id}:"
            covered = self.covered[claude_id] = store_usage.has_metric_in_range(
                conn, prefix, prefix[:-1] + ";"
            )
        return covered

    def _session(
        self,
        conn: sqlite3.Connection,
        claude_id: str,
        cwd: str | None,
        model: str | None,
        first: int,
        last: int,
        transcript: str | None,
    ) -> _Session:
        """The session row for ``claude_id``: cached, found, or created (with a project
        from ``cwd``). An existing one gets its time span widened and blanks filled."""
        session = self.sessions.get(claude_id)
        if session is None:
            row = store_usage.find_session(conn, claude_id)
            if row is None:
                project = self._project_for(cwd)
                ident = new_id()
                store_usage.new_session(conn, ident, project, first, last, claude_id, model, cwd, transcript)
                self.result.sessions_created += 1
                session = self.sessions[claude_id] = _Session(ident, project, cwd, created=True)
                return session
            session = self.sessions[claude_id] = _Session(*row)
        else:
            session.created = False
        where = cwd or session.cwd
        if session.project_id is None and where and claude_id not in self.tried_assign:
            self.tried_assign.add(claude_id)
            project = self._project_for(where)
            if project is not None:
                store_usage.assign_project(conn, session.id, project)
                session.project_id = project
                self.result.sessions_assigned += 1
        store_usage.widen_session(conn, session.id, first, last, cwd, model, transcript)
        return session

    def _drop_if_empty(self, conn: sqlite3.Connection, claude_id: str) -> None:
        """A session created in this batch that got no row of its own (every response was a
        copy of one already held, e.g. a resumed session's history) is not kept."""
        session = self.sessions.get(claude_id)
        if session is None or not session.created:
            return
        if store_usage.drop_session_if_empty(conn, session.id):
            del self.sessions[claude_id]
            self.result.sessions_created -= 1

    def _project_for(self, cwd: str | None) -> str | None:
        if not cwd:
            return None
        if cwd not in self.projects:
            repo = self.service.find_repo_for_path(cwd)
            self.projects[cwd] = None if repo is None else repo.project_id
        return self.projects[cwd]

    # -- end of run ---------------------------------------------------------------------------

    def finish(self, roots: Sequence[str], vanished: Sequence[str]) -> IngestResult:
        """Reprice what got a price, write the run's audit row; no write at all (not even
        the lock) when nothing changed, so a re-scan of an unchanged tree only reads."""
        self.flush()
        result = self.result
        service = self.service
        unpriced_models = [r[0] for r in service._read("SELECT DISTINCT model FROM unpriced_metrics")]
        priceable = any(self.prices.price_for(m) is not None for m in unpriced_models)
        if vanished or priceable or result.changed:
            with service.transaction() as conn:
                if vanished:
                    store_usage.forget_files(conn, vanished)
                if priceable:
                    result.repriced = reprice_unpriced(conn, self.prices)
                if result.changed:
                    result.audit_id = new_id()
                    store_rows.event(conn, service.actor, "usage", result.audit_id, "ingest",
                                     _audit_summary(result, roots))
        if unpriced_models:
            row = service._read_one("SELECT count(*) FROM unpriced_metrics")
            result.unpriced_total = int(row[0]) if row else 0
        result.elapsed_s = time.perf_counter() - self.started
        return result


def _audit_summary(result: IngestResult, roots: Sequence[str]) -> dict[str, Any]:
    return {
        "roots": list(roots[:10]),
        "files_read": result.files_read,
        "responses_added": result.responses_added,
        "responses_updated": result.responses_updated,
        "sessions_created": result.sessions_created,
        "sessions_assigned": result.sessions_assigned,
        "replaced_by_result": result.replaced_by_result,
        "repriced": result.repriced,
        "malformed_lines": result.malformed_lines,
        "unknown_models": result.unknown_models,
    }


def _save(conn: sqlite3.Connection, state: FileState, offset: int, lines: int, malformed: int) -> None:
    store_usage.save_file_state(conn, (
        state.path, state.kind, state.size, state.mtime_ns, state.inode, offset, state.head_len,
        state.head_hash, lines, malformed,
    ))


__all__ = ["IngestRun", "reprice_all", "reprice_unpriced"]
