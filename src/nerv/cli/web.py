"""nerv web: the dashboard -- an alias of ``nerv serve``, which carries it."""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, pass_app
from nerv.cli.serve import run_server, server_options


@click.command()
@server_options
@pass_app
def web(
    app: AppContext, host: str, port: int, open_browser: bool, project: str | None, verbose: bool
) -> None:
    """Serve the local dashboard until interrupted (Ctrl-C): the same server as nerv serve.

    Prints one line, "nerv dashboard: URL", on stderr once it listens.

    On 127.0.0.1 (the default) there is no login: it answers only requests whose Host
    names this machine (no DNS rebinding), and accepts a change (POST) only as JSON from
    its own page (no cross-site requests). Listening beyond this machine requires an
    access token: generated on first use, kept in $NERV_HOME/web-token (0600) and shown
    once; open the dashboard as URL?token=TOKEN, or send "Authorization: Bearer TOKEN".
    Every request without it gets 401.
    """
    run_server(app, host, port, open_browser, project, verbose)
