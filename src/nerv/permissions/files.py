"""The files a Bash command reads and writes, and commands that need no rule.

Claude Code checks an output redirection as an Edit of its target, and applies
Read and Edit rules to the files of the file commands it recognises.  This
module finds those files: redirection targets, and the operands of ``cat``,
``head``, ``cp``, ``tee``, ``sed -i``... (an over-approximation for the write
side: every operand that might be a file is one).

A path is a :class:`FileRef`: its text with ``$HOME`` / ``${HOME}`` turned into
``~``, and whether it is literal.  A path with any other expansion, a glob or
a brace is not literal: deny and ask rules are still tried on its text, but it
can never be allowed, because nobody knows which file it names.

Some read-only commands need no rule at all, as in Claude Code (``cd``,
``head``, ``wc``, ``echo``, ``true``...): :func:`read_only` says when a command
is one of them, used with options known not to write or run anything.
"""

from __future__ import annotations

import re

from nerv.permissions.programs import basename
from nerv.permissions.shell import Token

# Targets that are not files a rule could be about.
HARMLESS_TARGETS = frozenset({"/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty"})
_HOME_PREFIX = re.compile(r"^(?:\$HOME|\$\{HOME\})(?=/|$)")
# '"$HOME/x"' and '"$HOME"/x': $HOME expands inside double quotes too.
_QUOTED_HOME = re.compile(r'^"(?:\$HOME|\$\{HOME\})(?=/|"(?:/|$))')
_NOT_LITERAL = re.compile(r"[$`*?\[{]")


class FileRef:
    __slots__ = ("literal", "path")

    def __init__(self, path: str, literal: bool) -> None:
        self.path = path
        self.literal = literal

    def __repr__(self) -> str:
        return f"FileRef({self.path!r}{'' if self.literal else ', opaque'})"


def file_ref(tok: Token) -> FileRef | None:
    """The path a word names, or None if it is a process substitution (not a file)."""
    raw = tok.raw
    if raw.startswith(("<(", ">(")):
        return None
    value = tok.value
    home = _HOME_PREFIX.match(raw)
    if home is not None:
        raw = "~" + raw[home.end():]  # still literal when nothing else expands: '$HOME/x' is '~/x'
    quoted = _QUOTED_HOME.match(raw)
    if quoted is not None:
        raw = '"~' + raw[quoted.end():]
    # Quoted too ('"$HOME/.bashrc"'): the value keeps expansions as written, quotes removed.
    home = _HOME_PREFIX.match(value)
    if home is not None:
        value = "~" + value[home.end():]
    literal = not _NOT_LITERAL.search(raw) and not (raw.startswith("~") and not raw.startswith(("~/",))
                                                    and raw != "~")
    return FileRef(value, literal)


def opaque_word(tok: Token) -> bool:
    """Whether a word's value is only known at run time (an expansion, glob or brace)."""
    ref = file_ref(tok)
    return ref is None or not ref.literal


def redirect_files(redirects: list[tuple[Token, Token]]) -> tuple[list[FileRef], list[FileRef]]:
    """(reads, writes) of redirections; here-documents, here-strings and fd copies name no file."""
    reads: list[FileRef] = []
    writes: list[FileRef] = []
    for op, target in redirects:
        sym = op.raw.lstrip("0123456789{}_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if sym in ("<<", "<<-", "<<<"):
            continue
        if sym in (">&", "<&") and re.fullmatch(r"[0-9]*-?", target.raw):
            continue  # '2>&1', '>&-': copies or closes a descriptor
        ref = file_ref(target)
        if ref is None or ref.path in HARMLESS_TARGETS:
            continue
        (reads if sym in ("<", "<&") else writes).append(ref)
    return reads, writes


def _operands(words: list[Token]) -> tuple[list[Token], list[str]]:
    """(non-option words, options) of a command, redirections left out; '--' ends options."""
    operands: list[Token] = []
    options: list[str] = []
    skip = False
    ended = False
    for tok in words[1:]:
        if skip:
            skip = False
        elif tok.op:
            skip = True
        elif not ended and tok.value == "--":
            ended = True
        elif not ended and tok.value.startswith("-") and tok.value != "-":
            options.append(tok.value)
        else:
            operands.append(tok)
    return operands, options


# Programs whose operands are files they read; the first operand of those in
# _PROGRAM_FIRST is a pattern or program text unless given by -e / -f.
_READERS = frozenset({
    "cat", "head", "tail", "less", "more", "wc", "grep", "egrep", "fgrep", "rg", "sort", "cut", "nl", "od",
    "xxd", "hexdump", "strings", "base64", "md5sum", "sha1sum", "sha256sum", "sha512sum", "file", "stat",
    "diff", "cmp", "comm", "tac", "rev", "fold", "paste", "source", ".", "bat", "ls", "tree", "du", "jq",
    "awk", "gawk", "zcat", "gunzip", "tar", "unzip", "xargs", "vim", "vi", "nano", "emacs", "code",
})
_PROGRAM_FIRST = frozenset({"grep", "egrep", "fgrep", "rg", "jq", "awk", "gawk"})
# Programs whose every operand is a file they create, change or remove.
_WRITERS = frozenset({"touch", "rm", "rmdir", "mkdir", "truncate", "tee", "shred", "unlink", "ln", "mv",
                      "sqlite3", "vim", "vi", "nano", "emacs", "code"})
# Programs whose first operand is not a file (a mode or owner), the rest written.
_SKIP_FIRST_WRITERS = frozenset({"chmod", "chown", "chgrp"})
# The last operand is written, the others read.
_COPIERS = frozenset({"cp", "install", "rsync", "scp"})


def command_files(words: list[Token]) -> tuple[list[FileRef], list[FileRef]]:
    """(reads, writes) of a recognised file command; ([], []) for other programs."""
    if not words or words[0].op:
        return [], []
    name = basename(words[0].value)
    operands, options = _operands(words)
    refs = [r for r in (file_ref(t) for t in operands) if r is not None]
    if name == "dd":
        return ([_strip(r, "if=") for r in refs if r.path.startswith("if=")],
                [_strip(r, "of=") for r in refs if r.path.startswith("of=")])
    if name == "sed":
        in_place = any(o.startswith(("-i", "--in-place")) or (not o.startswith("--") and "i" in o[1:])
                       for o in options)
        scripted = any(o in ("-e", "-f", "--expression", "--file")
                       or o.startswith(("--expression=", "--file=")) for o in options)
        files = refs if scripted else refs[1:]
        return ([], files) if in_place else (files, [])
    if name in _COPIERS:
        target = next((o for o in options if o.startswith(("-t", "--target-directory"))), None)
        if target is not None or len(refs) < 2:
            return refs, list(refs)  # cannot tell the target apart: check every operand both ways
        return refs[:-1], refs[-1:]
    if name in _SKIP_FIRST_WRITERS:
        return [], refs[1:]
    writes = refs if name in _WRITERS else []
    if name in _READERS:
        explicit = any(o in ("-e", "-f") or o.startswith(("--regexp", "--file", "--from-file"))
                       for o in options)
        reads = refs[1:] if name in _PROGRAM_FIRST and not explicit else refs
        return reads, writes
    return [], writes


def _strip(ref: FileRef, prefix: str) -> FileRef:
    return FileRef(ref.path[len(prefix):], ref.literal)


# -- commands that need no rule --------------------------------------------------

_ANY_OPTIONS = frozenset({"echo", "ls", "grep", "egrep", "fgrep", "true", "false", ":", "pwd"})
# They only print their words: expansions in them cannot name a file or run anything
# (substitutions inside them are parts of their own and checked as such).
_PRINTERS = frozenset({"echo", "printf", "true", "false", ":"})
_OPTION_RULES = {
    "cat": re.compile(r"-[AbeEnstTuv]+"
                      r"|--(?:show-all|number-nonblank|number|squeeze-blank|show-ends|show-tabs)"),
    "head": re.compile(r"-[0-9]+|-[qvz]+|-[nc][0-9kKmMbB-]*|--(?:lines|bytes)=[0-9kKmMbB-]+"
                       r"|--quiet|--verbose"),
    "tail": re.compile(r"-[0-9]+|-[qvzfF]+|-[nc]\+?[0-9kKmMbB-]*|--(?:lines|bytes)=\+?[0-9kKmMbB-]+|--quiet"
                       r"|--verbose|--follow(?:=name|=descriptor)?|--retry"),
    "wc": re.compile(r"-[clmwL]+|--(?:lines|words|bytes|chars|max-line-length)"),
}
# Options that take the next word as their value.
_VALUE_OPTIONS = {"head": ("-n", "-c"), "tail": ("-n", "-c"), "grep": ("-e", "-f", "-m", "-A", "-B", "-C")}
READ_ONLY = frozenset({*_ANY_OPTIONS, *_OPTION_RULES, "printf", "cd"})


def read_only(words: list[Token]) -> bool:
    """Whether ``words`` runs a read-only command that needs no rule (its files are still checked).

    Its options must be ones known not to write or run anything, and every
    word must be free of expansions, globs and braces, so the files it reads
    are the files nerv checked.
    """
    if not words or words[0].op or not words[0].plain:
        return False
    name = words[0].value
    if name not in READ_ONLY:
        return False
    args: list[Token] = []
    skip = False
    for tok in words[1:]:
        if skip:
            skip = False
        elif tok.op:
            skip = True  # redirections are checked on their own (redirect_files)
        else:
            args.append(tok)
    if name not in _PRINTERS and any(_NOT_LITERAL.search(t.raw) for t in args):
        return False
    values = [t.value for t in args]
    if name == "printf":
        return bool(values) and not values[0].startswith("-v")
    if name == "cd":
        return len([v for v in values if v not in ("-L", "-P")]) <= 1 and "-" not in values
    if name in _ANY_OPTIONS:
        # grep's own option values that name files it reads are not operands we see.
        return not any(v.startswith(("--file", "--exclude-from", "--include-from")) or
                       (v.startswith("-f") and len(v) > 2) for v in values)
    rule = _OPTION_RULES[name]
    takes_value = _VALUE_OPTIONS.get(name, ())
    pos = 0
    ended = False
    while pos < len(values):
        value = values[pos]
        if not ended and value == "--":
            ended = True
        elif not ended and value.startswith("-") and value != "-":
            if value in takes_value:
                pos += 1
            elif not rule.fullmatch(value):
                return False
        pos += 1
    return True


def cd_target(words: list[Token]) -> FileRef | None:
    """The directory of a ``cd`` / ``pushd`` (``~`` for a bare ``cd``), or an opaque
    ref when it cannot be known; None when ``words`` is not one."""
    if not words or words[0].op or words[0].value not in ("cd", "pushd", "popd"):
        return None
    if words[0].value == "popd":
        return FileRef("-", False)
    operands, _ = _operands(words)
    if not operands:
        return FileRef("~", True)
    ref = file_ref(operands[0])
    if ref is None or ref.path == "-":
        return FileRef("-", False)
    return ref


def runs_other(words: list[Token]) -> bool:
    """Commands that run other commands or write files through their options:
    no prefix rule allows them (``find -exec``, ``watch``, ``env -C``, ``time -o``)."""
    if not words or words[0].op:
        return False
    name = basename(words[0].value)
    values = [t.value for t in words[1:] if not t.op]
    if name == "find":
        return any(v in ("-exec", "-execdir", "-ok", "-okdir", "-delete") or v.startswith(("-fprint", "-fls"))
                   for v in values)
    if name == "watch":
        return True
    if name == "env":
        return any(v in ("-C", "--chdir", "-S", "--split-string")
                   or v.startswith(("--chdir=", "--split-string=", "-S", "-C")) for v in values)
    if name == "time":
        return any(v in ("-o", "--output", "-a", "--append") or v.startswith(("--output=", "-o"))
                   for v in values)
    return False
