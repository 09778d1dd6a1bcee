"""nerv serve (the live control plane: dashboard, http hook, OTLP receiver, live updates)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from nerv.cli.context import AppContext, pass_app


def server_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--host", default="127.0.0.1", show_default=True,
                     help="Address to listen on. Beyond this machine (e.g. 0.0.0.0) an access token is "
                     "required."),
        click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
                     help="Port to listen on (0: any free port)."),
        click.option("--open", "open_browser", is_flag=True,
                     help="Open the dashboard in the default web browser."),
        click.option("--project", metavar="ID", help="Project shown first (default: the current project)."),
        click.option("-v", "--verbose", is_flag=True, help="Log every request on stderr."),
    ]):
        func = option(func)
    return func


def run_server(
    app: AppContext, host: str, port: int, open_browser: bool, project: str | None, verbose: bool
) -> None:
    """Bind, print where, serve until SIGTERM / Ctrl-C."""
    import signal
    import threading

    from nerv import env
    from nerv.serve.server import make_control_server
    from nerv.serve.token import token_path
    from nerv.web.server import TOKEN_FILE

    server = make_control_server(app.path, host=host, port=port, project=project, verbose=verbose)
    try:
        click.echo(f"nerv dashboard: {server.url}", err=True)
        if server.token is not None:  # off loopback: the dashboard's own access token
            where = env.nerv_home() / TOKEN_FILE
            shown = f"{server.token} (shown once; kept in {where})" if server.web_token_new else f"in {where}"
            click.echo(
                f"nerv web: listening on {host}: every request needs the access token, {shown}; "
                f"open {server.url}?token=TOKEN",
                err=True,
            )
        click.echo(f"nerv serve: hooks at {server.url}hooks/claude, OTLP at {server.url}v1/logs "
                   f"(their token is in {token_path()})", err=True)
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


UNIT_NAME = "nerv-serve.service"


def unit_text(db_path: str, host: str, port: int) -> str:
    """A systemd user unit running this interpreter's ``nerv serve`` on the same database."""
    import shlex
    import sys

    command = " ".join(shlex.quote(w) for w in [sys.executable, "-m", "nerv", "--db", db_path, "serve",
                                                 "--host", host, "--port", str(port)])
    return (
        "[Unit]\n"
        "Description=nerv serve: dashboard, Claude Code http hook, OTLP receiver\n\n"
        "[Service]\n"
        f"ExecStart={command}\n"
        "Restart=on-failure\n\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def write_service_unit(db_path: str, host: str, port: int) -> None:
    import os
    from pathlib import Path

    from nerv.cli.output import echo

    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    unit = Path(base) / "systemd" / "user" / UNIT_NAME
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(unit_text(db_path, host, port))
    echo(f"wrote {unit}")
    echo(f"start it now and at login: systemctl --user daemon-reload && systemctl --user enable --now "
         f"{UNIT_NAME.removesuffix('.service')}")


@click.command()
@server_options
@click.option("--install-service", is_flag=True,
              help="Write a systemd user unit that runs this server (then enable it with systemctl --user).")
@pass_app
def serve(
    app: AppContext, host: str, port: int, open_browser: bool, project: str | None, verbose: bool,
    install_service: bool,
) -> None:
    """Run the live control plane until interrupted (Ctrl-C): the dashboard, Claude Code's
    http hook (POST /hooks/claude), the OpenTelemetry receiver (POST /v1/logs, /v1/metrics)
    and live updates (GET /api/events).

    Prints "nerv dashboard: URL" on stderr once it listens. The hook and OTLP endpoints
    need "Authorization: Bearer TOKEN"; that token is created on first start in
    $NERV_HOME/serve.token (0600). On 127.0.0.1 (the default) the dashboard has no login;
    listening beyond this machine, every other request needs the dashboard's access token
    ($NERV_HOME/web-token, shown once; open URL?token=TOKEN).
    """
    if install_service:
        write_service_unit(str(app.path.resolve()), host, port)
        return
    run_server(app, host, port, open_browser, project, verbose)
