"""Built-in checks: dangers that no single split-out command shows.

Splitting ``curl https://x | sh`` leaves ``curl https://x`` and ``sh``, each
harmless-looking on its own, so a pattern rule cannot catch it.  A check looks
at the whole parsed command instead.  A check is used like any Bash rule whose
specifier is ``check:NAME``, e.g. ``Bash(check:pipe-to-shell)`` in the deny list;
checks never allow anything (an allow rule naming a check matches nothing).
"""

from __future__ import annotations

import posixpath
import re

from nerv.permissions.programs import (
    FETCHERS,
    argument_values,
    basename,
    interpreter_kind,
    interpreter_mode,
    stages,
)
from nerv.permissions.shell import Part, Token

CHECKS: dict[str, str] = {
    "pipe-to-shell": "downloaded code run by a shell or interpreter "
                     "(curl ... | sh, bash <(curl ...), sh -c \"$(curl ...)\", eval \"$(wget ...)\")",
    "rm-root": "recursive rm of /, ~ or $HOME or a folder holding it (/home), or of everything directly "
               "inside them (/*, ~/*, ~/.*), whatever the spelling (/./, ~/., the home path written out) "
               "or the flag spelling",
    "nerv-control": "the agent running nerv commands that change what it may do or undo its history "
                    "(nerv approvals|rules|settings|hooks|restore|import, also via python -m nerv)",
}
# Spellings of the home directory in an rm target; the literal path is added per call.
_HOME_WORDS = ("~", "$HOME", "${HOME}")
# A last path segment made only of glob characters and dots: '*', '.*', '.??*', '.[!.]*'.
_GLOB_ONLY = re.compile(r"[.\[\]!^]*[*?][*?.\[\]!^]*")
# Files that are the standard input: 'bash /dev/stdin' reads its script from the pipe.
STDIN_FILES = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "-"})
# nerv subcommands an agent must not run: they approve its own requests, change
# its rules, settings or hooks, or replace the database.
NERV_CONTROL = frozenset({"approvals", "rules", "settings", "hooks", "restore", "import"})
# nerv's global options that take a value (``nerv --db F rules add ...``).
_NERV_VALUE_OPTIONS = frozenset({"--db", "--home", "--project", "-p"})


def run_checks(parts: list[Part], home: str | None = None) -> dict[str, str]:
    """Names of the checks that fire for ``parts``, each with a one-line description.

    ``home`` is the home directory as a path, so ``rm -rf /home/me`` counts too.
    """
    found: dict[str, str] = {}
    hit = _pipe_to_shell(parts)
    if hit:
        found["pipe-to-shell"] = hit
    hit = _rm_root(parts, home)
    if hit:
        found["rm-root"] = hit
    hit = _nerv_control(parts)
    if hit:
        found["nerv-control"] = hit
    return found


def _wipes(target: str, home: str | None) -> bool:
    """Whether removing ``target`` recursively removes /, home or a folder holding home,
    or everything directly inside one of them ('/*', '~/.*')."""
    home = posixpath.normpath(home) if home and home.startswith("/") else "/__home__"
    path = re.sub("/{2,}", "/", target)
    for word in _HOME_WORDS:
        if path == word or path.startswith(word + "/"):
            path = home + path[len(word):]
            break
    if not path.startswith("/"):
        return False
    path = posixpath.normpath(path)  # '/./', '~/.', '~/x/..'
    head, _, last = path.rpartition("/")
    if last and _GLOB_ONLY.fullmatch(last):
        path = posixpath.normpath(head or "/")
    return path == "/" or path == home or home.startswith(path.rstrip("/") + "/")


def _rm_root(parts: list[Part], home: str | None) -> str | None:
    for part in parts:
        words = part.words
        for k in stages(words, for_allow=False):
            inner = words[k:]
            if inner[0].op or basename(inner[0].value) != "rm":
                continue
            recursive = False
            targets: list[str] = []
            options = True
            for arg in argument_values(inner):
                if options and arg == "--":
                    options = False
                elif options and arg.startswith("--"):
                    recursive = recursive or arg == "--recursive"
                elif options and arg.startswith("-") and len(arg) > 1:
                    recursive = recursive or "r" in arg or "R" in arg
                else:
                    targets.append(arg)
            wiped = [t for t in targets if _wipes(t, home)]
            if recursive and wiped:
                return f"rm of {wiped[0]}"
    return None


def _nerv_control(parts: list[Part]) -> str | None:
    for part in parts:
        words = part.words
        for k in stages(words, for_allow=False):
            args = [w.value for w in words[k:] if not w.op]
            if not args:
                continue
            name = basename(args[0])
            rest: list[str] | None = None
            if name in ("nerv", "nerv.exe"):
                rest = args[1:]
            elif interpreter_kind(name) == "python" or name in ("uv", "uvx", "pipx", "poetry"):
                rest = _after_module(args[1:])
            if rest is None:
                continue
            sub = _subcommand(rest)
            if sub in NERV_CONTROL:
                return f"nerv {sub}"
    return None


def _after_module(args: list[str]) -> list[str] | None:
    """Arguments after ``-m nerv`` (or ``run nerv``), or None when nerv is not what runs."""
    for pos, arg in enumerate(args):
        if arg in ("-m", "run") and pos + 1 < len(args) and args[pos + 1].split(".")[0] == "nerv":
            return args[pos + 2:]
        if arg.startswith("-m") and arg[2:].split(".")[0] == "nerv":
            return args[pos + 1:]
        if basename(arg) == "nerv":
            return args[pos + 1:]
    return None


def _subcommand(args: list[str]) -> str | None:
    pos = 0
    while pos < len(args):
        arg = args[pos]
        if arg in _NERV_VALUE_OPTIONS:
            pos += 2
        elif arg.startswith("-"):
            pos += 1
        else:
            return arg
    return None


def _pipe_to_shell(parts: list[Part]) -> str | None:
    children: dict[int, list[Part]] = {}
    pipelines: dict[int, list[Part]] = {}
    for part in parts:
        if part.parent is not None:
            children.setdefault(part.parent, []).append(part)
        pipelines.setdefault(part.pipeline, []).append(part)
    memo: dict[int, bool] = {}

    def fetches(part: Part) -> bool:
        known = memo.get(part.id)
        if known is None:
            words = part.words
            known = any(basename(words[k].value) in FETCHERS for k in stages(words, for_allow=False))
            memo[part.id] = known  # set before recursing: the tree has no cycles, but stay linear
            known = known or any(fetches(child) for child in children.get(part.id, ()))
            memo[part.id] = known
        return known

    # The first stage of each pipeline that downloads (-1: none), computed once per pipeline.
    first_fetch: dict[int, int] = {}

    def upstream_fetches(part: Part) -> bool:
        if part.pipeline not in first_fetch:
            stages_fetching = [q.stage for q in pipelines[part.pipeline] if fetches(q)]
            first_fetch[part.pipeline] = min(stages_fetching, default=-1)
        return 0 <= first_fetch[part.pipeline] < part.stage

    for part in parts:
        words = part.words
        for k in stages(words, for_allow=False):
            inner = words[k:]
            name = basename(inner[0].value)
            mode = interpreter_mode(inner)
            stdin = mode is not None and (mode[0] == "stdin" or (
                mode[0] == "file" and inner[mode[1]].value in STDIN_FILES))
            piped = stdin or (name in ("source", ".") and _reads_stdin(inner))
            if piped and part.stage > 0 and upstream_fetches(part):
                return f"download piped into {name}"
            # Token positions (in part.tokens) whose text becomes program code.
            offset = part.start + k
            if mode is not None and mode[0] in ("inline", "file"):
                targets = {offset + mode[1]}
            elif name in ("eval", "source", "."):
                targets = set(range(offset + 1, len(part.tokens)))
            else:
                continue
            for child in children.get(part.id, ()):
                if child.parent_token in targets and fetches(child):
                    return f"download run by {name}"
    return None


def _reads_stdin(words: list[Token]) -> bool:
    """``source /dev/stdin``: the script is whatever the pipeline feeds in."""
    values = [w.value for w in words[1:] if not w.op]
    return bool(values) and values[0] in STDIN_FILES
