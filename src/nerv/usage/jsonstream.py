"""Read JSON values one at a time from NDJSON or a top-level JSON array.

Output files can be large, so neither form is ever loaded whole: NDJSON is read
line by line, and an array is decoded element by element from a sliding buffer.
Bad input is yielded as :class:`Malformed` (for the caller to count), never raised.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

_WHITESPACE = " \t\r\n"
_CHUNK = 1 << 16
_MAX_CHUNK = 1 << 24


@dataclass(frozen=True)
class Malformed:
    reason: str


def first_char(path: Path) -> str:
    """First non-whitespace character of the file ('' when empty), skipping a BOM."""
    with path.open(encoding="utf-8-sig", errors="replace") as fh:
        while chunk := fh.read(4096):
            stripped = chunk.lstrip(_WHITESPACE)
            if stripped:
                return stripped[0]
    return ""


def iter_values(path: Path) -> Iterator[object | Malformed]:
    """Every top-level value: array elements if the file starts with '[', else NDJSON lines."""
    if first_char(path) == "[":
        with path.open(encoding="utf-8-sig", errors="replace") as fh:
            yield from iter_array(fh)
    else:
        yield from iter_ndjson(path)


def iter_ndjson(path: Path) -> Iterator[object | Malformed]:
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
                yield Malformed(f"bad JSON line: {exc}")


def iter_array(fh: TextIO) -> Iterator[object | Malformed]:
    """Elements of the array that ``fh`` holds. Stops at the first undecodable element,
    since there is no reliable way to find the next element boundary after it."""
    decoder = json.JSONDecoder()
    buf, pos, eof, opened = "", 0, False, False
    while True:
        # Skip whitespace (and separators once inside), refilling the buffer as needed.
        while True:
            while pos < len(buf) and (buf[pos] in _WHITESPACE or (opened and buf[pos] == ",")):
                pos += 1
            if pos < len(buf) or eof:
                break
            more = fh.read(_CHUNK)
            eof = not more
            buf, pos = buf[pos:] + more, 0
        if pos >= len(buf):
            yield Malformed("unterminated JSON array" if opened else "empty input")
            return
        if not opened:
            if buf[pos] != "[":
                yield Malformed("not a JSON array")
                return
            opened, pos = True, pos + 1
            continue
        if buf[pos] == "]":
            return
        size = _CHUNK
        while True:
            try:
                value, end = decoder.raw_decode(buf, pos)
                # A value ending exactly at the buffer end may be cut short (a number).
                if end < len(buf) or eof:
                    break
            except (ValueError, RecursionError) as exc:
                if eof:
                    yield Malformed(f"bad JSON array element: {exc}")
                    return
            more = fh.read(size)
            size = min(size * 2, _MAX_CHUNK)  # doubling keeps re-decoding a huge element linear
            eof = not more
            buf, pos = buf[pos:] + more, 0
        yield value
        pos = end
