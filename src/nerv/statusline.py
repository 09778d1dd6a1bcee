"""``nerv statusline``: Claude Code's statusline command (also ``python -m nerv.statusline``).

Claude Code runs the statusline command whenever the conversation changes,
with a JSON document on stdin (``session_id``, ``cwd``, ``workspace``,
``model``, ``cost.total_cost_usd``, ``rate_limits.five_hour`` /
``seven_day`` with ``used_percentage`` and ``resets_at``), and shows the first
line printed. This prints one short line -- project / task, the session's
cost as Claude Code reports it, today and this month against the budgets,
pending approvals, plan-limit use -- and stores the reported session cost and
the plan-limit snapshot (``nerv usage reconcile`` compares the cost with
nerv's own).

Like nerv-hook it runs often, so it imports only the standard library and
nerv's small modules, and never creates a database. It never fails: any
error still prints a line (and exit code 0), because a statusline command
that fails leaves Claude Code's status line blank.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from nerv import env

ACTOR = "statusline"
BUSY_TIMEOUT_MS = 500  # a statusline is redrawn often: never wait long for a lock
PERIODS = ("five_hour", "seven_day")
SHORT_PERIOD = {"five_hour": "5h", "seven_day": "7d"}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value == value and value >= 0:
        return float(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse(raw: bytes | str) -> dict[str, Any]:
    """The statusline document, or {} when it is unreadable."""
    try:
        value = json.loads(raw) if raw and raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def reported_cost(doc: Mapping[str, Any]) -> float | None:
    return _number(_dict(doc.get("cost")).get("total_cost_usd"))


def rate_limits(doc: Mapping[str, Any]) -> dict[str, tuple[float, int | None]]:
    """period -> (used %, resets_at in epoch ms or None) for the windows the document carries."""
    out: dict[str, tuple[float, int | None]] = {}
    limits = _dict(doc.get("rate_limits"))
    for period in PERIODS:
        window = _dict(limits.get(period))
        used = _number(window.get("used_percentage"))
        if used is None:
            continue
        out[period] = (used, _epoch_ms(window.get("resets_at")))
    return out


def _epoch_ms(value: Any) -> int | None:
    """Seconds or milliseconds since the epoch, or an ISO 8601 time, as epoch ms."""
    number = _number(value)
    if number is not None:
        return int(number if number > 1e11 else number * 1000)
    if isinstance(value, str):
        from datetime import datetime

        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None
    return None


def _money(value: float) -> str:
    return f"${value:,.2f}" if value < 1000 else f"${value:,.0f}"


def render(doc: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str:
    """Store what the document reports and return the line; raises only on a bug."""
    cost = reported_cost(doc)
    limits = rate_limits(doc)
    parts: list[str] = []
    try:
        facts = _with_database(doc, cost, limits, environ)
    except Exception as exc:
        facts = {"error": _short(exc)}
    where = facts.get("project")
    if where and facts.get("task"):
        where = f"{where} › {facts['task']}"
    parts.append(f"nerv {where}" if where else "nerv")
    if cost is not None:
        parts.append(f"session {_money(cost)}")
    parts.extend(facts.get("spend", []))
    pending = facts.get("pending")
    if pending:
        parts.append(f"{pending} pending")
    for period, (used, _) in limits.items():
        parts.append(f"{SHORT_PERIOD[period]} {used:.0f}%")
    if facts.get("error"):
        parts.append(f"({facts['error']})")
    return " · ".join(parts)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _with_database(
    doc: Mapping[str, Any], cost: float | None, limits: dict[str, tuple[float, int | None]],
    environ: Mapping[str, str],
) -> dict[str, Any]:
    from nerv.store.open import open_existing

    conn = open_existing(env.default_db_path_str(environ), BUSY_TIMEOUT_MS, environ)
    try:
        facts: dict[str, Any] = {}
        session = _text(doc.get("session_id"))
        try:
            _store(conn, session, doc, cost, limits)
        except Exception as exc:  # e.g. the lock is busy: show the line anyway
            facts["error"] = f"not recorded: {_short(exc)}"
        facts.update(_describe(conn, session, doc, environ))
        return facts
    finally:
        conn.close()


def _store(
    conn: Any, session: str | None, doc: Mapping[str, Any], cost: float | None,
    limits: dict[str, tuple[float, int | None]],
) -> None:
    from nerv.store import telemetry

    if session is not None and cost is not None:
        cost_doc = _dict(doc.get("cost"))
        duration = _number(cost_doc.get("total_duration_ms"))
        added = _number(cost_doc.get("total_lines_added"))
        removed = _number(cost_doc.get("total_lines_removed"))
        telemetry.report_session(
            conn, session, cost, duration_ms=None if duration is None else int(duration),
            lines_added=None if added is None else int(added),
            lines_removed=None if removed is None else int(removed),
            model=_text(_dict(doc.get("model")).get("id")), cwd=_text(doc.get("cwd")),
        )
    for period, (used, resets_at) in limits.items():
        telemetry.snapshot_rate_limit(conn, period, used, resets_at, session)


def _describe(
    conn: Any, session: str | None, doc: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any]:
    from nerv.store import reads
    from nerv.usage import enforce

    workspace = _dict(doc.get("workspace"))
    project_id = None
    places = (workspace.get("project_dir"), workspace.get("current_dir"), doc.get("cwd"))
    for where in map(_text, places):
        if where:
            found = reads.repo_for_path(conn, where)
            if found is not None:
                project_id = found[0]
                break
    task_id = environ.get(env.NERV_TASK_ID) or None
    if session is not None:
        row = conn.execute(
            "SELECT project_id, task_id FROM claude_sessions WHERE claude_session_id = ?", (session,)
        ).fetchone()
        if row is not None:
            project_id = project_id or row[0]
            task_id = task_id or row[1]
    facts: dict[str, Any] = {}
    if project_id is not None:
        row = conn.execute("SELECT name FROM projects WHERE id = ?", (project_id,)).fetchone()
        facts["project"] = row[0] if row else None
    if task_id:
        row = conn.execute("SELECT title FROM tasks WHERE id = ?", (task_id,)).fetchone()
        facts["task"] = _clip(row[0]) if row else None
    facts["spend"] = _spend(conn, project_id, environ, enforce)
    facts["pending"] = conn.execute(
        "SELECT count(*) FROM approval_requests WHERE status = 'pending'"
    ).fetchone()[0]
    return facts


def _clip(title: str, width: int = 30) -> str:
    return title if len(title) <= width else title[: width - 1] + "…"


def _spend(conn: Any, project_id: str | None, environ: Mapping[str, str], enforce: Any) -> list[str]:
    """``today $x[/$limit]`` and ``month $y[/$limit]``, with the budget's level when it warns."""
    found = enforce.budgets(conn, project_id, environ)
    budgets = {b.period: b for b in found if b.scope == "global"}
    budgets.update({b.period: b for b in found if b.scope == "project"})  # a project's own comes first
    out = []
    for period, label in (("daily", "today"), ("monthly", "month")):
        budget = budgets.get(period)
        if budget is None:
            from datetime import datetime

            lo, hi = enforce.period_bounds(period, datetime.now().date())
            out.append(f"{label} {_money(enforce.spent(conn, lo, hi, project_id))}")
            continue
        text = f"{label} {_money(budget.spent_usd)}/{_money(budget.limit_usd)}"
        if budget.level == "exceeded":
            text += " ⚠ over budget"
        elif budget.level == "warning":
            text += f" ⚠ {budget.fraction:.0%}"
        out.append(text)
    return out


def main(raw: bytes | str | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """Read stdin, print the line; always exit code 0."""
    try:
        if raw is None:
            stream = getattr(sys.stdin, "buffer", sys.stdin)
            raw = stream.read()
        line = render(parse(raw or b""), environ)
    except BaseException as exc:  # even a bug prints a line
        line = f"nerv ({_short(exc)})"
    try:
        out = getattr(sys.stdout, "buffer", None)
        if out is not None:
            out.write((line + "\n").encode("utf-8", "replace"))
            out.flush()
        else:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
    except (OSError, ValueError):
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
