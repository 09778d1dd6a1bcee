"""Read/Edit rule specifiers: gitignore-style path patterns, anchored as Claude Code does.

==============  ======================================  ==========================
specifier       anchored at                             example
==============  ======================================  ==========================
``//path``      the filesystem root                     ``Read(//etc/passwd)``
``~/path``      the home directory                      ``Read(~/.ssh/**)``
``/path``       the project root (settings' project)    ``Edit(/src/**/*.ts)``
``path``        the current working directory           ``Read(*.env)``, ``Read(./.env)``
==============  ======================================  ==========================

As in gitignore: ``*`` and ``?`` stay inside one path segment, ``**`` spans any
depth, ``[abc]`` is a character class, ``\\`` escapes the next character, and a
relative pattern without any ``/`` (``*.env``, ``.env``) matches at any depth
below the working directory.  A pattern that matches a directory also matches
everything inside it, and ``dir/**`` matches ``dir`` itself, so a deny on a
folder cannot be side-stepped by naming the folder.  Paths are normalised
(``.``, ``..``, repeated ``/``) before matching, so ``/repo/src/../.env`` is
``/repo/.env``; symbolic links are not resolved (no filesystem access).  On
macOS and Windows, whose filesystems usually ignore case, matching ignores case.
"""

from __future__ import annotations

import posixpath
import re
import sys

_FOLD_CASE = sys.platform in ("darwin", "win32")
_FLAGS = re.S | (re.I if _FOLD_CASE else 0)


class PathPattern:
    __slots__ = ("anchor", "regex", "ups")

    def __init__(self, anchor: str, ups: int, regex: re.Pattern[str]) -> None:
        self.anchor = anchor  # "abs" | "home" | "root" | "cwd"
        self.ups = ups  # leading '../' segments: the anchor's n-th parent
        self.regex = regex  # matched against the path relative to the anchor

    def matches(self, path: str, bases: dict[str, str]) -> bool:
        base = bases[self.anchor]
        for _ in range(self.ups):
            base = posixpath.dirname(base)
        rel = relative_to(path, base)
        return rel is not None and self.regex.fullmatch(rel) is not None


def compile_path(spec: str) -> PathPattern:
    if spec.startswith("//"):
        anchor, rel = "abs", spec[2:]
    elif spec == "~" or spec.startswith("~/"):
        anchor, rel = "home", spec[2:]
    elif spec.startswith("/"):
        anchor, rel = "root", spec[1:]
    else:
        anchor, rel = "cwd", spec
    explicit = anchor != "cwd"
    while rel.startswith("./"):
        rel, explicit = rel[2:], True
    # gitignore: a separator at the start or in the middle anchors the pattern.
    floating = not explicit and "/" not in rel.rstrip("/")
    rel = posixpath.normpath(rel) if rel else ""
    rel = "" if rel == "." else rel.lstrip("/")
    ups = 0
    while rel == ".." or rel.startswith("../"):
        ups, rel = ups + 1, rel[3:]
    # A matched directory covers its contents, hence the optional '/...' tail.
    regex = ".*" if not rel else ("(?:.*/)?" if floating else "") + _glob(rel) + "(?:/.*)?"
    return PathPattern(anchor, ups, re.compile(regex, _FLAGS))


def _glob(rel: str) -> str:
    segments = rel.split("/")
    out: list[str] = []
    joined = True  # the previous piece already ends with a separator (or nothing precedes)
    for idx, seg in enumerate(segments):
        last = idx == len(segments) - 1
        if seg == "**":
            if idx == 0:
                out.append(".*" if last else "(?:.*/)?")
            else:
                out.append("(?:/.*)?" if last else "/(?:.*/)?")
            joined = True
            continue
        if not joined:
            out.append("/")
        out.append(_segment(seg))
        joined = False
    return "".join(out)


def _segment(seg: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        elif c == "[":
            cls, i = _char_class(seg, i)
            out.append(cls)
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _char_class(seg: str, i: int) -> tuple[str, int]:
    """Translate ``[...]`` at ``seg[i]``; an unclosed '[' is a literal character."""
    j = i + 1
    negate = j < len(seg) and seg[j] in "!^"
    if negate:
        j += 1
    body_start = j
    if j < len(seg) and seg[j] == "]":
        j += 1  # a leading ']' is a member, not the end
    while j < len(seg) and seg[j] != "]":
        j += 1
    if j >= len(seg):
        return re.escape("["), i + 1
    body = seg[body_start:j]
    members: list[str] = []
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            members.append(f"{re.escape(body[k])}-{re.escape(body[k + 2])}")
            k += 3
        else:
            members.append(re.escape(body[k]))
            k += 1
    return ("[^/" if negate else "[") + "".join(members) + "]", j + 1


def relative_to(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` ("" for ``base`` itself), or None if outside it."""
    if base == "/":
        return path[1:]
    p, b = (path.lower(), base.lower()) if _FOLD_CASE else (path, base)
    if p == b:
        return ""
    if p.startswith(b + "/"):
        return path[len(base) + 1:]
    return None


def resolve(path: str, cwd: str, home: str) -> str:
    """An absolute, normalised path: ``~`` expanded, relative paths joined to ``cwd``."""
    if path == "~" or path.startswith("~/"):
        path = home + path[1:]
    elif not path.startswith("/"):
        path = cwd + "/" + path
    path = posixpath.normpath(path)
    if path.startswith("//"):
        path = "/" + path.lstrip("/")  # POSIX keeps a leading '//'; the kernel does not care
    return path
