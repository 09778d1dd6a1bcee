"""Turn a Bash command line into the texts permission rules are matched against.

Each simple command becomes a :class:`CommandPart` with two sets of forms:

* ``allow_forms`` - the command as written and the command inside each
  allow-transparent wrapper (``timeout 30 npm test`` -> ``npm test``);
* ``deny_forms`` - additionally the quote-removed text, the program named by
  basename (``/bin/rm`` -> ``rm``) and the commands inside every wrapper, so
  ``sudo "rm" -rf /`` still meets a deny on ``rm -rf /``.

Code given to a shell as text (``bash -c '...'``, ``eval``, ``su -c``,
``env -S``, a here-document or here-string fed to a shell, ``echo ... | sh``,
``bash <(echo ...)``) and commands run by ``find -exec`` are analysed too.
Those inner commands get deny and ask checks but never need an allow of their
own: the outer ``bash -c ...`` must be allowed as written, so an allow rule for
``npm test`` never allows ``bash -c 'npm test'``.

Not seen (deny rules are a filter, not a sandbox): command names computed at
run time (``$CMD``, ``{rm,-rf,/}``), scripts run from files, and programs that
run code from their own options (``git -c core.pager=...``, ``ssh host cmd``).
"""

from __future__ import annotations

import re

from nerv.permissions.checks import STDIN_FILES, run_checks
from nerv.permissions.files import (
    FileRef,
    cd_target,
    command_files,
    opaque_word,
    read_only,
    redirect_files,
    runs_other,
)
from nerv.permissions.programs import (
    argument_values,
    basename,
    interpreter_kind,
    interpreter_mode,
    skip_assignments,
    stages,
)
from nerv.permissions.shell import (
    ParseError,
    Part,
    Token,
    TooManyCommands,
    join_raw,
    join_values,
    parse_with_redirects,
)

_MAX_SCRIPT_DEPTH = 4
# 'x=$(date)' alone runs no program of its own (its substitution is a part of its own).
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
# Longer commands are never allowed, as in Claude Code; lenient analysis (for
# deny and ask rules) reads only this much of them, which bounds the work.
MAX_COMMAND = 10_000


class CommandPart:
    __slots__ = ("allow_forms", "cd", "deny_forms", "exact_only", "inputs", "needs_allow", "opaque_name",
                 "read_only", "reads", "text", "writes")

    def __init__(self, text: str, allow_forms: tuple[str, ...], deny_forms: tuple[str, ...],
                 needs_allow: bool) -> None:
        self.text = text
        self.allow_forms = allow_forms
        self.deny_forms = deny_forms
        self.needs_allow = needs_allow
        self.read_only = False  # a built-in read-only command: needs no rule (files still checked)
        self.exact_only = False  # runs other commands (find -exec...): no prefix rule allows it
        # The program (or a wrapped one) is named by an expansion ('$x', '$(which y)'): unknown here.
        self.opaque_name = False
        self.reads: list[FileRef] = []  # files of a recognised file command
        self.writes: list[FileRef] = []
        self.cd: FileRef | None = None  # the directory a cd / pushd moves to
        self.inputs: list[FileRef] = []  # its own input redirections ('head < f'), also in Analysis.reads

    def __repr__(self) -> str:
        return f"CommandPart({self.text!r}, needs_allow={self.needs_allow})"


class Analysis:
    __slots__ = ("cd_dirs", "error", "findings", "parts", "reads", "writes")

    def __init__(self) -> None:
        self.error: str | None = None  # set when only part of the command was read
        self.parts: list[CommandPart] = []
        self.findings: dict[str, str] = {}  # check name -> what it found
        self.reads: list[FileRef] = []  # input redirection targets
        self.writes: list[FileRef] = []  # output redirection targets
        self.cd_dirs: list[FileRef] = []  # where 'cd' may move later commands, in order

    def files(self) -> tuple[list[FileRef], list[FileRef]]:
        """Every file read and written: redirections and the files of file commands."""
        reads = self.reads + [r for p in self.parts for r in p.reads]
        writes = self.writes + [w for p in self.parts for w in p.writes]
        return reads, writes


_last_call: tuple[tuple[str, str | None], tuple[Analysis, str | None]] | None = None


def analyze_call(command: str, home: str | None) -> tuple[Analysis, str | None]:
    """The analysis of a Bash call and why it could not be parsed strictly (None if it could).

    Unparsable commands get the lenient analysis, for deny and ask rules.  The
    last answer is kept: the hook computes the index keys and then the decision
    for the same command, and must not parse a hostile one four times.
    The result is shared: callers must not change it.
    """
    global _last_call
    key = (command, home)
    if _last_call is not None and _last_call[0] == key:
        return _last_call[1]
    error: str | None = None
    try:
        analysis = analyze(command, home=home, _keep_partial=True)
    except ParseError as exc:
        error = str(exc)
        try:
            analysis = analyze(command, lenient=True, home=home)
        except ParseError:
            analysis = Analysis()
    error = error or analysis.error
    _last_call = (key, (analysis, error))
    return analysis, error


def analyze(command: str, *, lenient: bool = False, home: str | None = None, _depth: int = 0,
            _keep_partial: bool = False) -> Analysis:
    """Parse ``command`` and compute match forms; raises ParseError unless ``lenient``.

    ``home`` is the literal home directory, for checks that recognise it written out.
    """
    if _depth > _MAX_SCRIPT_DEPTH:
        raise ParseError("shell code nested in shell code too deeply")
    if len(command) > MAX_COMMAND:
        if not lenient:
            raise ParseError(f"longer than {MAX_COMMAND:,} characters")
        command = command[:MAX_COMMAND]
    result = Analysis()
    try:
        parts, redirects = parse_with_redirects(command, lenient=lenient)
    except TooManyCommands as exc:
        if not _keep_partial or exc.partial is None:
            raise
        parts, redirects = exc.partial  # what a lenient reading gives; the caller sees .error
        result.error = str(exc)
        lenient = True
    result.reads, result.writes = redirect_files(redirects)
    result.findings.update(run_checks(parts, home))
    index = PartIndex(parts)
    for part in parts:
        words = part.words
        allow_stages = stages(words, for_allow=True)
        allow_forms = [join_raw(words[k:]) for k in allow_stages]
        # Output redirections are checked as Edit writes on their own, so the
        # command also meets allow rules without them ('npm test > log' and 'Bash(npm test)').
        quiet = _without_output_redirects(words)
        if len(quiet) < len(words) and quiet:
            allow_forms += [join_raw(quiet[k:]) for k in stages(quiet, for_allow=True)]
        allow = tuple(dict.fromkeys(allow_forms))
        deny: dict[str, None] = dict.fromkeys(allow)
        nested: list[str] = []
        item = CommandPart(part.text, allow, (), True)
        for k in stages(words, for_allow=False):
            inner = words[k:]
            deny[join_raw(inner)] = None
            values = join_values(inner)
            deny[values] = None
            program = inner[0].value
            item.opaque_name = item.opaque_name or (
                not inner[0].op and not _ASSIGNMENT.match(inner[0].raw) and opaque_word(inner[0]))
            if "/" in program and not inner[0].op:
                deny[basename(program) + values[len(program):]] = None
            nested.extend(_scripts(inner, part, index))
            reads, writes = command_files(inner)
            item.reads += reads
            item.writes += writes
            target = cd_target(inner)
            if target is not None:
                result.cd_dirs.append(target)
                item.cd = item.cd or target
        item.deny_forms = tuple(deny)
        item.inputs = redirect_files(_redirections(words))[0]
        item.read_only = read_only(words[allow_stages[-1]:]) and all(
            skip_assignments(words, k)[0] == k for k in allow_stages)
        item.exact_only = any(runs_other(words[k:]) for k in allow_stages)
        result.parts.append(item)
        for script in nested:
            try:
                inner_analysis = analyze(script, lenient=lenient, home=home, _depth=_depth + 1)
            except ParseError:
                if not lenient:
                    raise
                continue
            for sub in inner_analysis.parts:
                sub.needs_allow = False
                result.parts.append(sub)
            result.findings.update(inner_analysis.findings)
            result.reads += inner_analysis.reads
            result.writes += inner_analysis.writes
            result.cd_dirs += inner_analysis.cd_dirs
    return result


def _redirections(words: list[Token]) -> list[tuple[Token, Token]]:
    return [(tok, words[k + 1]) for k, tok in enumerate(words[:-1]) if tok.op]


_OUTPUT_OPS = re.compile(r"(?:[0-9]+|\{[A-Za-z_][A-Za-z0-9_]*\})?(?:>|>>|>\||&>|&>>|>&)")


def _without_output_redirects(words: list[Token]) -> list[Token]:
    out: list[Token] = []
    skip = False
    for tok in words:
        if skip:
            skip = False
        elif tok.op and _OUTPUT_OPS.fullmatch(tok.raw):
            skip = True
        else:
            out.append(tok)
    return out


class PartIndex:
    """Parts by id of the command holding them and by pipeline stage, so that
    looking up a neighbour costs O(1): 'sh|sh|sh|...' must stay linear."""

    def __init__(self, parts: list[Part]) -> None:
        self.children: dict[int, list[Part]] = {}
        self.by_stage: dict[tuple[int, int], Part] = {}
        for part in parts:
            if part.parent is not None:
                self.children.setdefault(part.parent, []).append(part)
            self.by_stage.setdefault((part.pipeline, part.stage), part)


def _scripts(words: list[Token], part: Part, parts: PartIndex) -> list[str]:
    """Shell code that ``words`` hands to a shell (or runs as an argument vector)."""
    name = basename(words[0].value) if not words[0].op else ""
    if name == "eval":
        return [" ".join(argument_values(words))]  # eval re-reads its words as code
    if name == "env":
        return _env_split_string(argument_values(words))
    if name in ("su", "script", "flock", "runuser"):
        # 'su -c CODE', 'script -c CODE', 'flock FILE -c CODE': the code runs in a shell.
        return _option_value(argument_values(words), ("-c", "--command"))
    if name == "find":
        return _find_exec(argument_values(words))
    if name in ("source", "."):
        args = argument_values(words)
        if args and args[0] in STDIN_FILES:
            upstream = _piped_text(part, parts)
            return [upstream] if upstream is not None else []
        return _substituted_echo(part, parts, {_position(part, words, 1)})
    if interpreter_kind(name) != "shell":
        return []
    mode = interpreter_mode(words)
    if mode is None:
        return []
    if mode[0] == "inline":
        return [words[mode[1]].value]
    if mode[0] == "file" and words[mode[1]].value in STDIN_FILES:
        mode = ("stdin", -1)  # 'echo ... | bash /dev/stdin'
    if mode[0] == "file":
        # 'bash <(echo ...)': the script is the output of a process substitution.
        return _substituted_echo(part, parts, {_position(part, words, mode[1])})
    if mode[0] != "stdin":
        return []
    out = _fed_text(words)
    upstream = _piped_text(part, parts)
    if upstream is not None:
        out.append(upstream)
    return out


def _position(part: Part, words: list[Token], index: int) -> int:
    """Index in ``part.tokens`` of ``words[index]`` (``words`` is a tail of ``part.words``)."""
    return len(part.tokens) - len(words) + index


def _env_split_string(args: list[str]) -> list[str]:
    for pos, arg in enumerate(args):
        if arg in ("-S", "--split-string"):
            return [" ".join(args[pos + 1:])]
        if arg.startswith("--split-string="):
            return [" ".join([arg.partition("=")[2], *args[pos + 1:]])]
        if arg.startswith("-S"):
            return [" ".join([arg[2:], *args[pos + 1:]])]
    return []


def _option_value(args: list[str], names: tuple[str, ...]) -> list[str]:
    for pos, arg in enumerate(args):
        if arg in names and pos + 1 < len(args):
            return [args[pos + 1]]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return [arg.partition("=")[2]]
    return []


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_./=:,+@%^" for c in value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def _find_exec(args: list[str]) -> list[str]:
    """Commands that ``find ... -exec cmd args {} ;`` runs, re-quoted as an argument vector."""
    out: list[str] = []
    pos = 0
    while pos < len(args):
        if args[pos] in ("-exec", "-execdir", "-ok", "-okdir"):
            end = pos + 1
            while end < len(args) and args[end] not in (";", "+"):
                end += 1
            if end > pos + 1:
                out.append(" ".join(_quote(a) for a in args[pos + 1:end]))
            pos = end
        pos += 1
    return out


def _fed_text(words: list[Token]) -> list[str]:
    """Here-document bodies and here-strings given to this command."""
    out: list[str] = []
    for pos, tok in enumerate(words):
        if tok.op and tok.heredoc is not None:
            out.append(tok.heredoc)
        elif tok.op and tok.raw.endswith("<<<") and pos + 1 < len(words):
            out.append(words[pos + 1].value)
    return out


def _echo_text(words: list[Token]) -> str | None:
    inner = words[stages(words, for_allow=False)[-1]:]
    name = basename(inner[0].value)
    if name not in ("echo", "printf"):
        return None
    args = argument_values(inner)
    while args and name == "echo" and args[0] in ("-n", "-e", "-E", "-ne", "-en"):
        args = args[1:]
    return " ".join(args)


def _piped_text(part: Part, parts: PartIndex) -> str | None:
    """What the previous pipeline stage writes, when it is plain text: echo, printf, cat <<EOF."""
    if part.stage == 0:
        return None
    prev = parts.by_stage.get((part.pipeline, part.stage - 1))
    if prev is None:
        return None
    text = _echo_text(prev.words)
    fed = _fed_text(prev.words)
    return text if text is not None else "\n".join(fed) if fed else None


def _substituted_echo(part: Part, parts: PartIndex, positions: set[int]) -> list[str]:
    """echo/printf text inside process substitutions at token ``positions`` of ``part``."""
    out: list[str] = []
    for child in parts.children.get(part.id, ()):
        if child.parent_token in positions and child.via in ("<(", "$("):
            text = _echo_text(child.words)
            if text is not None:
                out.append(text)
    return out
