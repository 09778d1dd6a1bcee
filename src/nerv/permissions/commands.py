"""Turn a Bash command line into the texts permission rules are matched against.

Each simple command becomes a :class:`CommandPart` with two sets of forms:

* ``allow_forms`` - the command as written and the command inside each
  allow-transparent wrapper (``timeout 30 npm test`` -> ``npm test``);
* ``deny_forms`` - additionally the quote-removed text, the program named by
  basename (``/bin/rm`` -> ``rm``) and the commands inside every wrapper, so
  ``sudo "rm" -rf /`` still meets a deny on ``rm -rf /``.

Code given to a shell as text (``bash -c '...'``, ``eval``, ``su -c``,
``env -S``, a here-document or here-string fed to a shell, ``echo ... | sh``) is
analysed too.  Those inner commands get deny and ask checks but never need an
allow of their own: the outer ``bash -c ...`` must be allowed as written.
"""

from __future__ import annotations

from nerv.permissions.checks import run_checks
from nerv.permissions.programs import (
    argument_values,
    basename,
    interpreter_kind,
    interpreter_mode,
    stages,
)
from nerv.permissions.shell import ParseError, Part, Token, join_raw, join_values, parse

_MAX_SCRIPT_DEPTH = 4


class CommandPart:
    __slots__ = ("allow_forms", "deny_forms", "needs_allow", "text")

    def __init__(self, text: str, allow_forms: tuple[str, ...], deny_forms: tuple[str, ...],
                 needs_allow: bool) -> None:
        self.text = text
        self.allow_forms = allow_forms
        self.deny_forms = deny_forms
        self.needs_allow = needs_allow

    def __repr__(self) -> str:
        return f"CommandPart({self.text!r}, needs_allow={self.needs_allow})"


class Analysis:
    __slots__ = ("findings", "parts")

    def __init__(self) -> None:
        self.parts: list[CommandPart] = []
        self.findings: dict[str, str] = {}  # check name -> what it found


def analyze(command: str, *, lenient: bool = False, _depth: int = 0) -> Analysis:
    """Parse ``command`` and compute match forms; raises ParseError unless ``lenient``."""
    if _depth > _MAX_SCRIPT_DEPTH:
        raise ParseError("shell code nested in shell code too deeply")
    parts = parse(command, lenient=lenient)
    result = Analysis()
    result.findings.update(run_checks(parts))
    for part in parts:
        words = part.words
        allow = tuple(dict.fromkeys(join_raw(words[k:]) for k in stages(words, for_allow=True)))
        deny: dict[str, None] = dict.fromkeys(allow)
        nested: list[str] = []
        for k in stages(words, for_allow=False):
            inner = words[k:]
            deny[join_raw(inner)] = None
            values = join_values(inner)
            deny[values] = None
            program = inner[0].value
            if "/" in program and not inner[0].op:
                deny[basename(program) + values[len(program):]] = None
            nested.extend(_scripts(inner, part, parts))
        result.parts.append(CommandPart(part.text, allow, tuple(deny), True))
        for script in nested:
            try:
                inner_analysis = analyze(script, lenient=lenient, _depth=_depth + 1)
            except ParseError:
                if not lenient:
                    raise
                continue
            for sub in inner_analysis.parts:
                sub.needs_allow = False
                result.parts.append(sub)
            result.findings.update(inner_analysis.findings)
    return result


def _scripts(words: list[Token], part: Part, parts: list[Part]) -> list[str]:
    """Shell code that ``words`` passes to a shell as text."""
    name = basename(words[0].value) if not words[0].op else ""
    if name == "eval":
        return [" ".join(argument_values(words))]
    if name == "env":
        return _env_split_string(argument_values(words))
    if name == "su":
        args = argument_values(words)
        for pos, arg in enumerate(args):
            if arg in ("-c", "--command") and pos + 1 < len(args):
                return [args[pos + 1]]
            if arg.startswith("--command="):
                return [arg.partition("=")[2]]
        return []
    if interpreter_kind(name) != "shell":
        return []
    mode = interpreter_mode(words)
    if mode is None:
        return []
    if mode[0] == "inline":
        return [words[mode[1]].value]
    if mode[0] != "stdin":
        return []
    out: list[str] = []
    for pos, tok in enumerate(words):
        if tok.op and tok.heredoc is not None:
            out.append(tok.heredoc)
        elif tok.op and tok.raw.endswith("<<<") and pos + 1 < len(words):
            out.append(words[pos + 1].value)
    upstream = _echoed_text(part, parts)
    if upstream is not None:
        out.append(upstream)
    return out


def _env_split_string(args: list[str]) -> list[str]:
    for pos, arg in enumerate(args):
        if arg in ("-S", "--split-string"):
            return [" ".join(args[pos + 1:])]
        if arg.startswith("--split-string="):
            return [" ".join([arg.partition("=")[2], *args[pos + 1:]])]
        if arg.startswith("-S"):
            return [" ".join([arg[2:], *args[pos + 1:]])]
    return []


def _echoed_text(part: Part, parts: list[Part]) -> str | None:
    """The text of ``echo ... | <part>`` or ``printf ... | <part>``, if that is the input."""
    if part.stage == 0:
        return None
    for prev in parts:
        if prev.pipeline == part.pipeline and prev.stage == part.stage - 1:
            words = prev.words
            inner = words[stages(words, for_allow=False)[-1]:]
            if basename(inner[0].value) not in ("echo", "printf"):
                return None
            args = argument_values(inner)
            while args and basename(inner[0].value) == "echo" and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
                args = args[1:]
            return " ".join(args)
    return None
