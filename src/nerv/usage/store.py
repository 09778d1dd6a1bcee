"""The database side of usage ingest: one run over a set of files, and repricing.

Imported lazily by :class:`nerv.service.usage.UsageMixin` (the hook imports the
service on every call; parsing and pricing code is only loaded when used).
Storage decisions are described in :mod:`nerv.service.usage`.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nerv.ids import new_id, now_ms
from nerv.usage.discovery import FileKind, classify, session_id_for_file
from nerv.usage.ingest import (
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
    from nerv.service.usage import UsageMixin

TRANSCRIPT_KINDS = (FileKind.TRANSCRIPT.value, FileKind.SUBAGENT.value)
_MAX_PENDING_FILES = 256  # unchanged-but-touched files carry no records: bound their count too
RESULT_END = RESULT_PREFIX[:-1] + chr(ord(RESULT_PREFIX[-1]) + 1)  # "result;": end of the prefix range

# Mirrors usage.records.better: replace the stored copy only when the new one ranks
# higher by (total, output, 1h writes, 5m writes, reads, input). session_id is kept.
UPSERT_METRIC = """
INSERT INTO metrics (id, session_id, external_id, model, input_tokens, output_tokens, cache_read_tokens,
                     cache_write_5m_tokens, cache_write_1h_tokens, cost_usd, recorded_at, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (external_id) DO UPDATE SET
  model = excluded.model,
  input_tokens = excluded.input_tokens,
  output_tokens = excluded.output_tokens,
  cache_read_tokens = excluded.cache_read_tokens,
  cache_write_5m_tokens = excluded.cache_write_5m_tokens,
  cache_write_1h_tokens = excluded.cache_write_1h_tokens,
  cost_usd = excluded.cost_usd,
  recorded_at = excluded.recorded_at
WHERE (excluded.input_tokens + excluded.output_tokens + excluded.cache_write_5m_tokens
       + excluded.cache_write_1h_tokens + excluded.cache_read_tokens,
       excluded.output_tokens, excluded.cache_write_1h_tokens, excluded.cache_write_5m_tokens,
       excluded.cache_read_tokens, excluded.input_tokens)
    > (metrics.input_tokens + metrics.output_tokens + metrics.cache_write_5m_tokens
       + metrics.cache_write_1h_tokens + metrics.cache_read_tokens,
       metrics.output_tokens, metrics.cache_write_1h_tokens, metrics.cache_write_5m_tokens,
       metrics.cache_read_tokens, metrics.input_tokens)
"""
_SAVE_STATE = (
    "INSERT OR REPLACE INTO ingested_files (path, kind, size, mtime_ns, inode, read_offset, head_len, "
    "head_hash, lines, malformed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_NEW_SESSION = (
    "INSERT INTO claude_sessions (id, project_id, task_id, status, started_at, ended_at, tokens_input, "
    "tokens_output, cost_usd, claude_session_id, tokens_cache_read, tokens_cache_write_5m, "
    "tokens_cache_write_1h, model, cwd, transcript_path, updated_at) "
    "VALUES (?, ?, NULL, 'completed', ?, ?, 0, 0, 0, ?, 0, 0, 0, ?, ?, ?, ?)"
)
# Widen an existing session's time span and fill in what it lacks; a live session
# (ended_at NULL, e.g. one the hook opened) keeps its open end.
_TOUCH_SESSION = """
UPDATE claude_sessions SET
  started_at = min(started_at, :lo),
  ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE max(ended_at, :hi) END,
  cwd = coalesce(cwd, :cwd), model = coalesce(model, :model),
  transcript_path = coalesce(transcript_path, :path), updated_at = :now
WHERE id = :id AND (started_at > :lo OR (ended_at IS NOT NULL AND ended_at < :hi)
  OR (cwd IS NULL AND :cwd IS NOT NULL) OR (model IS NULL AND :model IS NOT NULL)
  OR (transcript_path IS NULL AND :path IS NOT NULL))
"""


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


def reprice_unpriced(conn: sqlite3.Connection, prices: PriceTable) -> int:
    rows = conn.execute(
        "SELECT m.id, m.model, m.input_tokens, m.output_tokens, m.cache_write_5m_tokens, "
        "m.cache_write_1h_tokens, m.cache_read_tokens "
        "FROM unpriced_metrics u JOIN metrics m ON m.id = u.metric_id"
    ).fetchall()
    repriced = 0
    for row in rows:
        cost = prices.cost_of(row["model"] or "", TokenUsage(*(row[i] for i in range(2, 7))))
        if cost is not None:
            conn.execute("UPDATE metrics SET cost_usd = ? WHERE id = ?", (cost, row["id"]))
            conn.execute("DELETE FROM unpriced_metrics WHERE metric_id = ?", (row["id"],))
            repriced += 1
    return repriced


# -- one ingest run ---------------------------------------------------------------------


def reprice_all(conn: sqlite3.Connection, prices: PriceTable) -> int:
    """Recompute every transcript row's cost (not stream-json results: Claude Code's own
    figure). A row whose model lost its price is flagged unpriced. Returns rows changed."""
    rows = conn.execute(
        "SELECT m.id, m.model, m.input_tokens, m.output_tokens, m.cache_write_5m_tokens, "
        "m.cache_write_1h_tokens, m.cache_read_tokens, m.cost_usd, "
        "(u.metric_id IS NOT NULL) AS unpriced FROM metrics m "
        "LEFT JOIN unpriced_metrics u ON u.metric_id = m.id "
        "WHERE m.external_id IS NOT NULL AND NOT (m.external_id >= ? AND m.external_id < ?)",
        (RESULT_PREFIX, RESULT_END),
    ).fetchall()
    changed = 0
    for row in rows:
        cost = prices.cost_of(row["model"] or "", TokenUsage(*(row[i] for i in range(2, 7))))
        if cost is None:
            if not row["unpriced"]:
                conn.execute("UPDATE metrics SET cost_usd = 0 WHERE id = ?", (row["id"],))
                conn.execute(
                    "INSERT INTO unpriced_metrics (metric_id, model) VALUES (?, ?)",
                    (row["id"], row["model"] or ""),
                )
                changed += 1
        elif abs(cost - row["cost_usd"]) > 1e-12:
            conn.execute("UPDATE metrics SET cost_usd = ? WHERE id = ?", (cost, row["id"]))
            changed += 1
    return changed


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
        for batch in read_batches(fh, start, source=path, fallback_session=fallback):
            result.lines += batch.lines
            result.malformed_lines += batch.counts[LineKind.MALFORMED]
            result.synthetic += batch.counts[LineKind.SYNTHETIC]
            lines += batch.lines
            malformed += batch.counts[LineKind.MALFORMED]
            self._queue(_Chunk(state, batch.end_offset, lines, malformed, batch.records, main_of, mtime_ms))
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
                times = [r.timestamp_ms for r in records if r.timestamp_ms is not None]
                at = max(times) if times else state.mtime_ns // 1_000_000
                session = self._session(conn, session_id, cwd, main_model, min(times, default=at), at, None)
                replaced = conn.execute(
                    "DELETE FROM metrics WHERE session_id = ? AND external_id IS NOT NULL "
                    "AND NOT (external_id >= ? AND external_id < ?)",
                    (session.id, RESULT_PREFIX, RESULT_END),
                ).rowcount
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
        before = conn.execute("SELECT coalesce(max(rowid), 0) FROM metrics").fetchone()[0]
        changed = conn.executemany(UPSERT_METRIC, values).rowcount
        added = conn.execute("SELECT count(*) FROM metrics WHERE rowid > ?", (before,)).fetchone()[0]
        self.result.responses_added += added
        self.result.responses_updated += changed - added
        for external_id, model in unpriced:
            flagged = conn.execute(
                "INSERT OR IGNORE INTO unpriced_metrics (metric_id, model) "
                "SELECT id, coalesce(model, '') FROM metrics WHERE external_id = ?",
                (external_id,),
            ).rowcount
            if flagged:
                self.result.add_unknown(model)

    def _covered(self, conn: sqlite3.Connection, claude_id: str) -> bool:
        covered = self.covered.get(claude_id)
        if covered is None:
            prefix = f"{RESULT_PREFIX}{claude_id}:"
            row = conn.execute(
                "SELECT 1 FROM metrics WHERE external_id >= ? AND external_id < ? LIMIT 1",
                (prefix, prefix[:-1] + ";"),
            ).fetchone()
            covered = self.covered[claude_id] = row is not None
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
            row = conn.execute(
                "SELECT id, project_id, cwd FROM claude_sessions WHERE claude_session_id = ?", (claude_id,)
            ).fetchone()
            if row is None:
                project = self._project_for(cwd)
                ident = new_id()
                conn.execute(
                    _NEW_SESSION, (ident, project, first, last, claude_id, model, cwd, transcript, now_ms())
                )
                self.result.sessions_created += 1
                session = self.sessions[claude_id] = _Session(ident, project, cwd, created=True)
                return session
            session = self.sessions[claude_id] = _Session(row["id"], row["project_id"], row["cwd"])
        else:
            session.created = False
        where = cwd or session.cwd
        if session.project_id is None and where and claude_id not in self.tried_assign:
            self.tried_assign.add(claude_id)
            project = self._project_for(where)
            if project is not None:
                conn.execute(
                    "UPDATE claude_sessions SET project_id = ?, updated_at = ? "
                    "WHERE id = ? AND project_id IS NULL",
                    (project, now_ms(), session.id),
                )
                session.project_id = project
                self.result.sessions_assigned += 1
        conn.execute(
            _TOUCH_SESSION,
            {
                "lo": first,
                "hi": last,
                "cwd": cwd,
                "model": model,
                "path": transcript,
                "now": now_ms(),
                "id": session.id,
            },
        )
        return session

    def _drop_if_empty(self, conn: sqlite3.Connection, claude_id: str) -> None:
        """A session created in this batch that got no row of its own (every response was a
        copy of one already held, e.g. a resumed session's history) is not kept."""
        session = self.sessions.get(claude_id)
        if session is None or not session.created:
            return
        if (
            conn.execute("SELECT 1 FROM metrics WHERE session_id = ? LIMIT 1", (session.id,)).fetchone()
            is None
        ):
            conn.execute("DELETE FROM claude_sessions WHERE id = ?", (session.id,))
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
                    conn.executemany("DELETE FROM ingested_files WHERE path = ?", [(p,) for p in vanished])
                if priceable:
                    result.repriced = reprice_unpriced(conn, self.prices)
                if result.changed:
                    result.audit_id = new_id()
                    service._audit("usage", result.audit_id, "ingest", None, _audit_summary(result, roots))
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
    conn.execute(
        _SAVE_STATE,
        (
            state.path,
            state.kind,
            state.size,
            state.mtime_ns,
            state.inode,
            offset,
            state.head_len,
            state.head_hash,
            lines,
            malformed,
            now_ms(),
        ),
    )


__all__ = ["IngestRun", "reprice_all", "reprice_unpriced"]
