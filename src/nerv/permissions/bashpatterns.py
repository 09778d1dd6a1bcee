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

_TAIL = r"(?:[ \t\n].*)?"  # nothing, or a shell word break and anything after it


def _split_tail(pattern: str) -> tuple[str, bool]:
    body = pattern.strip()
    if body.endswith(":*"):
        return body[:-2].rstrip(), True
    if body.endswith(" *") or body.endswith("\t*"):
        return body[:-1].rstrip(), True
    return body, False


def bash_regex(pattern: str) -> str:
    """Regex source for a Bash specifier, to be used with fullmatch and re.S.

    Middle literals are found at their earliest position inside atomic groups:
    that is always a valid placement for a glob with only ``*`` wildcards, and
    it keeps matching linear, so a rule like ``a * b * c * d`` cannot stall the
    hook on a long command the agent wrote.
    """
    body, prefix = _split_tail(pattern)
    first, *rest = body.split("*")
    if rest:
        *middle, last = rest
        regex = re.escape(first) + "".join(f"(?>.*?{re.escape(c)})" for c in middle if c)
        regex += ".*" + re.escape(last)
    else:
        regex = re.escape(first)
    return regex + (_TAIL if prefix else "")


def compile_bash(pattern: str) -> re.Pattern[str]:
    return re.compile(bash_regex(pattern), re.S)


def literal_head(pattern: str) -> str | None:
    """The pattern's first word if every match must start with exactly that word.

    ``npm test:*`` -> ``npm``; ``npm*`` and ``* --version`` -> None.  The
    matcher indexes rules by this word and looks up each command by its first
    word, so the two must agree: both split on whitespace.
    """
    body, _ = _split_tail(pattern)
    head = body.split(None, 1)[0] if body.split() else ""
    return head if head and "*" not in head else None


def required_words(pattern: str) -> list[str]:
    """Whole words every match must contain, e.g. ``--version`` for ``* --version``.

    A literal piece counts only when spaces or the pattern's ends bound it on
    both sides, so it is also a whitespace-separated word of any matching
    command; pieces holding other whitespace are skipped because commands are
    split on all whitespace.  Lets wildcard-leading rules be indexed too.
    """
    body, _ = _split_tail(pattern)
    chunks = body.split("*")
    words: list[str] = []
    for ci, chunk in enumerate(chunks):
        pieces = chunk.split(" ")
        for pi, piece in enumerate(pieces):
            bounded = (pi > 0 or ci == 0) and (pi < len(pieces) - 1 or ci == len(chunks) - 1)
            if piece and bounded and not any(c.isspace() for c in piece):
                words.append(piece)
    return words


def first_word(command: str) -> str:
    words = command.split(None, 1)
    return words[0] if words else ""
