"""nerv usage reconcile (nerv's transcript-derived cost against Claude Code's reported cost)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.output import echo, emit_json, fmt_cost, json_option, sid, table


@click.command("reconcile")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.01, show_default=True,
              help="List sessions whose two costs differ by more than this many USD.")
@click.option("--all", "everything", is_flag=True, help="List every session with a reported cost.")
@json_option
@pass_app
def reconcile(app: AppContext, tolerance: float, everything: bool, as_json: bool) -> None:
    """Compare, per session, nerv's cost (from transcripts and telemetry) with the cost Claude
    Code itself reported to the statusline (nerv statusline stores it); list the differences.

    A session nerv has not ingested yet shows nerv's cost as $0.00: run nerv usage ingest.
    """
    found = app.service().reconcile_costs(tolerance_usd=tolerance, everything=everything)
    if as_json:
        emit_json({"tolerance_usd": tolerance, "sessions": [d.to_json() for d in found]})
        return
    table(
        ["CLAUDE SESSION", "SESSION", "PROJECT", "NERV", "CLAUDE CODE", "DIFFERENCE"],
        [
            (d.claude_session_id[:13], sid(d.session_id), sid(d.project_id), fmt_cost(d.nerv_cost_usd),
             fmt_cost(d.reported_cost_usd), f"{d.difference_usd:+,.2f}")
            for d in found
        ],
        empty=f"(no session differs by more than ${tolerance:,.2f})",
    )
    if found and not everything:
        echo(f"{len(found)} session(s) differ by more than ${tolerance:,.2f}")
