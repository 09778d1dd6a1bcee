"""Rules to offer when a tool call needs approval, narrowest first."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from nerv.permissions.matcher import context_bases, path_targets
from nerv.permissions.model import MatchContext
from nerv.permissions.paths import relative_to
from nerv.permissions.programs import ASSIGNMENT, DENY_WRAPPERS, basename, interpreter_kind, stages
from nerv.permissions.shell import ParseError, parse
from nerv.permissions.syntax import FAMILY, format_rule, mcp_server
from nerv.permissions.web import url_hosts

if TYPE_CHECKING:
    from collections.abc import Mapping

_SUBCOMMAND = re.compile(r"[A-Za-z][A-Za-z0-9_.:\-]*")
# Programs whose prefix rule would allow running arbitrary other code.
_NO_PREFIX = frozenset({"eval", "exec", "su", "ssh", "source", ".", *DENY_WRAPPERS})
_PATH_SPECIAL = re.compile(r"([*?\[\]\\])")


def propose_patterns(tool_name: str, tool_input: Mapping[str, Any],
                     ctx: MatchContext | None = None) -> list[str]:
    """Rule texts that would allow this call, e.g. ``Bash(git push origin main)``, ``Bash(git push:*)``.

    Bash: the exact text of each command (unless it contains ``*``, which a rule
    cannot express literally), then a ``program subcommand:*`` prefix for each
    (none for shells, interpreters without a script name, or wrappers such as
    ``sudo``).  Nothing for commands that cannot be parsed.  File tools: the
    exact path, then its directory with ``/**``, written relative to the project
    root (``/src/**``), the home directory (``~/...``) or as ``//abs``.
    WebFetch: the host and, for hosts with three or more labels, ``*.parent``
    (nothing for a URL whose host is not certain, see ``urls``).
    """
    if tool_name == "Bash":
        command = tool_input.get("command")
        return _bash(command) if isinstance(command, str) else []
    if tool_name in FAMILY:
        return _files(tool_name, tool_input, ctx or MatchContext())
    if tool_name == "WebFetch":
        url = tool_input.get("url")
        hosts = url_hosts(url, for_allow=True) if isinstance(url, str) else ()
        if not hosts or not re.fullmatch(r"[a-z0-9_.\-]+", hosts[0]):
            return []  # no host a rule could allow (odd spellings, IPv6, international names)
        host = hosts[0]
        out = [f"WebFetch(domain:{host})"]
        labels = host.split(".")
        if len(labels) >= 3 and not host.replace(".", "").isdigit():
            out.append(f"WebFetch(domain:*.{'.'.join(labels[1:])})")
        return out
    server = mcp_server(tool_name)
    if server is not None and server != tool_name:
        return [tool_name, server]
    return [tool_name]


def _bash(command: str) -> list[str]:
    try:
        parts = parse(command)
    except ParseError:
        return []
    exact: list[str] = []
    prefixes: list[str] = []
    for part in parts:
        if "*" not in part.text:
            exact.append(format_rule("Bash", part.text))
        words = part.words
        inner = words[stages(words, for_allow=True)[-1]:]
        head = inner[0]
        name = basename(head.value)
        if head.op or "*" in head.raw or name in _NO_PREFIX or ASSIGNMENT.match(head.raw):
            continue  # 'NAME=*' would allow NAME=x before any command at all
        second = inner[1].raw if len(inner) > 1 and not inner[1].op else ""
        if second and _SUBCOMMAND.fullmatch(second):
            prefixes.append(format_rule("Bash", f"{head.raw} {second}:*"))
        elif interpreter_kind(name) is None:
            prefixes.append(format_rule("Bash", f"{head.raw}:*"))
    return list(dict.fromkeys(exact + prefixes))


def _files(tool_name: str, tool_input: Mapping[str, Any], ctx: MatchContext) -> list[str]:
    bases = context_bases(ctx)
    targets = path_targets(tool_name, tool_input, bases)
    if not targets:
        return []
    family = FAMILY[tool_name]
    path = targets[0]
    is_dir = tool_name in ("Glob", "Grep", "LS")
    out = [] if is_dir else [f"{family}({_spec(path, bases)})"]
    folder = path if is_dir else path.rsplit("/", 1)[0] or "/"
    spec = _spec(folder, bases)
    out.append(f"{family}({spec.rstrip('/')}/**)")
    return out


def _spec(path: str, bases: dict[str, str]) -> str:
    for anchor, prefix in (("root", "/"), ("home", "~/")):
        rel = relative_to(path, bases[anchor])
        if rel is not None:
            return prefix + _PATH_SPECIAL.sub(r"\\\1", rel)
    return "/" + _PATH_SPECIAL.sub(r"\\\1", path)
