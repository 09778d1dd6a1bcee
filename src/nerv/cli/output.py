"""Printing: JSON for machines (stable keys, nothing else on stdout), tables for people."""

from __future__ import annotations

import dataclasses
import json
import os
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


def style(text: str, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if color_enabled() else text


def echo(text: str = "") -> None:
    """One line to stdout; styled text keeps its colour when colour is forced on a pipe."""
    click.echo(text, color=True if color_enabled() else None)


def truncate(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
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
    body = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not body:
        click.echo(empty)
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
    items = [(k, "-" if v is None else str(v)) for k, v in pairs]
    width = max((len(k) for k, _ in items), default=0)
    for key, value in items:
        echo(f"{style(key.ljust(width), bold=True)}  {value}")


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
