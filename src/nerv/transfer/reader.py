"""Reading ``nerv-export`` files incrementally, with the location of every problem.

ndjson is read line by line. The json layout that ``nerv export`` writes has
one record per line inside the arrays, so it is read line by line too, with
the JSON punctuation between lines checked (a file in this layout is accepted
exactly when it is valid JSON). A json export in any other layout (say,
pretty-printed by ``jq``) is parsed as a whole when it is small enough, and
refused with an explanation when it is not. Each pass re-opens the file, so a
caller can validate first and apply second without holding records in memory.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from nerv.transfer import FORMAT_NAME, SUPPORTED_VERSIONS
from nerv.transfer.errors import ExportFileError

# A json export not in the streaming layout is loaded whole up to this size.
WHOLE_DOCUMENT_LIMIT = 64 * 1024 * 1024
HEADER_LIMIT = 1 << 20  # a header line is far shorter

_TABLE_OPEN = re.compile(rb'^("(?:[^"\\]|\\.)*")\s*:\s*\[\s*(\]\s*(,)?)?$')
_TABLE_CLOSE = re.compile(rb"^\]\s*(,)?$")
_DOC_END = re.compile(rb"^\}\s*\}$")
_HEADER_TAIL = re.compile(rb',\s*"tables"\s*:\s*\{$')


class Record(NamedTuple):
    table: str
    row: dict[str, Any]
    line: int  # 1-based line in the file (0 when not known)
    position: int  # 0-based position within its table in the file
    raw: bytes | None = None  # the line the record was read from, when it has one line

    @property
    def where(self) -> str:
        at = f"line {self.line}, " if self.line else ""
        return f"{at}{self.table} record #{self.position + 1}"


@dataclass(frozen=True)
class Header:
    format: str
    version: int
    schema_version: int
    exported_at: int
    project: str | None
    raw: dict[str, Any]


_decoder = json.JSONDecoder()
PROGRESS_BYTES = 1 << 20


def loads(text: bytes) -> Any:
    """One JSON value from a stripped line (json.loads without its per-call overhead)."""
    s = text.decode("utf-8")
    try:
        value, end = _decoder.raw_decode(s)
    except RecursionError:
        raise ValueError("values nested too deeply (no nerv record is nested)") from None
    if end != len(s):
        raise json.JSONDecodeError("Extra data", s, end)
    return value


def decode_value(value: Any) -> Any:
    """Undo the wrapping of values JSON cannot hold (see export.py)."""
    if isinstance(value, dict) and len(value) == 1:
        if "$base64" in value and isinstance(value["$base64"], str):
            return base64.b64decode(value["$base64"], validate=True)
        if "$float" in value and value["$float"] in ("inf", "-inf", "nan"):
            return float(value["$float"])
    raise ValueError("not a value")


def upgrade_record(version: int, table: str, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Bring a record from an older export version to the current one.

    Version 1 is the first and current version; later versions add steps here.
    Records of an older *schema* need no step: a missing table is empty and a
    missing column takes its default (see importer).
    """
    return table, row


def _fail(path: Path, where: str, message: str) -> ExportFileError:
    return ExportFileError(f"{path.name}: {where}: {message}" if where else f"{path.name}: {message}")


def check_header(path: Path, data: Any, where: str, latest_schema: int) -> Header:
    if not isinstance(data, dict):
        raise _fail(path, where, "not a nerv export (the header is not a JSON object)")
    if data.get("format") != FORMAT_NAME:
        found = data.get("format")
        shown = "no format field" if found is None else f"format {found!r}"
        raise _fail(path, where, f"not a nerv export ({shown}; expected {FORMAT_NAME!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(path, where, "export version missing or not a number")
    if version not in SUPPORTED_VERSIONS:
        known = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        newer = " (written by a newer nerv: upgrade nerv)" if version > max(SUPPORTED_VERSIONS) else ""
        raise _fail(
            path, where, f"export version {version} is not supported (this nerv reads {known}){newer}"
        )
    schema = data.get("schema_version")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _fail(path, where, "schema_version missing or not a positive number")
    if schema > latest_schema:
        raise _fail(
            path,
            where,
            f"written by a nerv with schema version {schema}, newer than this one ({latest_schema}): "
            "upgrade nerv",
        )
    exported_at = data.get("exported_at")
    if not isinstance(exported_at, int) or isinstance(exported_at, bool):
        raise _fail(path, where, "exported_at missing or not a number")
    project = data.get("project")
    if project is not None and not isinstance(project, str):
        raise _fail(path, where, "project must be a string or null")
    return Header(FORMAT_NAME, version, schema, exported_at, project, data)


class ExportFile:
    """An export file on disk: ``header`` and ``layout`` known on open, ``records()`` per pass."""

    def __init__(self, path: Path, latest_schema: int) -> None:
        self.path = path
        self.latest_schema = latest_schema
        try:
            self.size = path.stat().st_size
            with path.open("rb") as f:
                first, number = _first_line(f)
        except OSError as exc:
            raise ExportFileError(f"cannot read {path}: {exc.strerror or exc}") from None
        if first is None:
            raise _fail(path, "", "empty file, not a nerv export")
        self.header_line = number
        self.layout, self.header = self._detect(first, number)

    def _detect(self, first: bytes, number: int) -> tuple[str, Header]:
        where = f"line {number}"
        text = first.strip()
        if not text.startswith(b"{"):
            raise _fail(self.path, where, "not a nerv export (does not start with a JSON object)")
        if len(first) > HEADER_LIMIT:
            return self._whole_document()
        tail = _HEADER_TAIL.search(text)
        if tail is not None:
            try:
                data = json.loads(text[: tail.start()] + b"}")
            except (ValueError, RecursionError):
                data = None
            if isinstance(data, dict) and "tables" not in data:
                return "json", check_header(self.path, data, where, self.latest_schema)
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and "tables" not in data:
            return "ndjson", check_header(self.path, data, where, self.latest_schema)
        if isinstance(data, dict):  # a whole (small) json document on one line
            return "document", check_header(self.path, data, where, self.latest_schema)
        return self._whole_document()

    def _whole_document(self) -> tuple[str, Header]:
        if self.size > WHOLE_DOCUMENT_LIMIT:
            raise _fail(
                self.path,
                "",
                "a json export must keep nerv's layout (one record per line) to be read in a streaming "
                f"way; this one is not, and is too large ({self.size >> 20} MiB) to load at once — "
                "re-export it, or use --format ndjson",
            )
        return "document", check_header(self.path, self._load_document(), "header", self.latest_schema)

    def _load_document(self) -> dict[str, Any]:
        try:
            with self.path.open("rb") as f:
                data = json.load(f)
        except ValueError as exc:
            raise _fail(self.path, "", f"not valid JSON: {exc}") from None
        except RecursionError:
            raise _fail(self.path, "", "values nested too deeply (no nerv record is nested)") from None
        if not isinstance(data, dict):
            raise _fail(self.path, "", "not a nerv export (the document is not a JSON object)")
        return data

    def records(self, on_bytes: Callable[[int], None] | None = None) -> Iterator[Record]:
        """Every record of the file, checked for shape; raises ExportFileError at the first problem."""
        version = self.header.version
        source: Iterator[Record]
        if self.layout == "ndjson":
            source = self._ndjson(on_bytes)
        elif self.layout == "json":
            source = self._json_lines(on_bytes)
        else:
            source = self._document()
        for record in source:
            if version != SUPPORTED_VERSIONS[-1]:
                table, row = upgrade_record(version, record.table, record.row)
                record = Record(table, row, record.line, record.position, record.raw)
            yield record

    # -- ndjson --------------------------------------------------------------------------

    def _ndjson(self, on_bytes: Callable[[int], None] | None) -> Iterator[Record]:
        counts: dict[str, int] = {}
        end: Any = None
        end_line = 0
        pending = 0
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                if on_bytes is not None:
                    pending += len(raw)
                    if pending >= PROGRESS_BYTES:
                        on_bytes(pending)
                        pending = 0
                text = raw.strip()
                if number <= self.header_line or not text:
                    continue
                if end is not None:
                    raise _fail(self.path, f"line {number}", f"content after the end line (line {end_line})")
                try:
                    item = loads(text)
                except ValueError as exc:
                    raise _fail(self.path, f"line {number}", _malformed(raw, exc)) from None
                if type(item) is not dict:
                    raise _fail(self.path, f"line {number}", "expected a JSON object")
                if len(item) == 2 and "row" in item and "table" in item:
                    table, row = item["table"], item["row"]
                    if type(table) is not str or type(row) is not dict:
                        raise _fail(self.path, f"line {number}", "table must be a name and row an object")
                    index = counts.get(table, 0)
                    counts[table] = index + 1
                    yield Record(table, row, number, index, text)
                elif "end" in item and len(item) == 1:
                    end, end_line = item["end"], number
                else:
                    raise _fail(
                        self.path, f"line {number}", 'expected {"table": ..., "row": {...}} or the end line'
                    )
        if on_bytes is not None:
            on_bytes(pending)
        if end is None:
            raise _fail(self.path, "", "truncated: the end line is missing")
        declared = end.get("rows") if isinstance(end, dict) else None
        if not isinstance(declared, dict):
            raise _fail(self.path, f"line {end_line}", 'the end line must be {"end": {"rows": {...}}}')
        for table in sorted(set(declared) | set(counts)):
            if declared.get(table, 0) != counts.get(table, 0):
                raise _fail(
                    self.path,
                    "",
                    f"truncated or edited: {counts.get(table, 0)} {table} records, "
                    f"the end line says {declared.get(table, 0)}",
                )

    # -- json, nerv's streaming layout -----------------------------------------------------

    def _json_lines(self, on_bytes: Callable[[int], None] | None) -> Iterator[Record]:
        state = "tables"  # tables | rows | end
        table = ""
        index = 0
        after_comma = False  # the previous item (table or row) ended with a comma
        seen_item = False  # the current array / tables object has an item already
        last = 0
        pending = 0
        with self.path.open("rb") as f:
            for number, raw in enumerate(f, start=1):
                last = number
                if on_bytes is not None:
                    pending += len(raw)
                    if pending >= PROGRESS_BYTES:
                        on_bytes(pending)
                        pending = 0
                if number <= self.header_line:
                    continue
                text = raw.strip()
                if state == "rows" and text[:1] == b"{":  # the common case: one record
                    if seen_item and not after_comma:
                        raise _fail(
                            self.path,
                            f"line {number}",
                            f"missing ',' between {table} records (or a missing ']')",
                        )
                    after_comma = text[-1:] == b","
                    body = text[:-1] if after_comma else text
                    try:
                        row = loads(body)
                    except ValueError as exc:
                        where = f"line {number}, {table} record #{index + 1}"
                        raise _fail(self.path, where, _malformed(raw, exc)) from None
                    if type(row) is not dict:
                        where = f"line {number}, {table} record #{index + 1}"
                        raise _fail(self.path, where, "a record must be an object")
                    yield Record(table, row, number, index, body)
                    index += 1
                    seen_item = True
                    continue
                if not text:
                    continue
                where = f"line {number}"
                if state == "rows":
                    close = _TABLE_CLOSE.match(text)
                    if close is not None:
                        if after_comma:
                            raise _fail(self.path, where, f"a ',' after the last {table} record is not JSON")
                        state, after_comma, seen_item = "tables", close.group(1) is not None, True
                        continue
                    # not a record, not the end of the table
                    raise _fail(
                        self.path, f"{where}, {table} record #{index + 1}", "a record must be an object"
                    )
                elif state == "tables":
                    opened = _TABLE_OPEN.match(text)
                    if opened is not None:
                        if seen_item and not after_comma:
                            raise _fail(self.path, where, "missing ',' between tables")
                        table = json.loads(opened.group(1))
                        index = 0
                        if opened.group(2) is not None:  # "name":[] on one line
                            after_comma, seen_item = opened.group(3) is not None, True
                        else:
                            state, after_comma, seen_item = "rows", False, False
                        continue
                    if _DOC_END.match(text):
                        if after_comma:
                            raise _fail(self.path, where, "a ',' after the last table is not JSON")
                        state = "end"
                        continue
                    raise _fail(
                        self.path, where, 'expected a table ("name":[) or the end of the document (}})'
                    )
                else:
                    raise _fail(self.path, where, "content after the end of the document")
        if on_bytes is not None:
            on_bytes(pending)
        if state != "end":
            inside = f" inside {table}" if state == "rows" else ""
            raise _fail(
                self.path, "", f"truncated: the document ends{inside} after line {last} without closing"
            )

    # -- json, any other layout (small files) ------------------------------------------------

    def _document(self) -> Iterator[Record]:
        data = self._load_document()
        tables = data.get("tables")
        if not isinstance(tables, dict):
            raise _fail(self.path, "", '"tables" missing or not an object')
        for table, rows in tables.items():
            if not isinstance(rows, list):
                raise _fail(self.path, f"tables.{table}", "must be a list of records")
            for index, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise _fail(self.path, f"{table} record #{index + 1}", "a record must be an object")
                yield Record(table, row, 0, index)


def _malformed(raw: bytes, exc: ValueError) -> str:
    if not raw.endswith(b"\n"):
        return f"truncated: the file ends in the middle of a record ({exc})"
    return f"malformed JSON: {exc}"


def _first_line(f: BinaryIO) -> tuple[bytes | None, int]:
    """The first non-blank line (the header of the streaming layouts) and its number.

    At most HEADER_LIMIT + 1 bytes of it: a longer line is no header, and reading a
    single-line multi-gigabyte document just to find that out would defeat streaming.
    """
    number = 0
    while raw := f.readline(HEADER_LIMIT + 1):
        number += 1
        if raw.strip():
            return raw, number
    return None, 0
