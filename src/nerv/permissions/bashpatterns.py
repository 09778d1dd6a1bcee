"""Bash rule specifiers: compile to a regex and find the index word.

Syntax (Claude Code's):

* ``npm run build`` matches exactly that command;
* ``*`` anywhere matches any characters, spaces included (``git * main``);
* a trailing `` *`` (space, star) is a word-boundary prefix: ``ls *`` matches
  ``ls -la`` and bare ``ls`` but not ``lsof``;
* the legacy suffix ``:*`` means the same: ``npm test:*`` matches ``npm test``
  and ``npm test --watch`` but not ``npm testing``;
* there is no escape for a literal ``*``.

Commands are compared after their tokens are re-joined with single spaces, so
``npm   test`` matches ``npm test``.
"""

from __future__ import annotations

import re

_TAIL = r"(?:\s.*)?"  # nothing, or whitespace and anything after it


def _split_tail(pattern: str) -> tuple[str, bool]:
    body = pattern.strip()
    if body.endswith(":*"):
        return body[:-2].rstrip(), True
    if body.endswith(" *") or body.endswith("\t*"):
        return body[:-1].rstrip(), True
    return body, False


def compile_bash(pattern: str) -> re.Pattern[str]:
    body, prefix = _split_tail(pattern)
    regex = "".join(".*" if piece == "*" else re.escape(piece) for piece in re.split(r"(\*)", body) if piece)
    return re.compile(regex + (_TAIL if prefix else ""), re.S)


def literal_head(pattern: str) -> str | None:
    """The pattern's first word if every match must start with exactly that word.

    ``npm test:*`` -> ``npm``; ``npm*`` and ``* --version`` -> None.  The
    matcher indexes rules by this word and looks up each command by its first
    word, so the two must agree: both split on whitespace.
    """
    body, _ = _split_tail(pattern)
    head = body.split(None, 1)[0] if body.split() else ""
    return head if head and "*" not in head else None


def first_word(command: str) -> str:
    words = command.split(None, 1)
    return words[0] if words else ""
