"""Built-in checks: dangers that no single split-out command shows.

Splitting ``curl https://x | sh`` leaves ``curl https://x`` and ``sh``, each
harmless-looking on its own, so a pattern rule cannot catch it.  A check looks
at the whole parsed command instead.  A check is used like any Bash rule whose
specifier is ``check:NAME``, e.g. ``Bash(check:pipe-to-shell)`` in the deny list;
checks never allow anything (an allow rule naming a check matches nothing).
"""

from __future__ import annotations

import re

from nerv.permissions.programs import FETCHERS, argument_values, basename, interpreter_mode, stages
from nerv.permissions.shell import Part

CHECKS: dict[str, str] = {
    "pipe-to-shell": "downloaded code run by a shell or interpreter "
                     "(curl ... | sh, bash <(curl ...), sh -c \"$(curl ...)\", eval \"$(wget ...)\")",
    "rm-root": "recursive rm of /, ~ or $HOME, or of everything directly inside them (/*, ~/*), "
               "whatever the flag spelling",
}
# rm targets that wipe the system or the home directory.  A pattern rule cannot
# express these: '*' in 'Bash(rm -rf /*)' is a wildcard, so it would deny every
# recursive rm of an absolute path.
_ROOT_TARGETS = frozenset({
    "/", "/*", "/.", "~", "~/", "~/*", "$HOME", "$HOME/", "$HOME/*", "${HOME}", "${HOME}/", "${HOME}/*",
})


def run_checks(parts: list[Part]) -> dict[str, str]:
    """Names of the checks that fire for ``parts``, each with a one-line description."""
    found: dict[str, str] = {}
    hit = _pipe_to_shell(parts)
    if hit:
        found["pipe-to-shell"] = hit
    hit = _rm_root(parts)
    if hit:
        found["rm-root"] = hit
    return found


def _rm_root(parts: list[Part]) -> str | None:
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
                    targets.append(re.sub("/{2,}", "/", arg))
            wiped = [t for t in targets if t in _ROOT_TARGETS]
            if recursive and wiped:
                return f"rm of {wiped[0]}"
    return None


def _pipe_to_shell(parts: list[Part]) -> str | None:
    children: dict[int, list[Part]] = {}
    pipelines: dict[int, list[Part]] = {}
    for part in parts:
        if part.parent is not None:
            children.setdefault(part.parent, []).append(part)
        pipelines.setdefault(part.pipeline, []).append(part)

    def fetches(part: Part) -> bool:
        words = part.words
        if any(basename(words[k].value) in FETCHERS for k in stages(words, for_allow=False)):
            return True
        return any(fetches(child) for child in children.get(part.id, ()))

    for part in parts:
        words = part.words
        for k in stages(words, for_allow=False):
            inner = words[k:]
            name = basename(inner[0].value)
            mode = interpreter_mode(inner)
            if mode is not None and mode[0] == "stdin" and part.stage > 0:
                upstream = [q for q in pipelines[part.pipeline] if q.stage < part.stage]
                if any(fetches(q) for q in upstream):
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
