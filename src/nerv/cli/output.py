"""Printing: JSON for machines (stable keys, nothing else on stdout), tables for people."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import click

from nerv import env
from nerv.ids import short_id


def to_data(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_data(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_data(v) for k, v in value.items()}
    return value


def emit_json(value: Any) -> None:
    click.echo(json.dumps(to_data(value), indent=2, sort_keys=True, ensure_ascii=False))


# The common "force colour even without a terminal" conventions; NO_COLOR still wins.
FORCE_COLOR_VARS = ("FORCE_COLOR", "CLICOLOR_FORCE")


def color_enabled() -> bool:
    if os.environ.get(env.NO_COLOR):
        return False
    if any(os.environ.get(name, "0") not in ("", "0") for name in FORCE_COLOR_VARS):
        return True
    return sys.stdout.isatty()


# Characters a terminal acts on instead of showing: C0 and C1 controls (ESC starts cursor moves,
# erases and OSC titles; CR rewinds the line; 0x9b is a one-byte CSI), DEL, and the Unicode
# bidirectional and line controls that reorder or break what is shown.
_OTHER_CONTROLS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_CONTROL_CHAR = re.compile(f"[\x00-\x1f{_OTHER_CONTROLS}]")
_CONTROL_KEEP_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHER_CONTROLS}]")
# style() marks its colour codes with a token made when this process starts: text from the
# database cannot know it, so only nerv's own styling reaches the terminal as escape codes.
_MARK = f"\ue000{os.urandom(8).hex()}["
_MARKED_SGR = re.compile(re.escape(_MARK) + r"([0-9;]*m)")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _shown(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control character spelled out (``\\e``, ``\\r``, ``\\x9b``, ``\\u202e``).

    The one escaping helper of every human-readable printer: text an agent wrote (a queued
    command, a task title) can then neither move the cursor, erase or retitle the terminal,
    nor hide what precedes it. ``keep_lines`` leaves newlines and tabs of multi-line text.
    JSON output never goes through it: it stays exact.
    """
    pattern = _CONTROL_KEEP_LINES if keep_lines else _CONTROL_CHAR
    return pattern.sub(_shown, text)


def style(text: str, **kwargs: Any) -> str:
    """``text`` (control characters shown) in colour when colour is on; print it with echo / table."""
    if not color_enabled():
        return visible(text)
    return click.style(visible(text), **kwargs).replace("\x1b[", _MARK)


def _safe(text: str, *, keep_lines: bool = True) -> str:
    """Control characters escaped; the colour codes style() marked become real ones."""
    shown = visible(text, keep_lines=keep_lines)
    return _MARKED_SGR.sub(_real_sgr, shown) if _MARK in shown else shown


def _real_sgr(match: re.Match[str]) -> str:
    return "\x1b[" + match.group(1)


def echo(text: str = "", *, err: bool = False) -> None:
    """One line to stdout (stderr), control characters escaped; styled text keeps its colour."""
    click.echo(_safe(text), err=err, color=True if color_enabled() else None)


def truncate(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters (an ellipsis marks a cut)."""
    flat = " ".join(visible(text).split())
    if width <= 0:
        return ""
    if len(flat) <= width:
        return flat
    return flat[: width - 1] + "…"


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def fmt_cost(usd: float | None) -> str:
    return "-" if usd is None else f"${usd:,.2f}"


def sid(ident: str | None) -> str:
    return "-" if ident is None else short_id(ident)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)") -> None:
    """A plain aligned table; the header is bold where colour is allowed."""
    body = [["" if cell is None else _safe(str(cell), keep_lines=False) for cell in row] for row in rows]
    if not body:
        echo(empty)
        return
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()
    echo(style(line, bold=True))
    for row in body:
        echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Key: value lines for a single object."""
    items = [(k, "-" if v is None else visible(str(v))) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        echo(f"{style(key.ljust(width), bold=True)}  {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
