"""The HTTP side of the dashboard: ``http.server`` plus local-only safety checks.

The dashboard has no login: it trusts whoever can reach it, so it listens on
127.0.0.1 by default and defends against the two ways a web page in the
user's own browser could reach it anyway:

* **DNS rebinding** (a hostile name resolving to 127.0.0.1): every request's
  ``Host`` must name this machine — ``localhost``, an IP address, the address
  the server is bound to, or the machine's host name — never another DNS name.
* **Cross-site requests** (a hostile page POSTing to 127.0.0.1): every POST
  must say ``Content-Type: application/json`` (a plain HTML form cannot, and a
  script on another origin cannot without a CORS preflight, which this server
  never allows), its ``Origin``, when the browser sends one, must be this
  server's own origin, and its ``Sec-Fetch-Site`` must not be cross-site. No
  response carries CORS headers, so other origins cannot read any answer.

Responses also forbid framing and carry a strict Content-Security-Policy.

Off this machine (``--host 0.0.0.0``) those checks are not enough: anyone on the
network could approve tool calls. Listening beyond loopback therefore requires an
access token (``web_token``: generated, kept 0600 in nerv's home, shown once). Every
request must carry it: ``Authorization: Bearer TOKEN``, or the cookie set when the
browser first opens ``/?token=TOKEN``. Without it the answer is 401 and nothing runs.

A client that sends its request slowly is disconnected after ``REQUEST_TIMEOUT_S``.
"""

from __future__ import annotations

import getpass
import hmac
import ipaddress
import json
import os
import secrets
import socket
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nerv import __version__, env
from nerv.errors import NervError
from nerv.web.api import Api, ApiError, Json, Response, error_body, error_response

MAX_BODY_BYTES = 64 * 1024
REQUEST_TIMEOUT_S = 15  # a client that has not sent its whole request by then is disconnected
TOKEN_FILE = "web-token"
TOKEN_COOKIE = "nerv_token"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

# URL path -> (file in nerv/web/static, content type)
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}

# http.server's own errors (bad request line, unsupported method...) -> our error codes
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    411: "length_required",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
    500: "internal",
    501: "not_implemented",
    505: "http_version_not_supported",
}


def web_actor() -> str:
    """Who the audit log names for dashboard writes: $NERV_ACTOR, else ``web:USER``."""
    explicit = os.environ.get(env.NERV_ACTOR)
    if explicit:
        return explicit
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"web:{user}"


def load_static() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("nerv.web").joinpath("static")
    return {path: (folder.joinpath(name).read_bytes(), ctype) for path, (name, ctype) in STATIC_FILES.items()}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def web_token(home: Path) -> tuple[str, bool]:
    """The access token for off-loopback listening, and whether it was just made (show it once).

    Kept in ``home/web-token``, created 0600 before anything is written to it.
    """
    path = home / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        token = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise NervError(f"cannot read the dashboard token {path}: {exc}") from None
    if len(token) >= 32:
        path.chmod(0o600)
        return token, False
    token = secrets.token_urlsafe(32)
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        temp = path.with_name(f".{TOKEN_FILE}.tmp-{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(token + "\n")
        os.replace(temp, path)
    except OSError as exc:
        raise NervError(f"cannot store the dashboard token in {path}: {exc.strerror or exc}") from None
    return token, True


class DashboardServer(ThreadingHTTPServer):
    """A threading HTTP server holding the API (and so the one service connection)."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], api: Api, *, verbose: bool = False, token: str | None = None
    ) -> None:
        self.api = api
        self.verbose = verbose
        self.token = token
        self.static = load_static()
        super().__init__(address, DashboardHandler)
        self.bound_host = address[0]
        self.trusted_names = {"localhost", address[0].lower(), socket.gethostname().lower()}

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up in DNS (socket.getfqdn): not needed here.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.bound_host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1" if host != "::" else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def authorized(self, header: str | None, cookies: str | None, query_token: str | None) -> bool:
        """Whether a request carries the access token (always true without one: loopback only)."""
        if self.token is None:
            return True
        offered: list[str] = []
        if header and header.lower().startswith("bearer "):
            offered.append(header[7:].strip())
        for part in (cookies or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE:
                offered.append(value)
        if query_token is not None:
            offered.append(query_token)
        expected = self.token.encode()
        return any(hmac.compare_digest(o.encode(), expected) for o in offered)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a ``Host`` header names this machine (see the module docstring)."""
        if header is None:  # HTTP/1.0 clients may omit it; browsers never do
            return True
        name = urlsplit(f"//{header}").hostname
        if name is None:
            return False
        name = name.lower()
        if name in self.trusted_names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True

    def server_close(self) -> None:
        super().server_close()
        with self.api.lock:
            self.api.service.close()


class _DashboardServerV6(DashboardServer):
    address_family = socket.AF_INET6


def make_server(
    db_path: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    project: str | None = None,
    actor: str | None = None,
    verbose: bool = False,
    token: str | None = None,
) -> DashboardServer:
    """Open the database and bind the server (port 0: any free port); call ``serve_forever``.

    Off loopback a ``token`` is required (see ``web_token``).
    """
    if token is None and not is_loopback(host):
        raise NervError(f"listening on {host} (beyond this machine) needs an access token")
    from nerv.service import DatabaseService
    from nerv.service.tables import PROJECTS

    service = DatabaseService(db_path, actor=actor or web_actor())
    try:
        default_project = service.resolve_id(PROJECTS, project) if project else None
        api = Api(service, default_project=default_project)
        cls = _DashboardServerV6 if ":" in host else DashboardServer
        try:
            return cls((host, port), api, verbose=verbose, token=token)
        except OSError as exc:
            raise NervError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except BaseException:
        service.close()
        raise


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = f"nerv-dashboard/{__version__}"
    sys_version = ""
    # Socket timeout for every read: a slow (or stalled) client cannot hold a thread forever.
    timeout = REQUEST_TIMEOUT_S

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:  # as GET, without the body (see _send)
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_OPTIONS(self) -> None:  # CORS preflights end here: no Access-Control-* headers, ever
        self._dispatch("OPTIONS")

    def _dispatch(self, method: str) -> None:
        try:
            url = urlsplit(self.path)
            path = url.path
            if not self.server.host_allowed(self.headers.get("Host")):
                raise ApiError(
                    403, "forbidden_host", "the Host header does not name this machine (DNS rebinding?)"
                )
            query = parse_qs(url.query, keep_blank_values=True)
            if not self._authorize(method, path, query):
                return
            if method == "GET" and not path.startswith("/api/"):
                self._static(path)
                return
            body: Json | None = None
            if method == "POST":
                self._check_same_origin()
                body = self._read_json()
            response = self.server.api.handle(method, path, query, body)
        except (OverflowError, RecursionError):
            # A number SQLite cannot hold, a value nested past Python's limit: the client's fault.
            problem = ApiError(400, "bad_request", "a value is out of range or nested too deeply")
            response = error_response(problem)
        except TimeoutError:
            self.close_connection = True
            response = error_response(ApiError(408, "timeout", "the request was not sent in time"))
        except Exception as exc:
            response = error_response(exc)
        self._send_json(response)

    def _authorize(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        """Off loopback: the token, or 401. ``/?token=T`` in a browser sets the cookie."""
        server = self.server
        if server.token is None:
            return True
        given = query.get("token", [None])[-1]
        if method == "GET" and path in ("/", "/index.html") and given is not None:
            if server.authorized(None, None, given):
                cookie = f"{TOKEN_COOKIE}={given}; Path=/; HttpOnly; SameSite=Strict"
                self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
                return False
        elif server.authorized(self.headers.get("Authorization"), self.headers.get("Cookie"), None):
            return True
        self.close_connection = True
        self._send_json(
            Response(
                401,
                error_body("unauthorized", "this dashboard needs its access token (see `nerv web --help`)"),
                {"WWW-Authenticate": "Bearer"},
            )
        )
        return False

    # -- checks -------------------------------------------------------------------------

    def _check_same_origin(self) -> None:
        """POSTs come from this dashboard's own page, as JSON (see the module docstring)."""
        origin = self.headers.get("Origin")
        host = self.headers.get("Host")
        if origin is not None and (host is None or origin.lower() != f"http://{host}".lower()):
            raise ApiError(403, "cross_origin", f"cross-origin request refused (Origin: {origin})")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site.lower() not in ("same-origin", "none"):
            raise ApiError(403, "cross_origin", f"cross-site request refused (Sec-Fetch-Site: {site})")
        media = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise ApiError(
                415, "unsupported_media_type", "POST bodies must be sent as Content-Type: application/json"
            )

    def _read_body(self, limit: int) -> bytes:
        """The request body, exactly Content-Length bytes (no chunking), at most ``limit``."""
        if self.headers.get("Transfer-Encoding"):
            raise ApiError(411, "length_required", "send the body with a Content-Length, not chunked")
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            raise ApiError(411, "length_required", "a POST needs a Content-Length header")
        try:
            length = int(raw_length)
        except ValueError:
            raise ApiError(400, "bad_request", f"invalid Content-Length: {raw_length!r}") from None
        if length < 0:
            raise ApiError(400, "bad_request", f"invalid Content-Length: {raw_length!r}")
        if length > limit:
            self.close_connection = True
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
        raw = self.rfile.read(length) if length else b""
        if len(raw) < length:
            self.close_connection = True
            raise ApiError(400, "bad_request", "the body is shorter than its Content-Length")
        return raw

    def _read_json(self) -> Json:
        raw = self._read_body(MAX_BODY_BYTES)
        if not raw.strip():
            return {}
        try:
            data: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "bad_json", f"the body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ApiError(400, "bad_json", "the body is nested too deeply") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_json", "the body must be a JSON object")
        return data

    # -- responses ---------------------------------------------------------------------

    def _static(self, path: str) -> None:
        entry = self.server.static.get(path)
        if entry is None:
            self._send_json(Response(404, error_body("not_found", f"no such page: {path}")))
            return
        content, ctype = entry
        self._send(200, content, ctype, {"Cache-Control": "no-cache"})

    def _send_json(self, response: Response) -> None:
        content = json.dumps(response.body, ensure_ascii=False, default=str).encode("utf-8")
        headers = {"Cache-Control": "no-store", **response.headers}
        self._send(response.status, content, "application/json; charset=utf-8", headers)

    def _send(self, status: int, content: bytes, ctype: str, headers: dict[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(content)))
            for name, value in {**SECURITY_HEADERS, **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(content)
        except (BrokenPipeError, ConnectionResetError):  # the browser went away: nothing to tell it
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (malformed request, unknown method...) in the same JSON shape."""
        self.log_error("code %d, message %s", code, message)
        self.close_connection = True
        text = message or self.responses.get(code, ("error",))[0]
        self._send_json(Response(code, error_body(_HTTP_CODES.get(code, "error"), text)))

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"nerv web: {self.address_string()} {format % args}\n")
