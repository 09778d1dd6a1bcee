"""Which path rules a Bash file operand might meet when its text is not the file it names.

A word such as ``~/.ss?/id_rsa``, ``~/.{ssh,x}/id_rsa`` or ``$x/id_rsa`` names a
file only bash knows.  Trying rules on its text alone misses the file (finding:
``cat ~/.ss?/id_rsa`` was allowed past ``Read(~/.ssh/**)``), so this module
over-approximates what the word can reach:

* braces are expanded (``{a,b}`` lists; a range or too many alternatives makes
  the word unbounded);
* a word whose remaining text holds a variable or a substitution (``$``, a
  backquote), or a segment that is or may be ``..``, is *unbounded*: it may
  name any file.  It still has a *static prefix* (the directory written before
  the first expansion), which says which rules it surely concerns;
* otherwise the word is a chain of segments, literal or glob (``* ? [...]``),
  and a rule is met when some path both match: bash globs never match a
  leading ``.`` unless it is written, so ``ls *.py`` cannot name ``.env``.

:func:`reach` answers ``"inside"`` (the word may name a file the rule covers),
``"near"`` (it may name a directory above one, or anything at all), or None.
"""

from __future__ import annotations

import posixpath
import re
from functools import cache, lru_cache

_DYNAMIC = re.compile(r"[$`*?\[{]")
_UNBOUNDED = re.compile(r"[$`{}]")
_MAX_ALTERNATIVES = 32
_STAR = "*"
# A character matcher: a set of characters, or None for any character.
_Chars = frozenset[str] | None
_Token = str | _Chars  # '*' or a character matcher; wrapped in a tuple below
_RANGE = re.compile(r"\{[^{}]*\.\.[^{}]*\}")


class OpaquePath:
    """One brace alternative of a word: its static directory and the segments after it."""

    __slots__ = ("segments", "start", "unbounded")

    def __init__(self, start: str | None, segments: tuple[str, ...], unbounded: bool) -> None:
        self.start = start  # absolute directory every reading starts in; None when unknown
        self.segments = segments  # glob segments below ``start`` (empty when unbounded)
        self.unbounded = unbounded

    def __repr__(self) -> str:
        return f"OpaquePath({self.start!r}, {self.segments!r}{', unbounded' if self.unbounded else ''})"


def expand_braces(text: str) -> list[str] | None:
    """The words bash's brace expansion makes of ``text``; None when there are too many or a range."""
    if _RANGE.search(text):
        return None
    out: list[str] = []
    todo = [text]
    while todo:
        word = todo.pop()
        group = _first_group(word)
        if group is None:
            out.append(word)
        else:
            start, end, options = group
            todo += [word[:start] + option + word[end + 1:] for option in options]
        if len(out) + len(todo) > _MAX_ALTERNATIVES:
            return None
    return out


def _first_group(word: str) -> tuple[int, int, list[str]] | None:
    """The first ``{a,b}`` with a top-level comma: (start, end, options), innermost groups kept whole."""
    for start, char in enumerate(word):
        if char != "{":
            continue
        depth, last = 0, start + 1
        options: list[str] = []
        for pos in range(start + 1, len(word)):
            if word[pos] == "{":
                depth += 1
            elif word[pos] == "}" and depth:
                depth -= 1
            elif word[pos] == "}":
                if options:
                    return start, pos, [*options, word[last:pos]]
                break
            elif word[pos] == "," and not depth:
                options.append(word[last:pos])
                last = pos + 1
    return None


def opaque_paths(text: str, cwds: list[str], home: str) -> list[OpaquePath]:
    """What a non-literal word (quotes removed, ``$HOME`` written as ``~``) may name, per reading."""
    words = expand_braces(text)
    if words is None:
        return [OpaquePath(None, (), True)]
    out: list[OpaquePath] = []
    for word in words:
        found = _DYNAMIC.search(word)
        cut = found.start() if found else len(word)
        head = word[:cut]
        slash = head.rfind("/")
        static, rest = (word[:slash + 1], word[slash + 1:]) if slash >= 0 else ("", word)
        segments = tuple(s for s in rest.split("/") if s and s != ".")
        unbounded = bool(_UNBOUNDED.search(rest)) or any(_may_be_dotdot(s) for s in segments)
        if word.startswith("~") and not (word == "~" or word.startswith("~/")):
            starts: list[str | None] = [None]  # '~user/...' or '~$x': a home nobody can know here
        elif word.startswith(("$", "`")) or (word.startswith("{") and static == ""):
            starts = [None]
        elif static.startswith("~"):
            starts = [posixpath.normpath(home + static[1:])]
        elif static.startswith("/"):
            starts = [posixpath.normpath(static)]
        elif cwds:
            starts = [posixpath.normpath(posixpath.join(cwd, static)) for cwd in cwds]
        else:
            starts = [None]  # relative, and where a 'cd' went cannot be known
        for start in starts:
            out.append(OpaquePath(start, () if unbounded else segments, unbounded or start is None))
    return out


def _may_be_dotdot(segment: str) -> bool:
    """Whether a segment is ``..`` or a glob that matches it (``.*``, ``.?``, ``[.].``)."""
    if segment == "..":
        return True
    return bool(_DYNAMIC.search(segment)) and _segment_meets(segment, "..")


def rule_segments(base: str, rel: str, floating: bool) -> tuple[tuple[str, ...], int]:
    """A path rule as segments from '/' (``**`` for any depth, one at the end for what lies below),
    and how many of them form its literal start."""
    segments = [s for s in base.split("/") if s]
    fixed = len(segments)
    if floating:
        segments.append("**")
    for seg in (s for s in rel.split("/") if s):
        if not floating and seg != "**" and not re.search(r"[*?\[\\]", seg) and fixed == len(segments):
            fixed += 1
        segments.append(seg)
    segments.append("**")
    return tuple(segments), fixed


def reach(path: OpaquePath, rule: tuple[str, ...], fixed: int) -> str | None:
    """``"inside"`` when the word may name a file the rule covers, ``"near"`` when it may name a
    directory above one (or, unbounded, anything), None when it cannot meet the rule."""
    if path.start is None:
        return "near"
    start = tuple(s for s in path.start.split("/") if s)
    if path.unbounded:
        # Inside the rule's literal start: surely its files; elsewhere '..' or a variable may lead there.
        below = start[:fixed] == rule[:fixed] and all(seg == "**" for seg in rule[fixed:])
        return "inside" if below else "near"
    return _walk(start + path.segments, rule, fixed)


def _walk(word: tuple[str, ...], rule: tuple[str, ...], fixed: int) -> str | None:
    @cache
    def step(i: int, j: int) -> str | None:
        if i == len(word):
            if all(seg == "**" for seg in rule[j:]):
                return "inside"
            return "near" if j < fixed else None  # a directory on the rule's literal start ('~/.ss?')
        if j == len(rule):
            return None
        if rule[j] == "**":
            return _best(step(i, j + 1), step(i + 1, j))
        if _segment_meets(word[i], rule[j]):
            return step(i + 1, j + 1)
        return None

    return step(0, 0)


def _best(a: str | None, b: str | None) -> str | None:
    return "inside" if "inside" in (a, b) else a or b


@lru_cache(maxsize=4096)
def _segment_meets(word: str, rule: str) -> bool:
    """Whether one name matches both a bash glob segment and a rule's glob segment."""
    if not _DYNAMIC.search(word) and not re.search(r"[*?\[\\]", rule):
        return word == rule
    ref = _tokens(word, ref=True)
    # Bash: a wildcard never matches a leading '.' unless the pattern writes it.
    no_leading_dot = not (ref and ref[0] == frozenset("."))
    return _meets(ref, _tokens(rule, ref=False), no_leading_dot)


def _meets(a: tuple[_Token, ...], b: tuple[_Token, ...], no_leading_dot: bool) -> bool:
    @cache
    def step(i: int, j: int, first: bool) -> bool:
        if i == len(a) and j == len(b):
            return True
        star_a = i < len(a) and a[i] == _STAR
        star_b = j < len(b) and b[j] == _STAR
        if star_a and step(i + 1, j, first):
            return True
        if star_b and step(i, j + 1, first):
            return True
        if i == len(a) or j == len(b):
            return False
        if star_a and star_b:
            # Both eat a first (non-dot) character; later ones add nothing new (and would loop).
            return first and step(i, j, False)
        # Consume one character that both sides accept.
        if not _common(_chars(a[i]), _chars(b[j]), no_leading_dot and first):
            return False
        return step(i if star_a else i + 1, j if star_b else j + 1, False)

    return step(0, 0, True)


def _chars(token: _Token) -> _Chars:
    return None if isinstance(token, str) else token


def _common(a: _Chars, b: _Chars, dot_barred: bool) -> bool:
    if a is None and b is None:
        return True
    both = b if a is None else a if b is None else a & b
    assert both is not None
    return bool(both - {"."}) if dot_barred else bool(both)


def _tokens(seg: str, *, ref: bool) -> tuple[_Token, ...]:
    """A glob segment as tokens: '*' or a character set (None: any character).  A rule's
    backslash escapes the next character; a word's quotes are already gone, so its
    glob characters are taken as globs (matching themselves too)."""
    out: list[_Token] = []
    i = 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            if not out or out[-1] != _STAR:
                out.append(_STAR)
        elif c == "?":
            out.append(None)
        elif c == "\\" and not ref and i + 1 < len(seg):
            i += 1
            out.append(frozenset(seg[i]))
        elif c == "[":
            end = seg.find("]", i + 2)
            if end < 0:
                out.append(frozenset("["))
            else:
                out.append(_class(seg[i + 1:end]))
                i = end
        else:
            out.append(frozenset(c))
        i += 1
    return tuple(out)


def _class(body: str) -> _Chars:
    if not body or body[0] in "!^":
        return None  # a negated class: nearly anything
    chars: set[str] = set()
    k = 0
    while k < len(body):
        if k + 2 < len(body) and body[k + 1] == "-":
            low, high = ord(body[k]), ord(body[k + 2])
            if high - low > 256:
                return None
            chars.update(chr(n) for n in range(low, high + 1))
            k += 3
        else:
            chars.add(body[k])
            k += 1
    return frozenset(chars)
