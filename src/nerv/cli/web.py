"""nerv web (the local dashboard: kanban board, approval queue, costs, audit trail)"""

from __future__ import annotations

import click

from nerv.cli.context import AppContext, pass_app


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Beyond this machine (e.g. 0.0.0.0) an access token is required.",
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

    On 127.0.0.1 (the default) there is no login: it answers only requests whose Host
    names this machine (no DNS rebinding), and accepts a change (POST) only as JSON from
    its own page (no cross-site requests). Listening beyond this machine requires an
    access token: generated on first use, kept in $NERV_HOME/web-token (0600) and shown
    once; open the dashboard as URL?token=TOKEN, or send "Authorization: Bearer TOKEN".
    Every request without it gets 401.
    """
    import signal
    import threading

    from nerv import env
    from nerv.web.server import TOKEN_FILE, is_loopback, make_server, web_token

    token, new = (None, False) if is_loopback(host) else web_token(env.nerv_home())
    server = make_server(app.path, host=host, port=port, project=project, verbose=verbose, token=token)
    try:
        click.echo(f"nerv dashboard: {server.url}", err=True)
        if token is not None:
            where = env.nerv_home() / TOKEN_FILE
            shown = f"{token} (shown once; kept in {where})" if new else f"in {where}"
            click.echo(
                f"nerv web: listening on {host}: every request needs the access token, {shown}; "
                f"open {server.url}?token=TOKEN",
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
