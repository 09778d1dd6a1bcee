"""What Claude Code reports about itself, compared with what nerv derives (reads only).

The writes are in :mod:`nerv.store.telemetry` (the statusline, the OTLP receiver).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nerv.errors import ValidationError
from nerv.service.base import ServiceBase


@dataclass(frozen=True, slots=True)
class CostDifference:
    claude_session_id: str
    session_id: str | None  # nerv's session row (None: nerv never saw the session)
    project_id: str | None
    nerv_cost_usd: float
    reported_cost_usd: float
    reported_at: int

    @property
    def difference_usd(self) -> float:
        return self.nerv_cost_usd - self.reported_cost_usd

    def to_json(self) -> dict[str, Any]:
        return {
            "claude_session_id": self.claude_session_id,
            "session_id": self.session_id,
            "project_id": self.project_id,
            "nerv_cost_usd": self.nerv_cost_usd,
            "reported_cost_usd": self.reported_cost_usd,
            "difference_usd": self.difference_usd,
            "reported_at": self.reported_at,
        }


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    period: str
    used_percentage: float
    resets_at: int | None
    recorded_at: int

    def to_json(self) -> dict[str, Any]:
        return {"period": self.period, "used_percentage": self.used_percentage, "resets_at": self.resets_at,
                "recorded_at": self.recorded_at}


class TelemetryMixin(ServiceBase):
    def reconcile_costs(
        self, *, tolerance_usd: float = 0.01, everything: bool = False
    ) -> list[CostDifference]:
        """Per session Claude Code reported a cost for: nerv's transcript-derived cost beside it.

        Only sessions whose two figures differ by more than ``tolerance_usd`` unless
        ``everything``; largest difference first.
        """
        if tolerance_usd < 0:
            raise ValidationError(f"the tolerance must be zero or more, got {tolerance_usd}")
        rows = self._read(
            "SELECT r.claude_session_id, s.id, s.project_id, coalesce(s.cost_usd, 0.0), r.cost_usd, "
            "r.updated_at FROM session_reports r "
            "LEFT JOIN claude_sessions s ON s.claude_session_id = r.claude_session_id"
        )
        found = [CostDifference(r[0], r[1], r[2], float(r[3]), float(r[4]), int(r[5])) for r in rows]
        if not everything:
            found = [d for d in found if abs(d.difference_usd) > tolerance_usd]
        return sorted(found, key=lambda d: (-abs(d.difference_usd), d.claude_session_id))

    def rate_limit_history(self, period: str | None = None, limit: int = 100) -> list[RateLimitSnapshot]:
        """The plan-limit snapshots the statusline stored, newest first."""
        where, params = ("WHERE period = ?", [period]) if period else ("", [])
        rows = self._read(
            f"SELECT period, used_percentage, resets_at, recorded_at FROM rate_limit_snapshots {where} "
            "ORDER BY recorded_at DESC, rowid DESC LIMIT ?",
            [*params, limit],
        )
        return [RateLimitSnapshot(r[0], float(r[1]), r[2], int(r[3])) for r in rows]
