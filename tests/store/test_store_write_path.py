"""nerv.store is the only code that writes claude_sessions, approval_requests and audit_log,
and it stays cheap to import (nerv-hook imports it on every tool call)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "nerv"
GUARDED = ("claude_sessions", "approval_requests", "audit_log")
# A statement that writes a guarded table, however the SQL text is laid out.
WRITE = re.compile(
    r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+"
    r"[\"'`]?(" + "|".join(GUARDED) + r")\b",
    re.IGNORECASE,
)
# Outside the core, only schema definitions mention such statements: the triggers that keep
# session totals equal to their metrics (db/schema.py), run by the migrations.
SCHEMA = {SRC / "db" / "schema.py"}
# Nothing is pending: the importer writes through nerv.store.verbatim.
PENDING: set[Path] = set()
# Generic row code that takes the table name as a value: only the core may have it.
GENERIC = re.compile(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\{", re.IGNORECASE)


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "store" not in p.relative_to(SRC).parts[:1])


def test_the_scan_finds_what_it_looks_for() -> None:
    core = (SRC / "store" / "requests.py").read_text() + (SRC / "store" / "audit.py").read_text()
    found = {m.group(1) for m in WRITE.finditer(core)}
    assert found == {"approval_requests", "audit_log"}
    assert WRITE.search('conn.execute(\n  "update  claude_sessions set x = 1")')
    assert GENERIC.search('f"UPDATE {spec.table} SET"')


def test_no_module_outside_the_core_writes_sessions_requests_or_audit_rows() -> None:
    offenders = []
    for path in _sources():
        if path in SCHEMA or path in PENDING:
            continue
        text = path.read_text()
        offenders += [f"{path.relative_to(SRC)}: {m.group(0)!r}" for m in WRITE.finditer(text)]
        offenders += [f"{path.relative_to(SRC)}: generic {m.group(0)!r}" for m in GENERIC.finditer(text)]
    assert offenders == []


def test_the_core_imports_only_the_standard_library_and_small_nerv_modules() -> None:
    modules = sorted(f"nerv.store.{p.stem}" for p in (SRC / "store").glob("*.py") if p.stem != "__init__")
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print('\\n'.join(sorted(n for n in sys.modules if n.startswith('nerv'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    allowed = {"nerv", "nerv.env", "nerv.errors", "nerv.ids", "nerv.db", "nerv.db.version", "nerv.store",
               *modules}
    assert loaded <= allowed, loaded - allowed
