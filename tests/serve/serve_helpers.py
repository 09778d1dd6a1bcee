"""Helpers for the nerv serve tests: HTTP calls with a new connection each, the hook as a process."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fixture_paths import SAMPLES

HOOK_SCRIPT = Path(sys.executable).with_name("nerv-hook")


def samples(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads((SAMPLES / name).read_text())
    assert data, f"no payloads in {name}"
    return data


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else None


def post(
    url: str, path: str, body: bytes | dict[str, Any] | str, *, token: str | None = None,
    headers: dict[str, str] | None = None, timeout: float = 30,
) -> Reply:
    """One POST on a new connection (as Claude Code makes each hook call)."""
    parts = urlsplit(url)
    raw = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
    sent = {"Content-Type": "application/json", "Content-Length": str(len(raw))}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body=raw, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


def get(url: str, path: str, headers: dict[str, str] | None = None) -> Reply:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.read(), {k.lower(): v for k, v in response.getheaders()})
    finally:
        conn.close()


def hook_command() -> list[str]:
    return [str(HOOK_SCRIPT)] if HOOK_SCRIPT.exists() else [sys.executable, "-m", "nerv.hook"]


def run_hook(payload: bytes | dict[str, Any], *args: str, env: dict[str, str] | None = None) -> bytes:
    """The real nerv-hook process; its stdout without the trailing newline."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    child = dict(os.environ)
    child.update(env or {})
    proc = subprocess.run(
        [*hook_command(), *args], input=raw, capture_output=True, env=child, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.rstrip(b"\n")
