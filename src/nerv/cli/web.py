"""nerv web (the local dashboard: kanban board, approval queue, costs, audit trail)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, pass_app


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. The dashboard has no login: keep it on this machine.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option("--open", "open_browser", is_flag=True, help="Open the dashboard in the default web browser.")
@click.option("--project", metavar="ID", help="Project shown first (default: the current project).")
@click.option("-v", "--verbose", is_flag=True, help="Log every request on stderr.")
@pass_app
def web(
    app: AppContext, host: str, port: int, open_browser: bool, project: str | None, verbose: bool
) -> None:
    """Serve the local dashboard until interrupted (Ctrl-C).

    Prints one line, "nerv dashboard: URL", on stderr once it listens.

    There is no login, so the server stays local: it listens on 127.0.0.1 unless told
    otherwise, answers only requests whose Host names this machine (no DNS rebinding), and
    accepts a change (POST) only as JSON from its own page (no cross-site requests).
    """
    import signal
    import threading

    from nerv.web.server import is_loopback, make_server

    server = make_server(app.path, host=host, port=port, project=project, verbose=verbose)
    try:
        click.echo(f"nerv dashboard: {server.url}", err=True)
        if not is_loopback(host):
            click.echo(
                f"nerv web: warning: listening on {host}: anyone who can reach it can approve tool calls",
                err=True,
            )
        if open_browser:
            import webbrowser

            threading.Thread(target=webbrowser.open, args=(server.url,), daemon=True).start()

        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            server.serve_forever(poll_interval=0.25)
        except KeyboardInterrupt:
            click.echo("nerv dashboard: stopped", err=True)
    finally:
        server.server_close()
