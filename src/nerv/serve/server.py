"""The ``nerv serve`` HTTP server: the dashboard plus Claude Code's machine endpoints.

It extends the dashboard's server (same Host / Origin / Content-Type defences,
same JSON error shape, same security headers) with:

==========================  ==========================================================
``POST /hooks/claude``      an http hook event; the answer is nerv-hook's (token)
``POST /v1/logs``           OTLP/HTTP JSON log records: api_request, tool_decision (token)
``POST /v1/metrics``        OTLP/HTTP JSON metrics: accepted and ignored (token)
``GET  /api/events``        server-sent events: a change counter and session activity
``GET  /api/live``          the same, once, as JSON
==========================  ==========================================================

The machine endpoints always require ``Authorization: Bearer TOKEN`` with the
token of :mod:`nerv.serve.token` (``serve.token``, the one Claude Code's
settings carry); a missing or wrong one gets 401 before the body is read, so
nothing changes. Bound to a non-loopback address, every other request needs the
dashboard's access token as well (:func:`nerv.web.server.web_token`; a browser
opens ``/?token=TOKEN`` once), checked by the dashboard's own handler.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nerv import __version__
from nerv.errors import NervError
from nerv.serve import hookcall
from nerv.serve import token as tokens
from nerv.serve.live import Activity, ChangeFeed
from nerv.web.api import Api, ApiError, Response, error_response
from nerv.web.server import DEFAULT_HOST, DashboardHandler, DashboardServer, is_loopback, web_actor

DEFAULT_PORT = 8765
MAX_MACHINE_BODY = 32 * 1024 * 1024  # a Write tool call carries the whole file
SSE_KEEPALIVE_S = 15.0
DRAIN_S = 5.0  # on stop, how long answers to held hook calls may take to go out
MACHINE_PATHS = ("/hooks/claude", "/v1/logs", "/v1/metrics")


class ControlServer(DashboardServer):
    """The dashboard server, plus the token, the change feed and the session activity."""

    def __init__(
        self, address: tuple[str, int], api: Api, *, hook_token: str, db_path: str, verbose: bool = False,
        web_token: str | None = None, environ: Mapping[str, str] | None = None,
    ) -> None:
        self.hook_token = hook_token  # Claude Code's key: /hooks/claude, /v1/*
        self.web_token_new = False  # set by make_control_server: show the web token once
        self.db_path = db_path
        self.environ = dict(os.environ if environ is None else environ)
        self.activity = Activity()
        self.feed = ChangeFeed(db_path)
        self.telemetry_lock = threading.Lock()
        self._telemetry_conn: Any = None
        self._in_flight = 0
        self._in_flight_lock = threading.Condition()
        try:
            super().__init__(address, api, verbose=verbose, token=web_token)
        except BaseException:
            self.feed.stop()
            raise
        self.RequestHandlerClass = ControlHandler

    def telemetry_connection(self) -> Any:
        """The connection OTLP writes use (opened on first use; call under ``telemetry_lock``)."""
        if self._telemetry_conn is None:
            from nerv.store.open import open_existing

            self._telemetry_conn = open_existing(self.db_path, 5000, self.environ)
        return self._telemetry_conn

    def hook_started(self) -> None:
        with self._in_flight_lock:
            self._in_flight += 1

    def hook_finished(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
            self._in_flight_lock.notify_all()

    def drain(self, grace_s: float = DRAIN_S) -> None:
        """Before stopping: a queued call this server still holds is expired (its caller gets
        deny, as a command hook stopped while waiting answers), then its answer gets
        ``grace_s`` to go out. A call cut off by the stop would be let through by Claude Code."""
        from nerv.store import requests
        from nerv.store.open import open_existing

        try:
            conn = open_existing(self.db_path, 5000, self.environ)
            try:
                for request_id in requests.pending_filed_by(conn, hookcall.ACTOR):
                    requests.expire(conn, hookcall.ACTOR, request_id, "nerv serve stopped before a decision")
            finally:
                conn.close()
        except Exception as exc:
            sys.stderr.write(f"nerv serve: could not expire the queued calls it held: {exc}\n")
        with self._in_flight_lock:
            self._in_flight_lock.wait_for(lambda: self._in_flight == 0, grace_s)

    def server_close(self) -> None:
        self.drain()
        self.feed.stop()
        super().server_close()
        with self.telemetry_lock:
            if self._telemetry_conn is not None:
                self._telemetry_conn.close()
                self._telemetry_conn = None


class _ControlServerV6(ControlServer):
    address_family = socket.AF_INET6


def make_control_server(
    db_path: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    project: str | None = None,
    actor: str | None = None,
    verbose: bool = False,
) -> ControlServer:
    """Open (create or migrate) the database, load or create the token, bind; then ``serve_forever``."""
    from nerv import env
    from nerv.service import DatabaseService
    from nerv.service.tables import PROJECTS
    from nerv.web.server import web_token

    service = DatabaseService(db_path, actor=actor or web_actor())
    try:
        default_project = service.resolve_id(PROJECTS, project) if project else None
        api = Api(service, default_project=default_project)
        hook_token = tokens.load_or_create()
        browser_token, new = (None, False) if is_loopback(host) else web_token(env.nerv_home())
        cls = _ControlServerV6 if ":" in host else ControlServer
        try:
            server = cls((host, port), api, hook_token=hook_token, db_path=str(service.path), verbose=verbose,
                         web_token=browser_token)
        except OSError as exc:
            raise NervError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        server.web_token_new = new
        return server
    except BaseException:
        service.close()
        raise


class ControlHandler(DashboardHandler):
    server: ControlServer
    server_version = f"nerv-serve/{__version__}"

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path
        try:
            if not self.server.host_allowed(self.headers.get("Host")):
                raise ApiError(
                    403, "forbidden_host", "the Host header does not name this machine (DNS rebinding?)"
                )
            if path in MACHINE_PATHS:
                self._machine(method, path, url.query)
                return
            if path in ("/api/events", "/api/live") and not self._authorize(
                method, path, parse_qs(url.query, keep_blank_values=True)
            ):
                return  # off loopback without the dashboard's token: answered 401
            if method == "GET" and path == "/api/events":
                self._events()
                return
            if method == "GET" and path == "/api/live":
                self._send_json(Response(200, self._live()))
                return
        except Exception as exc:
            self._send_json(error_response(exc))
            return
        super()._dispatch(method)

    # -- authorization -------------------------------------------------------------------

    def _bearer_ok(self) -> bool:
        return tokens.matches(self.server.hook_token, self.headers.get("Authorization"))

    def _refuse(self) -> None:
        self.close_connection = True  # the body was not read
        raise ApiError(401, "unauthorized", "a valid Authorization: Bearer token is required",
                       {"WWW-Authenticate": 'Bearer realm="nerv"'})

    # -- machine endpoints ---------------------------------------------------------------

    def _machine(self, method: str, path: str, query: str) -> None:
        if method != "POST":
            raise ApiError(405, "method_not_allowed", f"{method} is not allowed on {path} (use POST)",
                           {"Allow": "POST"})
        if not self._bearer_ok():
            self._refuse()
        self._check_same_origin()
        raw = self._read_raw()
        if path == "/hooks/claude":
            self._hook(raw, query)
        else:
            from nerv.serve import otlp

            body = otlp.handle(self.server, path, raw)
            self._send(200, body, "application/json", {"Cache-Control": "no-store"})

    def _read_raw(self) -> bytes:
        return self._read_body(MAX_MACHINE_BODY)

    def _hook(self, raw: bytes, query: str) -> None:
        server = self.server
        environ = hookcall.environment(server.db_path, self.headers, server.environ)
        argv = hookcall.timeout_argv(parse_qs(query).get("timeout", [None])[0])
        try:
            payload: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            payload = None
        if server.activity.record(payload):
            server.feed.poke()
        server.hook_started()
        try:
            answer = hookcall.answer(raw, environ, argv)
            server.feed.poke()  # the event may have written (a session, a queued call)
            self._send(200, hookcall.encode(answer), "application/json", {"Cache-Control": "no-store"})
        finally:
            server.hook_finished()

    # -- live updates --------------------------------------------------------------------

    def _live(self) -> dict[str, Any]:
        return {"version": self.server.feed.version, "sessions": self.server.activity.snapshot()}

    def _events(self) -> None:
        """Server-sent events: one ``change`` event now and after every change."""
        feed = self.server.feed
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            for name, value in _sse_headers().items():
                self.send_header(name, value)
            self.end_headers()
            seen = -1
            while not feed.stopped:
                version = feed.version
                if version != seen:
                    seen = version
                    data = json.dumps(self._live(), separators=(",", ":"))
                    self.wfile.write(f"event: change\ndata: {data}\n\n".encode())
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
                feed.wait(seen, SSE_KEEPALIVE_S)
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def _sse_headers() -> dict[str, str]:
    from nerv.web.server import SECURITY_HEADERS

    return dict(SECURITY_HEADERS)
