"""Claude's 5-hour billing windows (``nerv usage report --by block``).

A block opens at its first activity floored to the whole UTC hour and lasts 5 hours;
the first activity at or after its end opens the next one, floored again. (ccusage's
second rule, "a gap of more than 5 hours starts a new block", is implied: with the
start floored, such a gap always reaches past the end.) Hours are floored in UTC as
ccusage does; in a zone with a half-hour offset a block starts at :30 local time.

Windows are the account's: with a report narrowed to a project, every session's
activity still decides where blocks start, and the project's usage is summed inside.

The block still open at ``now`` is *active*. Its burn rate is taken over its span of
activity (first to last response, as ccusage does; none while that span is zero), and
the projection adds that pace over the time left until the block ends. Money stays in
integer nano-dollars throughout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nerv.usage.money import usd
from nerv.usage.records import ZERO_USAGE, TokenUsage
from nerv.usage.report import ModelShare, ReportRow

HOUR_MS = 3_600_000
BLOCK_MS = 5 * HOUR_MS


@dataclass(frozen=True)
class UsageEvent:
    """Usage at one moment (an API response, or an amount recorded on a session directly),
    or several of one session and model within one clock hour, from ``at`` to ``last``:
    a block starts and ends on whole hours, so an hour never straddles two blocks and
    the database can pre-sum each hour."""

    at: int  # epoch ms
    session: str
    model: str | None
    tokens: TokenUsage
    cost_nano: int
    unpriced: int
    responses: int  # responses summed here (0: an amount recorded on a session)
    last: int | None = None  # the latest moment summed here, when several; must be in at's hour
    counted: bool = True  # False: outside the report's scope; it only shapes the windows


def block_start(at_ms: int) -> int:
    """``at_ms`` floored to the whole hour (UTC)."""
    return at_ms - at_ms % HOUR_MS


@dataclass
class _Share:
    tokens: TokenUsage = ZERO_USAGE
    cost_nano: int = 0
    unpriced: int = 0
    responses: int = 0


@dataclass
class _Block:
    start: int
    first: int | None = None  # first and last counted activity
    last: int | None = None
    sessions: set[str] = field(default_factory=set)
    shares: dict[str | None, _Share] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return self.start + BLOCK_MS

    def add(self, event: UsageEvent) -> None:
        if not event.counted:
            return
        latest = event.at if event.last is None else event.last
        self.first = event.at if self.first is None else min(self.first, event.at)
        self.last = latest if self.last is None else max(self.last, latest)
        self.sessions.add(event.session)
        share = self.shares.setdefault(event.model, _Share())
        share.tokens += event.tokens
        share.cost_nano += event.cost_nano
        share.unpriced += event.unpriced
        share.responses += event.responses


def _ratio(amount: int, numerator: int, denominator: int) -> int:
    """``amount * numerator / denominator`` rounded half up, in integers."""
    return (2 * amount * numerator + denominator) // (2 * denominator)


def _local(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000).astimezone()


def _row(block: _Block, now_ms: int, breakdown: bool) -> ReportRow:
    shares = block.shares.values()
    tokens = sum((s.tokens for s in shares), TokenUsage())
    cost = sum(s.cost_nano for s in shares)
    active = block.start <= now_ms < block.end
    first = block.start if block.first is None else block.first  # never None: rows need counted usage
    last = first if block.last is None else block.last
    span = last - first
    burn: dict[str, Any] | None = None
    projected: dict[str, Any] | None = None
    if active and span > 0:
        per_hour = _ratio(cost, HOUR_MS, span)
        burn = {
            "tokens_per_minute": round(tokens.total * 60_000 / span, 1),
            "cost_usd_per_hour": usd(per_hour),
            "cost_nanousd_per_hour": per_hour,
        }
        left = block.end - now_ms
        projected_cost = cost + _ratio(cost, left, span)
        projected = {
            "total_tokens": tokens.total + _ratio(tokens.total, left, span),
            "cost_usd": usd(projected_cost),
            "cost_nanousd": projected_cost,
            "remaining_minutes": left // 60_000,
        }
    start, end = _local(block.start), _local(block.end)
    label = f"{start:%Y-%m-%d %H:%M}-{end:%H:%M}" + (" active" if active else "")
    models = sorted(m for m in block.shares if m is not None)
    return ReportRow(
        by="block",
        key=start.isoformat(timespec="minutes"),
        label=label,
        models=models,
        tokens=tokens,
        cost_nano=cost,
        unpriced=sum(s.unpriced for s in shares),
        responses=sum(s.responses for s in shares),
        sessions=len(block.sessions),
        first_at=first,
        last_at=last,
        extra={
            "start_at": block.start,
            "end_at": block.end,
            "active": active,
            "burn_rate": burn,
            "projected": projected,
        },
        breakdown=(
            tuple(
                ModelShare(model, s.tokens, s.cost_nano, s.unpriced, s.responses)
                for model, s in sorted(block.shares.items(), key=lambda kv: (-kv[1].cost_nano, kv[0] or ""))
            )
            if breakdown
            else None
        ),
    )


def build_blocks(events: Iterable[UsageEvent], now_ms: int, *, breakdown: bool = False) -> list[ReportRow]:
    """One row per block holding counted usage, oldest first; ``events`` must come in time
    order (events of one hour in any order among themselves).

    Every event shapes the windows: they are the account's, whatever the report's
    scope (--project, --unassigned), so uncounted events open blocks but add nothing."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for event in events:
        if current is None or event.at >= current.end:
            current = _Block(block_start(event.at))
            blocks.append(current)
        current.add(event)
    return [_row(block, now_ms, breakdown) for block in blocks if block.first is not None]
