"""The bearer token of ``nerv serve``: created once, kept in ``$NERV_HOME/serve.token`` (0600).

Claude Code sends it as ``Authorization: Bearer TOKEN`` on every http hook and
OTLP request (``nerv hooks install --http`` writes it into the user's own
settings, never into a project file that could be committed).
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping

from nerv import env
from nerv.errors import NervError

TOKEN_FILENAME = "serve.token"
TOKEN_BYTES = 32


def token_path(environ: Mapping[str, str] = os.environ) -> str:
    return os.path.join(env.nerv_home_str(environ), TOKEN_FILENAME)


def read_token(environ: Mapping[str, str] = os.environ) -> str | None:
    """The stored token, or None when there is none (or it cannot be read)."""
    try:
        with open(token_path(environ), encoding="ascii") as handle:
            value = handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value or None


def load_or_create(environ: Mapping[str, str] = os.environ) -> str:
    """The token, created (0600, in a 0700 folder) if there is none yet.

    Created with O_EXCL, so two servers starting at once agree on one token.
    A token file readable by others is refused: anyone who reads it can
    answer tool calls.
    """
    path = token_path(environ)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = os.stat(path).st_mode & 0o777
        if mode & 0o077:
            raise NervError(
                f"{path} is readable by other users (mode {mode:o}); run `chmod 600 {path}` and start again"
            ) from None
        token = read_token(environ)
        if token is None:
            raise NervError(f"{path} is empty or unreadable; delete it to have a new token created") from None
        return token
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        os.write(fd, (token + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return token


def matches(expected: str, authorization: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``expected`` (compared in constant time)."""
    if not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode("utf-8", "replace"), expected.encode("ascii"))
