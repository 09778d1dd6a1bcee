"""Usage writes: metrics, their sessions, ingest file state, prices.

Driven by :mod:`nerv.service.ingest` (the per-run logic) and
:mod:`nerv.service.usage`; parsing and prices are :mod:`nerv.usage` (pure).
These run inside the caller's transaction: a batch of rows and the read
positions it leads to commit together (see ``save_file_state``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from nerv.ids import now_ms

# cost of (model, (input, output, cache_write_5m, cache_write_1h, cache_read)); None: no price
CostOf = Callable[[str, tuple[int, int, int, int, int]], "float | None"]

# Mirrors usage.records.better: replace the stored copy only when the new one ranks
# higher by (total, output, 1h writes, 5m writes, reads, input). session_id is kept.
_UPSERT_METRIC = """
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
_WIDEN_SESSION = """
UPDATE claude_sessions SET
  started_at = min(started_at, :lo),
  ended_at = CASE WHEN ended_at IS NULL THEN NULL ELSE max(ended_at, :hi) END,
  cwd = coalesce(cwd, :cwd), model = coalesce(model, :model),
  transcript_path = coalesce(transcript_path, :path), updated_at = :now
WHERE id = :id AND (started_at > :lo OR (ended_at IS NOT NULL AND ended_at < :hi)
  OR (cwd IS NULL AND :cwd IS NOT NULL) OR (model IS NULL AND :model IS NOT NULL)
  OR (transcript_path IS NULL AND :path IS NOT NULL))
"""


# -- metrics ------------------------------------------------------------------------------


def upsert_metrics(conn: sqlite3.Connection, values: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """Insert or improve metric rows (see _UPSERT_METRIC); returns (added, updated)."""
    if not values:
        return 0, 0
    before = conn.execute("SELECT coalesce(max(rowid), 0) FROM metrics").fetchone()[0]
    changed = conn.executemany(_UPSERT_METRIC, values).rowcount
    added = int(conn.execute("SELECT count(*) FROM metrics WHERE rowid > ?", (before,)).fetchone()[0])
    return added, changed - added


def flag_unpriced(conn: sqlite3.Connection, external_id: str) -> bool:
    """Mark the metric with ``external_id`` as having no price; False if it already was."""
    return bool(
        conn.execute(
            "INSERT OR IGNORE INTO unpriced_metrics (metric_id, model) "
            "SELECT id, coalesce(model, '') FROM metrics WHERE external_id = ?",
            (external_id,),
        ).rowcount
    )


def has_metric_in_range(conn: sqlite3.Connection, lo: str, hi: str) -> bool:
    """Whether any metric's external id lies in [lo, hi) (e.g. a session's result rows)."""
    row = conn.execute(
        "SELECT 1 FROM metrics WHERE external_id >= ? AND external_id < ? LIMIT 1", (lo, hi)
    ).fetchone()
    return row is not None


def delete_transcript_rows(
    conn: sqlite3.Connection, session_id: str, result_lo: str, result_hi: str
) -> int:
    """Remove a session's transcript rows (external ids outside [result_lo, result_hi))."""
    return int(
        conn.execute(
            "DELETE FROM metrics WHERE session_id = ? AND external_id IS NOT NULL "
            "AND NOT (external_id >= ? AND external_id < ?)",
            (session_id, result_lo, result_hi),
        ).rowcount
    )


def _tokens(row: Sequence[Any]) -> tuple[int, int, int, int, int]:
    return (int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))


def reprice_unpriced(conn: sqlite3.Connection, cost_of: CostOf) -> int:
    """Price the unpriced rows whose model now has a price; returns how many."""
    rows = conn.execute(
        "SELECT m.id, m.model, m.input_tokens, m.output_tokens, m.cache_write_5m_tokens, "
        "m.cache_write_1h_tokens, m.cache_read_tokens "
        "FROM unpriced_metrics u JOIN metrics m ON m.id = u.metric_id"
    ).fetchall()
    repriced = 0
    for row in rows:
        cost = cost_of(row[1] or "", _tokens(row))
        if cost is not None:
            conn.execute("UPDATE metrics SET cost_usd = ? WHERE id = ?", (cost, row[0]))
            conn.execute("DELETE FROM unpriced_metrics WHERE metric_id = ?", (row[0],))
            repriced += 1
    return repriced


def reprice_all(conn: sqlite3.Connection, cost_of: CostOf, result_lo: str, result_hi: str) -> int:
    """Recompute every transcript row's cost (not result rows in [result_lo, result_hi)).
    A row whose model lost its price is flagged unpriced. Returns rows changed."""
    rows = conn.execute(
        "SELECT m.id, m.model, m.input_tokens, m.output_tokens, m.cache_write_5m_tokens, "
        "m.cache_write_1h_tokens, m.cache_read_tokens, m.cost_usd, "
        "(u.metric_id IS NOT NULL) AS unpriced FROM metrics m "
        "LEFT JOIN unpriced_metrics u ON u.metric_id = m.id "
        "WHERE m.external_id IS NOT NULL AND NOT (m.external_id >= ? AND m.external_id < ?)",
        (result_lo, result_hi),
    ).fetchall()
    changed = 0
    for row in rows:
        cost = cost_of(row[1] or "", _tokens(row))
        if cost is None:
            if not row[8]:
                conn.execute("UPDATE metrics SET cost_usd = 0 WHERE id = ?", (row[0],))
                conn.execute(
                    "INSERT INTO unpriced_metrics (metric_id, model) VALUES (?, ?)", (row[0], row[1] or "")
                )
                changed += 1
        elif abs(cost - row[7]) > 1e-12:
            conn.execute("UPDATE metrics SET cost_usd = ? WHERE id = ?", (cost, row[0]))
            changed += 1
    return changed


# -- sessions -------------------------------------------------------------------------------


def find_session(
    conn: sqlite3.Connection, claude_session_id: str
) -> tuple[str, str | None, str | None] | None:
    """``(id, project_id, cwd)`` of the session row of a Claude Code session id."""
    row = conn.execute(
        "SELECT id, project_id, cwd FROM claude_sessions WHERE claude_session_id = ?", (claude_session_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def new_session(
    conn: sqlite3.Connection, ident: str, project_id: str | None, first: int, last: int,
    claude_session_id: str, model: str | None, cwd: str | None, transcript_path: str | None,
) -> None:
    """A completed session seen only in usage files (its totals follow its metrics by trigger).

    Not audited row by row: the run writes one ``usage``/``ingest`` audit row.
    """
    conn.execute(
        _NEW_SESSION,
        (ident, project_id, first, last, claude_session_id, model, cwd, transcript_path, now_ms()),
    )


def assign_project(conn: sqlite3.Connection, session_id: str, project_id: str) -> bool:
    """Give an unassigned session a project; False if it had one meanwhile."""
    return bool(
        conn.execute(
            "UPDATE claude_sessions SET project_id = ?, updated_at = ? WHERE id = ? AND project_id IS NULL",
            (project_id, now_ms(), session_id),
        ).rowcount
    )


def widen_session(
    conn: sqlite3.Connection, session_id: str, first: int, last: int, cwd: str | None, model: str | None,
    transcript_path: str | None,
) -> None:
    conn.execute(
        _WIDEN_SESSION,
        {"lo": first, "hi": last, "cwd": cwd, "model": model, "path": transcript_path, "now": now_ms(),
         "id": session_id},
    )


def drop_session_if_empty(conn: sqlite3.Connection, session_id: str) -> bool:
    """Delete a session that holds no metric (one created by this run for nothing)."""
    if conn.execute("SELECT 1 FROM metrics WHERE session_id = ? LIMIT 1", (session_id,)).fetchone():
        return False
    conn.execute("DELETE FROM claude_sessions WHERE id = ?", (session_id,))
    return True


# -- file state -------------------------------------------------------------------------------


def save_file_state(conn: sqlite3.Connection, state: Sequence[Any]) -> None:
    """One ``ingested_files`` row: (path, kind, size, mtime_ns, inode, read_offset, head_len,
    head_hash, lines, malformed). Saved in the transaction of the rows it accounts for."""
    conn.execute(_SAVE_STATE, (*state, now_ms()))


def forget_files(conn: sqlite3.Connection, paths: Sequence[str]) -> None:
    conn.executemany("DELETE FROM ingested_files WHERE path = ?", [(p,) for p in paths])


def forget_all_files(conn: sqlite3.Connection) -> int:
    return int(conn.execute("DELETE FROM ingested_files").rowcount)
