"""Assertion helpers shared by the CLI tests."""

from __future__ import annotations

from typing import Any

ANSI = "\x1b["


def ok(result: Any) -> Any:
    """Assert success with a clean stderr; return the result for chaining."""
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    assert result.stderr == "", result.stderr
    return result


def assert_error(result: Any, code: int, *fragments: str) -> str:
    """A failure: the given exit code, nothing on stdout, one `nerv: error:` line on stderr."""
    assert result.returncode == code, f"exit {result.returncode} != {code}: {result.stderr}"
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines: list[str] = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nerv: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def ambiguous_pair(ids: list[str]) -> str | None:
    """A one-character prefix shared by two of ``ids``, if any."""
    seen: set[str] = set()
    for ident in ids:
        if ident[0] in seen:
            return ident[0]
        seen.add(ident[0])
    return None


def unique_prefix(ident: str, others: list[str]) -> str:
    """The shortest prefix of ``ident`` that no other id shares."""
    for n in range(1, len(ident) + 1):
        if not any(o != ident and o.startswith(ident[:n]) for o in others):
            return ident[:n]
    return ident
