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
``/repo/.env``.  Deny and ask rules written relative to the working directory
(``secrets/**``, not ``./secrets/**``) match at any depth below it, as a
gitignore pattern without a leading slash would be expected to: a narrower
reading would let ``sub/secrets/key`` through.  Allow rules keep the anchored
reading (narrower is the safe side).  On macOS and Windows, whose filesystems
usually ignore case, matching ignores case.

Symbolic links: :func:`physical` walks a path the way the kernel does (each
link replaced by its target, ``..`` applied after that), so the matcher can
check both the path as written and the file it really reaches; see
``matcher.path_views``.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
import sys

_FOLD_CASE = sys.platform in ("darwin", "win32")
_FLAGS = re.S | (re.I if _FOLD_CASE else 0)


class PathPattern:
    """A parsed path specifier; the regex is built on first use."""

    __slots__ = ("_regex", "anchor", "floating", "rel", "ups")

    def __init__(self, spec: str, *, float_relative: bool = False) -> None:
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
        self.floating = not explicit and (float_relative or "/" not in rel.rstrip("/"))
        rel = posixpath.normpath(rel) if rel else ""
        rel = "" if rel == "." else rel.lstrip("/")
        ups = 0
        while rel == ".." or rel.startswith("../"):
            ups, rel = ups + 1, rel[3:]
        if ups:
            self.floating = False  # '../x' names one place, above the working directory
        self.anchor = anchor  # "abs" | "home" | "root" | "cwd"
        self.ups = ups  # leading '../' segments: the anchor's n-th parent
        self.rel = rel  # the glob, relative to the anchor
        self._regex: re.Pattern[str] | None = None

    @property
    def key(self) -> str | None:
        """The first path segment every match starts with, if it is literal (for indexing)."""
        if self.floating or self.ups or not self.rel:
            return None
        first = self.rel.split("/", 1)[0]
        if any(c in first for c in "*?[\\"):
            return None
        return first.lower() if _FOLD_CASE else first

    def matches(self, path: str, bases: dict[str, str]) -> bool:
        if self._regex is None:
            glob = self.rel
            # A matched directory covers its contents, hence the optional '/...' tail.
            source = ".*" if not glob else ("(?:.*/)?" if self.floating else "") + _glob(glob) + "(?:/.*)?"
            self._regex = re.compile(source, _FLAGS)
        base = bases[self.anchor]
        for _ in range(self.ups):
            base = posixpath.dirname(base)
        rel = relative_to(path, base)
        return rel is not None and self._regex.fullmatch(rel) is not None


def compile_path(spec: str) -> PathPattern:
    return PathPattern(spec)


def first_segment(path: str, base: str) -> str | None:
    """The first segment of ``path`` below ``base`` (index key form), or None if outside."""
    rel = relative_to(path, base)
    if not rel:
        return None
    first = rel.split("/", 1)[0]
    return first.lower() if _FOLD_CASE else first


def _glob(rel: str) -> str:
    """Regex source for a slash-separated glob (``**`` = any number of segments).

    The literal runs between ``**`` are placed at their earliest position in
    atomic groups - always a valid placement, and it keeps matching linear so a
    path the agent chose cannot make a rule like ``**/a/**/b/**/c`` backtrack
    for ever.
    """
    segments: list[str] = []
    for seg in rel.split("/"):
        if not (seg == "**" and segments and segments[-1] == "**"):
            segments.append(seg)  # '**/**' means the same as '**'
    if segments == ["**"]:
        return ".*"
    if segments[-1] == "**":
        segments.pop()  # the caller's optional '/...' tail already matches everything below
    pieces: list[list[str]] = [[]]
    for seg in segments:
        if seg == "**":
            pieces.append([])
        else:
            pieces[-1].append(seg)
    bodies = ["/".join(_segment(seg) for seg in piece) for piece in pieces]
    if len(bodies) == 1:
        return bodies[0]
    out = [bodies[0] + "/" if bodies[0] else ""]
    out += [f"(?>(?:[^/]*/)*?{body}/)" for body in bodies[1:-1]]
    out.append(f"(?:[^/]*/)*?{bodies[-1]}")
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
        if k + 2 < len(body) and body[k + 1] == "-" and body[k] <= body[k + 2]:
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


# Linux follows at most 40 links while resolving one path (ELOOP beyond), and
# refuses a path of PATH_MAX bytes or more (ENAMETOOLONG).
MAX_LINKS = 40
PATH_MAX = 4096


def physical(path: str) -> str | None:
    """The file ``path`` (absolute, not yet normalised) really reaches, or None if that is unknowable.

    Walks the path one component at a time as the kernel does: a symbolic link
    is replaced by its target (relative targets from the link's folder), and
    ``..`` climbs from where the walk really is, so ``link/../x`` goes to the
    parent of the link's *target*.  Components that do not exist are taken
    literally (a Write may create them).  None when the answer cannot be known:
    a link loop, more than :data:`MAX_LINKS` links, a component that cannot be
    examined (permission denied), a name the filesystem cannot encode, or a
    path longer than the kernel accepts.
    """
    if len(path) >= PATH_MAX:
        return None  # the kernel refuses it (ENAMETOOLONG); and it bounds the walk's work
    pending = path.split("/")
    pending.reverse()
    done = "/"
    links = 0
    missing = 0  # components walked below the first one that does not exist
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            done = posixpath.dirname(done)
            missing = max(missing - 1, 0)
            continue
        candidate = posixpath.join(done, name)
        if missing:
            done, missing = candidate, missing + 1  # nothing exists below a missing folder
            continue
        try:
            mode = os.lstat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            done, missing = candidate, 1
            continue
        except (OSError, ValueError, UnicodeError):
            return None
        if not stat.S_ISLNK(mode):
            done = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            return None
        try:
            target = os.readlink(candidate)
        except (OSError, ValueError, UnicodeError):
            return None
        if target.startswith("/"):
            done = "/"
        parts = target.split("/")
        parts.reverse()
        pending.extend(parts)
    return done
