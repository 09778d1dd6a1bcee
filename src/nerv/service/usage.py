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
  is costed from one source, never both). Tokens come from ``modelUsage``;
  older runs without it give the main loop's from the result's ``usage`` and
  the subagents' from their messages, whose output counts are streaming
  placeholders (an undercount of output tokens; the cost is exact). A run
  without a result event yet stores nothing until it has one;
* a model without a price is stored with cost 0 *and* a row in
  ``unpriced_metrics``: counted in the ingest result, shown in reports and
  budgets as unpriced, and repriced by the next ingest once ``usage.prices``
  names it;
* ``ingested_files`` remembers what was read of each file (see
  :mod:`nerv.usage.ingest`); rows are written with ``executemany`` in
  transactions of up to 4096 responses (several small files to one, a huge
  file in several), each together with the read positions it leads to, so a
  crash never loses or repeats a line; one audit row (entity ``usage``,
  action ``ingest``) per run that changed anything, none per metric.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerv.errors import AmbiguousIdError, DatabaseError, NotFoundError, ValidationError
from nerv.ids import new_id
from nerv.ids import now_ms as clock_ms
from nerv.models import Session
from nerv.service.base import ServiceBase
from nerv.service.tables import PROJECTS, SESSIONS
from nerv.store import rows as store_rows
from nerv.store import usage as store_usage
from nerv.usage.money import usd
from nerv.usage.records import TokenUsage
from nerv.when import local_midnight_ms, month_start, next_month

if TYPE_CHECKING:
    from nerv.models import Repo
    from nerv.usage.budget import BudgetStatus
    from nerv.usage.ingest import FileState, IngestResult
    from nerv.usage.pricing import PriceTable
    from nerv.usage.report import ReportRow

PRICES_KEY = "usage.prices"
# = nerv.usage.report.GROUPINGS (kept apart so the service imports stay light)
GROUPINGS = ("session", "day", "week", "month", "block", "project", "task", "model")
_PREFIX_END = "~"  # sorts after the characters of ids and Claude Code session ids


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

        def effective_setting(
            self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
        ) -> tuple[Any, str]: ...

    # -- prices ---------------------------------------------------------------------------

    def price_table(self) -> PriceTable:
        """The shipped price table with the ``usage.prices`` overrides applied."""
        from nerv.usage.pricing import PriceTable, validate_overrides

        return PriceTable.load(validate_overrides(self.get_setting(PRICES_KEY)))

    # -- ingest ---------------------------------------------------------------------------

    def ingest(self, paths: Sequence[str | Path] | None = None) -> IngestResult:
        """Read new usage from ``paths`` (files or folders; default: every Claude Code
        projects folder). Incremental: unchanged files are only stat'ed."""
        from nerv.service.ingest import IngestRun
        from nerv.usage.discovery import default_roots, walk_files

        roots = (
            [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
            if paths
            else [str(p) for p in default_roots()]
        )
        run = IngestRun(self)
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
        from nerv.service.ingest import IngestRun

        main = os.path.abspath(os.path.expanduser(os.fspath(path)))
        subagents = Path(main).with_suffix("") / "subagents"
        files = [main]
        if subagents.is_dir():
            files += sorted(str(p) for p in subagents.glob("agent-*.jsonl"))
        run = IngestRun(self)
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
        from nerv.usage.ingest import FileState

        columns = "path, kind, size, mtime_ns, inode, read_offset, head_len, head_hash, lines, malformed"
        states: dict[str, FileState] = {}
        try:
            for root in roots:
                if os.path.isdir(root):
                    prefix = root.rstrip(os.sep) + os.sep
                    cursor = self._conn.execute(
                        f"SELECT {columns} FROM ingested_files WHERE path >= ? AND path < ?",
                        (prefix, prefix[:-1] + chr(ord(os.sep) + 1)),
                    )
                else:
                    cursor = self._conn.execute(
                        f"SELECT {columns} FROM ingested_files WHERE path = ?", (root,)
                    )
                cursor.row_factory = None  # plain tuples: thousands of rows on a re-scan
                for row in cursor:
                    states[row[0]] = FileState(*row)
        except sqlite3.OperationalError as exc:
            raise DatabaseError(f"database error: {exc}") from None
        return states

    def forget_ingested_files(self) -> int:
        """Drop every remembered read position: the next ingest reads everything again
        (metrics are deduplicated, so that adds nothing that is already there)."""
        with self.transaction() as conn:
            return store_usage.forget_all_files(conn)

    def reprice(self, *, everything: bool = False) -> int:
        """Recompute costs from the price table in force. By default only rows without a
        price; ``everything``: every transcript row too (not stream-json results, whose
        cost is Claude Code's). Returns the number of rows whose cost changed; audited."""
        from nerv.service.ingest import reprice_all, reprice_unpriced

        prices = self.price_table()
        with self.transaction() as conn:
            changed = reprice_unpriced(conn, prices)
            if everything:
                changed += reprice_all(conn, prices)
            if changed:
                store_rows.event(conn, self.actor, "usage", new_id(), "reprice",
                                 {"rows": changed, "everything": everything})
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
        breakdown: bool = False,
        now_ms: int | None = None,
    ) -> list[ReportRow]:
        """Usage grouped ``by`` session, day, week, month, 5-hour block, project, task or
        model (SQL in :mod:`nerv.usage.queries`); ``breakdown`` adds per-model rows.

        ``since`` / ``until`` are epoch ms (``[since, until)``); a response counts at its
        own time. Token or cost amounts recorded on a session directly rather than as
        metrics count at the session's start (as in ``usage_summary``), so the
        project totals here match ``get_project_cost``. ``now_ms`` (default: now) says
        which 5-hour block is active.
        """
        from nerv.usage.queries import report_rows, scope_sql

        where, params = scope_sql(project_id, unassigned)
        return report_rows(
            self._read,
            by,
            since=since,
            until=until,
            where=where,
            params=params,
            breakdown=breakdown,
            now_ms=now_ms if now_ms is not None else clock_ms(),
        )

    def usage_totals(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        project_id: str | None = None,
        unassigned: bool = False,
    ) -> ReportRow:
        """The whole of :meth:`usage_report`'s range as one row (``by == "total"``)."""
        from nerv.usage.queries import report_rows, scope_sql
        from nerv.usage.report import ReportRow

        where, params = scope_sql(project_id, unassigned)
        rows = report_rows(self._read, "total", since=since, until=until, where=where, params=params)
        if rows:
            return rows[0]
        return ReportRow("total", None, "total", [], TokenUsage(), 0, 0, 0, 0, None, None)

    def _spend(
        self,
        since: int,
        until: int,
        project_id: str | None,
        *,
        by_day: bool = False,
        memo: dict[tuple[int, int, str | None], tuple[float, int, dict[date, float]]] | None = None,
    ) -> tuple[float, int, dict[date, float]]:
        """(cost, unpriced responses, cost per local day) in ``[since, until)``; all usage
        when ``project_id`` is None. Same figures as :meth:`usage_report`, as two plain
        aggregates (metrics in range; amounts recorded on sessions started in range)
        because status and budgets ask for them on every call. ``memo`` lets one caller
        ask for the same period twice (this month's cost, then the monthly budget)."""
        from nerv.usage.spend import spend_sql

        key = (since, until, project_id)
        if memo is not None and key in memo:
            return memo[key]
        by_day = by_day or memo is not None
        totals: dict[str, tuple[int, int]] = {}  # nano-dollars: exact sums
        for sql, params in spend_sql(since, until, project_id, by_day=by_day):
            for row in self._read(sql, params):
                cost, unpriced = totals.get(row[0], (0, 0))
                totals[row[0]] = (cost + int(row[1] or 0), unpriced + int(row[2] or 0))
        result = (
            usd(sum(c for c, _ in totals.values())),
            sum(n for _, n in totals.values()),
            {date.fromisoformat(k): usd(c) for k, (c, _) in totals.items() if k} if by_day else {},
        )
        if memo is not None:
            memo[key] = result
        return result

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
        return self._budget_status(project_id, now or datetime.now(), None)

    def _budget_status(
        self,
        project_id: str | None,
        now: datetime,
        memo: dict[tuple[int, int, str | None], tuple[float, int, dict[date, float]]] | None,
    ) -> list[BudgetStatus]:
        from nerv.usage.budget import evaluate

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
                lo, hi = local_midnight_ms(first), local_midnight_ms(end)
                spent, unpriced, days = self._spend(lo, hi, pid, by_day=period == "monthly", memo=memo)
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
        if project_id is not None:
            project_id = self.resolve_id(PROJECTS, project_id)
        day_lo, day_hi = local_midnight_ms(today), local_midnight_ms(today + timedelta(days=1))
        month_lo, month_hi = local_midnight_ms(month_start(today)), local_midnight_ms(next_month(today))
        memo: dict[tuple[int, int, str | None], tuple[float, int, dict[date, float]]] = {}
        today_cost, today_unpriced, _ = self._spend(day_lo, day_hi, project_id, memo=memo)
        month_cost, month_unpriced, _ = self._spend(month_lo, month_hi, project_id, memo=memo)
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
            budgets=self._budget_status(project_id, now, memo),
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


__all__ = ["PRICES_KEY", "UsageMixin", "UsageSummary"]
