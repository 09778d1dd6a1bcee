"""Usage accounting in the database: ingest what Claude Code wrote, report it, watch budgets.

Storage (see docs/performance.md "Usage ingest" for the measured cost):

* one ``metrics`` row per API response, ``external_id`` = ``message id:request id``
  (the bare message id for stream-json), upserted so that the copy with the
  most tokens wins (:func:`nerv.usage.records.better`, mirrored in SQL); a row
  stays with the session that brought it first, so a resumed or forked
  session's copies of earlier responses add nothing;
* the session is the ``claude_sessions`` row with Claude Code's session id,
  created on first sight with the project whose repository most closely
  encloses its ``cwd`` (else unassigned: ``project_id`` NULL); its token and
  cost columns follow its metrics by trigger, so they always equal their sum;
* a stream-json run is accounted by its ``result`` event: one row per model
  (``result:<session>:<model>``) whose costs add up to the result's cost. It
  then replaces any transcript rows of the same session, and later transcript
  lines of that session are skipped (Claude Code's own figure wins; a session
  is costed from one source, never both);
* a model without a price is stored with cost 0 *and* a row in
  ``unpriced_metrics``: counted in the ingest result, shown in reports and
  budgets as unpriced, and repriced by the next ingest once ``usage.prices``
  names it;
* ``ingested_files`` remembers what was read of each file (see
  :mod:`nerv.usage.ingest`); one transaction per file (per 4096 responses on
  a huge one) writes the rows together with the new read position, and one
  audit row (entity ``usage``, action ``ingest``) per run that changed anything.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nerv.errors import AmbiguousIdError, NotFoundError, ValidationError
from nerv.ids import new_id, now_ms
from nerv.models import Session
from nerv.service.base import ServiceBase
from nerv.service.tables import PROJECTS, SESSIONS
from nerv.usage.budget import BudgetStatus, evaluate
from nerv.usage.discovery import FileKind, classify, default_roots, session_id_for_file, walk_files
from nerv.usage.ingest import (
    HEAD_BYTES,
    RESULT_PREFIX,
    FileState,
    IngestResult,
    head_digest,
    read_batches,
    resume_offset,
    stream_rows,
)
from nerv.usage.pricing import PriceTable, validate_overrides
from nerv.usage.records import LineKind, TokenUsage, UsageRecord
from nerv.usage.report import GROUPINGS, ReportRow, day_start, month_start, next_month, to_ms
from nerv.usage.stream_json import read_stream

if TYPE_CHECKING:
    from nerv.models import Repo

PRICES_KEY = "usage.prices"
_TRANSCRIPT_KINDS = (FileKind.TRANSCRIPT.value, FileKind.SUBAGENT.value)
_RESULT_END = RESULT_PREFIX[:-1] + chr(ord(RESULT_PREFIX[-1]) + 1)  # "result;": end of the prefix range
_PREFIX_END = "~"  # sorts after the characters of ids and Claude Code session ids

# Mirrors usage.records.better: replace the stored copy only when the new one ranks
# higher by (total, output, 1h writes, 5m writes, reads, input). session_id is kept.
_UPSERT = """
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


@dataclass(frozen=True)
class UsageSummary:
    """Cost today and this month (local calendar), for ``nerv status``."""

    project_id: str | None  # None: all usage
    today_usd: float
    month_usd: float
    today_unpriced: int  # responses today without a price (their cost is not in today_usd)
    month_unpriced: int
    unassigned_sessions: int  # sessions with usage but no project (all projects' view only)
    budgets: list[BudgetStatus] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "today_usd": self.today_usd,
            "month_usd": self.month_usd,
            "today_unpriced_responses": self.today_unpriced,
            "month_unpriced_responses": self.month_unpriced,
            "unassigned_sessions": self.unassigned_sessions,
            "budgets": [b.to_json() for b in self.budgets],
        }


class UsageMixin(ServiceBase):
    if TYPE_CHECKING:  # provided by ProjectsMixin and SettingsMixin in DatabaseService

        def find_repo_for_path(self, path: str) -> Repo | None: ...

        def get_setting(
            self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
        ) -> Any: ...

        def effective_setting(
            self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
        ) -> tuple[Any, str]: ...

    # -- prices ---------------------------------------------------------------------------

    def price_table(self) -> PriceTable:
        """The shipped price table with the ``usage.prices`` overrides applied."""
        return PriceTable.load(validate_overrides(self.get_setting(PRICES_KEY)))

    # -- ingest ---------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path] | None = None) -> IngestResult:
        """Read new usage from ``paths`` (files or folders; default: every Claude Code
        projects folder). Incremental: unchanged files are only stat'ed."""
        roots = (
            [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
            if paths
            else [str(p) for p in default_roots()]
        )
        run = _Run(self, self.price_table())
        states = self._file_states(roots)
        folders = [r for r in roots if os.path.isdir(r)]
        for path, st in walk_files(roots, run.result.errors):
            run.file(path, st, states.pop(path, None))
        # Files gone from a scanned folder (Claude Code prunes old transcripts): forget
        # their read positions; their metrics stay.
        vanished = [p for p in states if any(p.startswith(f + os.sep) for f in folders)]
        return run.finish(roots, vanished)

    def ingest_transcript(self, path: str | Path, claude_session_id: str | None = None) -> IngestResult:
        """Ingest one session's transcript and its ``<session>/subagents/agent-*.jsonl``
        files, for the hook's Stop / SessionEnd events. Never raises for file problems
        (a missing or unreadable file is listed in ``errors``)."""
        main = os.path.abspath(os.path.expanduser(os.fspath(path)))
        subagents = Path(main).with_suffix("") / "subagents"
        files = [main]
        if subagents.is_dir():
            files += sorted(str(p) for p in subagents.glob("agent-*.jsonl"))
        run = _Run(self, self.price_table())
        for file in files:
            try:
                st = os.stat(file)
            except OSError as exc:
                run.result.errors.append(f"{file}: {exc.strerror or exc}")
                continue
            state = self._file_states([file]).get(file)
            run.file(file, st, state, fallback_session=claude_session_id if file == main else None)
        return run.finish([main], [])

    def _file_states(self, roots: Sequence[str]) -> dict[str, FileState]:
        states: dict[str, FileState] = {}
        for root in roots:
            if os.path.isdir(root):
                prefix = root.rstrip(os.sep) + os.sep
                rows = self._read(
                    "SELECT * FROM ingested_files WHERE path >= ? AND path < ?",
                    (prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
                )
            else:
                rows = self._read("SELECT * FROM ingested_files WHERE path = ?", (root,))
            for row in rows:
                values = dict(row)
                values.pop("updated_at")
                states[row["path"]] = FileState(**values)
        return states

    def forget_ingested_files(self) -> int:
        """Drop every remembered read position: the next ingest reads everything again
        (metrics are deduplicated, so that adds nothing that is already there)."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM ingested_files").rowcount

    def reprice(self, *, everything: bool = False) -> int:
        """Recompute costs from the price table in force. By default only rows without a
        price; ``everything``: every transcript row too (not stream-json results, whose
        cost is Claude Code's). Returns the number of rows whose cost changed; audited."""
        prices = self.price_table()
        with self.transaction() as conn:
            changed = _reprice_unpriced(conn, prices)
            if everything:
                rows = conn.execute(
                    "SELECT m.id, m.model, m.input_tokens, m.output_tokens, m.cache_write_5m_tokens, "
                    "m.cache_write_1h_tokens, m.cache_read_tokens, m.cost_usd, "
                    "(u.metric_id IS NOT NULL) AS unpriced FROM metrics m "
                    "LEFT JOIN unpriced_metrics u ON u.metric_id = m.id "
                    "WHERE m.external_id IS NOT NULL AND NOT (m.external_id >= ? AND m.external_id < ?)",
                    (RESULT_PREFIX, _RESULT_END),
                ).fetchall()
                for row in rows:
                    usage = TokenUsage(*(row[i] for i in range(2, 7)))
                    cost = prices.cost_of(row["model"] or "", usage)
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
            if changed:
                self._audit("usage", new_id(), "reprice", None, {"rows": changed, "everything": everything})
        return changed

    # -- sessions -------------------------------------------------------------------------

    def find_session(self, ident: str) -> Session:
        """A session by Claude Code's session id (or a unique prefix) or by nerv id (or prefix)."""
        ident = ident.strip()
        if not ident:
            raise ValidationError("session id must not be empty")
        row = self._read_one(
            "SELECT * FROM claude_sessions WHERE claude_session_id = ? OR id = ? LIMIT 1", (ident, ident)
        )
        if row is not None:
            return Session(**row)
        rows = self._read(
            "SELECT * FROM claude_sessions WHERE claude_session_id >= ? AND claude_session_id < ? "
            "UNION SELECT * FROM claude_sessions WHERE id >= ? AND id < ? LIMIT 6",
            (ident, ident + _PREFIX_END, ident, ident + _PREFIX_END),
        )
        if not rows:
            raise NotFoundError("session", ident)
        if len(rows) > 1:
            raise AmbiguousIdError("session", ident, [r["claude_session_id"] or r["id"] for r in rows])
        return Session(**rows[0])

    def assign_session(self, session: str, project: str | None) -> Session:
        """Give a session (Claude Code id or nerv id, or a prefix) a project (None: unassign)."""
        found = self.find_session(session)
        project_id = None if project is None else self.resolve_id(PROJECTS, project)
        return self._update(SESSIONS, found.id, {"project_id": project_id}, action="assign")

    def auto_assign_sessions(self) -> list[Session]:
        """Assign every unassigned session whose cwd lies in a registered repository."""
        rows = self._read("SELECT id, cwd FROM claude_sessions WHERE project_id IS NULL AND cwd IS NOT NULL")
        assigned = []
        for row in rows:
            repo = self.find_repo_for_path(row["cwd"])
            if repo is not None:
                assigned.append(
                    self._update(SESSIONS, row["id"], {"project_id": repo.project_id}, action="assign")
                )
        return assigned

    # -- reports --------------------------------------------------------------------------

    def usage_report(
        self,
        by: str,
        *,
        since: int | None = None,
        until: int | None = None,
        project_id: str | None = None,
        unassigned: bool = False,
    ) -> list[ReportRow]:
        """Usage grouped ``by`` session, day, month, project, task or model, aggregated in SQL.

        ``since`` / ``until`` are epoch ms (``[since, until)``); a response counts at its
        own time. Token or cost amounts recorded on a session directly rather than as
        metrics count at the session's start (as in ``get_cost_between``), so the
        project totals here match ``get_project_cost``.
        """
        if by not in GROUPINGS:
            raise ValidationError(f"cannot group usage by {by!r}: expected one of {', '.join(GROUPINGS)}")
        key = _GROUP_SQL[by]
        extras = _EXTRA_SQL.get(by, "")
        order = "k" if by in ("day", "month") else "cost DESC, first_at, k"
        where, params = self._scope(project_id, unassigned)
        cte, cte_params = _usage_cte(since, until)
        rows = self._read(
            f"{cte} SELECT {key} AS k, group_concat(DISTINCT u.model) AS models, "
            "sum(u.i) AS i, sum(u.o) AS o, sum(u.w5) AS w5, sum(u.w1) AS w1, sum(u.r) AS r, "
            "sum(u.c) AS cost, sum(u.unpriced) AS unpriced, "
            "sum(u.n) AS n, count(DISTINCT u.sid) AS sessions, min(u.t) AS first_at, max(u.t) AS last_at"
            f"{extras} FROM u JOIN claude_sessions s ON s.id = u.sid "
            "LEFT JOIN projects p ON p.id = s.project_id LEFT JOIN tasks tk ON tk.id = s.task_id "
            f"WHERE {where} GROUP BY k ORDER BY {order}",
            [*cte_params, *params],
        )
        return [_report_row(by, row) for row in rows]

    def _scope(self, project_id: str | None, unassigned: bool) -> tuple[str, list[Any]]:
        if unassigned:
            return "s.project_id IS NULL", []
        if project_id is not None:
            return "s.project_id = ?", [project_id]
        return "1", []

    def _spend(
        self, since: int, until: int, project_id: str | None, *, by_day: bool = False
    ) -> tuple[float, int, dict[date, float]]:
        """(cost, unpriced responses, cost per local day) in ``[since, until)``; all usage
        when ``project_id`` is None."""
        where, params = self._scope(project_id, False)
        cte, cte_params = _usage_cte(since, until)
        key = _GROUP_SQL["day"] if by_day else "''"
        rows = self._read(
            f"{cte} SELECT {key} AS k, coalesce(sum(u.c), 0.0) AS cost, "
            "coalesce(sum(u.unpriced), 0) AS unpriced "
            f"FROM u JOIN claude_sessions s ON s.id = u.sid WHERE {where} GROUP BY k",
            [*cte_params, *params],
        )
        cost = sum(float(r["cost"]) for r in rows)
        unpriced = sum(int(r["unpriced"]) for r in rows)
        days = {date.fromisoformat(r["k"]): float(r["cost"]) for r in rows} if by_day else {}
        return cost, unpriced, days

    # -- budgets --------------------------------------------------------------------------

    def budget_status(
        self, project_id: str | None = None, *, now: datetime | None = None
    ) -> list[BudgetStatus]:
        """The configured budgets: the global ones (all usage) and, with ``project_id``,
        that project's own (settings set for the project, not inherited from global).

        Limits: ``budget.daily_usd`` / ``budget.monthly_usd``; warnings at the fractions
        in ``budget.warn_at`` (the project's, else global). Unconfigured budgets are
        left out, so an empty list means "no budget set".
        """
        now = now or datetime.now()
        today = now.date()
        statuses: list[BudgetStatus] = []
        scopes: list[tuple[str, str | None]] = [("global", None)]
        if project_id is not None:
            scopes.append(("project", self.resolve_id(PROJECTS, project_id)))
        for scope, pid in scopes:
            warn_at = _warn_at(self.get_setting("budget.warn_at", pid))
            for period, key in (("daily", "budget.daily_usd"), ("monthly", "budget.monthly_usd")):
                value, source = self.effective_setting(key, pid)
                if scope == "project" and source != "project":
                    continue
                if value is None:
                    continue
                limit = _limit(key, value)
                first = today if period == "daily" else month_start(today)
                end = today + timedelta(days=1) if period == "daily" else next_month(today)
                spent, unpriced, days = self._spend(
                    to_ms(day_start(first)), to_ms(day_start(end)), pid, by_day=period == "monthly"
                )
                statuses.append(
                    evaluate(
                        period=period,
                        limit=limit,
                        spent=spent,
                        warn_at=warn_at,
                        now=now,
                        daily_spend=days,
                        scope=scope,
                        project_id=pid,
                        unpriced=unpriced,
                    )
                )
        return statuses

    def usage_summary(self, project_id: str | None = None, *, now: datetime | None = None) -> UsageSummary:
        """Today's and this month's cost (one project's, or all usage), with the budgets."""
        now = now or datetime.now()
        today = now.date()
        day_lo, day_hi = to_ms(day_start(today)), to_ms(day_start(today + timedelta(days=1)))
        month_lo, month_hi = to_ms(day_start(month_start(today))), to_ms(day_start(next_month(today)))
        today_cost, today_unpriced, _ = self._spend(day_lo, day_hi, project_id)
        month_cost, month_unpriced, _ = self._spend(month_lo, month_hi, project_id)
        unassigned = 0
        if project_id is None:
            row = self._read_one(
                "SELECT count(*) FROM claude_sessions s WHERE s.project_id IS NULL "
                "AND EXISTS (SELECT 1 FROM metrics m WHERE m.session_id = s.id)"
            )
            unassigned = int(row[0]) if row else 0
        return UsageSummary(
            project_id=project_id,
            today_usd=today_cost,
            month_usd=month_cost,
            today_unpriced=today_unpriced,
            month_unpriced=month_unpriced,
            unassigned_sessions=unassigned,
            budgets=self.budget_status(project_id, now=now),
        )


def _warn_at(value: Any) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in value
    ):
        raise ValidationError(f"budget.warn_at must be a list of positive fractions, got {value!r}")
    return [float(x) for x in value]


def _limit(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValidationError(f"{key} must be a positive number of USD, got {value!r}")
    return float(value)


# -- report SQL -------------------------------------------------------------------------

_GROUP_SQL = {
    "session": "s.id",
    "day": "date(u.t / 1000, 'unixepoch', 'localtime')",
    "month": "strftime('%Y-%m', u.t / 1000, 'unixepoch', 'localtime')",
    "project": "s.project_id",
    "task": "s.task_id",
    "model": "u.model",
}
_EXTRA_SQL = {
    "session": ", s.claude_session_id AS claude_id, s.project_id AS project_id, s.task_id AS task_id, "
    "s.cwd AS cwd, s.started_at AS started_at, p.name AS project_name",
    "project": ", p.name AS project_name",
    "task": ", tk.title AS task_title, tk.project_id AS project_id",
}
_MAX_MS = 2**62


def _usage_cte(since: int | None, until: int | None) -> tuple[str, list[Any]]:
    """``u``: one row per metric in range, plus one per session for amounts recorded on
    the session itself (its columns minus its metrics' sums), at the session's start."""
    lo = -_MAX_MS if since is None else since
    hi = _MAX_MS if until is None else until
    sql = """
WITH u AS (
  SELECT m.session_id AS sid, m.model AS model, m.input_tokens AS i, m.output_tokens AS o,
         m.cache_write_5m_tokens AS w5, m.cache_write_1h_tokens AS w1, m.cache_read_tokens AS r,
         m.cost_usd AS c, m.recorded_at AS t,
         EXISTS (SELECT 1 FROM unpriced_metrics x WHERE x.metric_id = m.id) AS unpriced, 1 AS n
  FROM metrics m WHERE m.recorded_at >= ? AND m.recorded_at < ?
  UNION ALL
  SELECT s.id, s.model, s.tokens_input - coalesce(a.i, 0), s.tokens_output - coalesce(a.o, 0),
         s.tokens_cache_write_5m - coalesce(a.w5, 0), s.tokens_cache_write_1h - coalesce(a.w1, 0),
         s.tokens_cache_read - coalesce(a.r, 0), s.cost_usd - coalesce(a.c, 0.0), s.started_at, 0, 0
  FROM claude_sessions s LEFT JOIN (
    SELECT session_id, sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_write_5m_tokens) AS w5,
           sum(cache_write_1h_tokens) AS w1, sum(cache_read_tokens) AS r, sum(cost_usd) AS c
    FROM metrics GROUP BY session_id
  ) a ON a.session_id = s.id
  WHERE s.started_at >= ? AND s.started_at < ?
    AND (s.tokens_input != coalesce(a.i, 0) OR s.tokens_output != coalesce(a.o, 0)
         OR s.tokens_cache_write_5m != coalesce(a.w5, 0) OR s.tokens_cache_write_1h != coalesce(a.w1, 0)
         OR s.tokens_cache_read != coalesce(a.r, 0) OR abs(s.cost_usd - coalesce(a.c, 0.0)) > 1e-9)
)"""
    return sql, [lo, hi, lo, hi]


def _report_row(by: str, row: sqlite3.Row) -> ReportRow:
    key = row["k"]
    models = sorted(set(row["models"].split(","))) if row["models"] else []
    extra: dict[str, Any] = {}
    label = "" if key is None else str(key)
    if by == "session":
        extra = {
            "nerv_session_id": key,
            "project_id": row["project_id"],
            "project_name": row["project_name"],
            "task_id": row["task_id"],
            "cwd": row["cwd"],
            "started_at": row["started_at"],
        }
        key = row["claude_id"]
        label = key or extra["nerv_session_id"]
    elif by == "project":
        extra = {"project_name": row["project_name"]}
        label = "(unassigned)" if key is None else row["project_name"] or str(key)
    elif by == "task":
        extra = {"task_title": row["task_title"], "project_id": row["project_id"]}
        label = "(no task)" if key is None else row["task_title"] or str(key)
    elif by == "model" and key is None:
        label = "(unknown)"
    return ReportRow(
        by=by,
        key=key,
        label=label,
        models=models,
        tokens=TokenUsage(int(row["i"]), int(row["o"]), int(row["w5"]), int(row["w1"]), int(row["r"])),
        cost_usd=float(row["cost"]),
        unpriced=int(row["unpriced"]),
        responses=int(row["n"]),
        sessions=int(row["sessions"]),
        first_at=row["first_at"],
        last_at=row["last_at"],
        extra=extra,
    )


def _reprice_unpriced(conn: sqlite3.Connection, prices: PriceTable) -> int:
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


class _Run:
    """State of one ingest call: caches, counters, and the per-file work."""

    def __init__(self, service: UsageMixin, prices: PriceTable) -> None:
        self.service = service
        self.prices = prices
        self.result = IngestResult()
        self.sessions: dict[str, _Session] = {}  # Claude Code session id -> row
        self.covered: dict[str, bool] = {}  # session id -> costed by a stream-json result
        self.projects: dict[str, str | None] = {}  # cwd -> project id
        self.tried_assign: set[str] = set()
        self.started = time.perf_counter()

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
                if prev is not None and start > 0 and prev.kind in _TRANSCRIPT_KINDS:
                    kind = prev.kind
                else:
                    kind, start = classify(Path(path)).value, 0
                state = FileState(
                    path, kind, st.st_size, st.st_mtime_ns, st.st_ino, 0, len(head), head_digest(head)
                )
                if kind in _TRANSCRIPT_KINDS:
                    self._transcript(fh, state, start, prev if start else None, fallback_session)
                elif kind == FileKind.STREAM_JSON.value:
                    self._stream(path, state)
                else:
                    result.files_other += 1
                    with self.service.transaction() as conn:
                        _save(conn, state, st.st_size, 0, 0)
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
            with self.service.transaction() as conn:
                self._store(conn, batch.records, main_of, path, mtime_ms)
                _save(conn, state, batch.end_offset, lines, malformed)
            offset = batch.end_offset
        result.bytes_read += offset - start

    def _stream(self, path: str, state: FileState) -> None:
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
                    (session.id, RESULT_PREFIX, _RESULT_END),
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
        changed = conn.executemany(_UPSERT, values).rowcount
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
        result = self.result
        service = self.service
        with service.transaction() as conn:
            if vanished:
                conn.executemany("DELETE FROM ingested_files WHERE path = ?", [(p,) for p in vanished])
            if conn.execute("SELECT 1 FROM unpriced_metrics LIMIT 1").fetchone() is not None:
                result.repriced = _reprice_unpriced(conn, self.prices)
                result.unpriced_total = conn.execute("SELECT count(*) FROM unpriced_metrics").fetchone()[0]
            if result.changed:
                result.audit_id = new_id()
                summary: dict[str, Any] = {
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
                service._audit("usage", result.audit_id, "ingest", None, summary)
        result.elapsed_s = time.perf_counter() - self.started
        return result


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


__all__ = ["UsageMixin", "UsageSummary"]
