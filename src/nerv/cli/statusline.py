"""nerv statusline (Claude Code's statusline command; the work is in nerv.statusline)"""

from __future__ import annotations

import click


@click.command()
def statusline() -> None:
    """Claude Code's statusline: read its JSON on stdin, print one short line.

    The line shows the project (and task), the session's cost as Claude Code reports it,
    today's and this month's spend against the budgets, pending approvals and plan-limit
    use. The reported cost and the 5-hour / 7-day limit use are stored (see nerv usage
    reconcile). Never fails: on any error it still prints a line. For the fastest start,
    point Claude Code at nerv-statusline or python -m nerv.statusline instead.
    """
    from nerv.statusline import main

    main()
