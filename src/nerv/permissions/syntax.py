"""Rule text in Claude Code's ``Tool`` / ``Tool(specifier)`` form, and index keys."""

from __future__ import annotations

import re

from nerv.errors import ValidationError
from nerv.permissions.bashpatterns import literal_head
from nerv.permissions.checks import CHECKS

ACTIONS = ("deny", "ask", "allow")  # in order of precedence
# Read rules also cover the tools that read files by path, Edit rules every
# tool that writes files, as Claude Code documents.
READ_TOOLS = ("Read", "Glob", "Grep", "LS", "NotebookRead")
EDIT_TOOLS = ("Edit", "Write", "MultiEdit", "NotebookEdit")
FAMILY = {**{t: "Read" for t in READ_TOOLS}, **{t: "Edit" for t in EDIT_TOOLS}}

CHECK_PREFIX = "check:"

_TOOL = re.compile(r"[A-Za-z0-9_*][A-Za-z0-9_.*\-]*")
_DOMAIN = re.compile(r"[A-Za-z0-9*_.\-\[\]:]+")
_CHECK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


class RuleSyntaxError(ValidationError, ValueError):
    """A permission rule's text is malformed; the message is one line for a human."""


def is_whole(spec: str | None) -> bool:
    """None, "" and "*" (blanks ignored) mean every use of the tool."""
    return spec is None or spec.strip() in ("", "*")


def parse_rule(text: str) -> tuple[str, str | None]:
    """``"Bash(npm test:*)"`` -> ``("Bash", "npm test:*")``; ``"Read"`` -> ``("Read", None)``."""
    s = text.strip()
    if not s:
        raise RuleSyntaxError("empty permission rule")
    open_at = s.find("(")
    if open_at < 0:
        if ")" in s:
            raise RuleSyntaxError(f"unmatched ')' in rule {text!r}")
        tool, spec = s, None
    else:
        tool = s[:open_at]
        if not s.endswith(")"):
            if ")" in s[open_at:]:
                raise RuleSyntaxError(f"unexpected text after ')' in rule {text!r}")
            raise RuleSyntaxError(f"rule {text!r} is missing its closing ')'")
        spec = s[open_at + 1:-1].strip()
        if not spec:
            # Refuse rather than widen: an emptied command must not become "all of Bash".
            raise RuleSyntaxError(f"empty specifier in rule {text!r}; write {tool!r} to match every use")
    if not tool:
        raise RuleSyntaxError(f"rule {text!r} has no tool name")
    if not _TOOL.fullmatch(tool):
        raise RuleSyntaxError(f"invalid tool name {tool!r} in rule {text!r}")
    validate_specifier(tool, spec)
    return tool, spec


def validate_specifier(tool: str, spec: str | None) -> None:
    """Raise RuleSyntaxError for specifiers that can never mean what was intended."""
    if spec is None or is_whole(spec):
        return
    if tool == "WebFetch" and spec.startswith("domain:"):
        domain = spec[len("domain:"):].strip()
        if not domain:
            raise RuleSyntaxError("WebFetch rule 'domain:' needs a host name, e.g. domain:example.com")
        if not _DOMAIN.fullmatch(domain):
            raise RuleSyntaxError(f"invalid domain {domain!r} in WebFetch rule")
    spec = spec.strip()
    if tool == "Bash" and spec.find(":*") not in (-1, len(spec) - 2):
        # Claude Code ignores such rules silently; say so instead.
        raise RuleSyntaxError("':*' must be at the end of a Bash rule (use '*' for a wildcard elsewhere)")
    name = check_name(tool, spec)
    if name is not None and name not in CHECKS:
        known = ", ".join(sorted(CHECKS))
        raise RuleSyntaxError(f"unknown check {name!r} in Bash rule (known: {known})")


def format_rule(tool: str, specifier: str | None) -> str:
    """The inverse of :func:`parse_rule`: ``("Bash", "ls *")`` -> ``"Bash(ls *)"``."""
    return tool if not specifier else f"{tool}({specifier})"


def check_name(tool: str, spec: str | None) -> str | None:
    """The built-in check a rule names (``Bash(check:pipe-to-shell)``), if any."""
    spec = spec.strip() if spec else ""
    if tool == "Bash" and spec.startswith(CHECK_PREFIX):
        name = spec[len(CHECK_PREFIX):]
        if _CHECK_NAME.fullmatch(name):
            return name
    return None


def mcp_server(tool: str) -> str | None:
    """``mcp__github__create_issue`` -> ``mcp__github``; None for non-MCP names."""
    if not tool.startswith("mcp__"):
        return None
    server = tool[len("mcp__"):].split("__", 1)[0]
    return "mcp__" + server if server else None


def is_tool_glob(tool: str) -> bool:
    """``mcp__*`` or ``mcp__srv__get_*`` (but not ``mcp__srv__*``, which names the server)."""
    if "*" not in tool:
        return False
    server = mcp_server(tool)
    return server is None or tool != server + "__*"


def tool_key(tool: str) -> str:
    """``mcp__srv__*`` and ``mcp__srv`` name the same thing: the whole server."""
    server = mcp_server(tool)
    return server if server is not None and tool == server + "__*" else tool


def candidate_key(tool: str, pattern: str | None) -> str:
    """The index key of a rule; a tool call can only match rules whose key is in its call keys.

    * ``Bash`` rules whose specifier starts with a literal word: ``"Bash:<word>"``
      (``Bash(npm test:*)`` -> ``"Bash:npm"``);
    * other Bash rules (whole tool, ``* --version``, ``npm*``, checks): ``"Bash"``;
    * MCP rules: the server, ``"mcp__github"``, whatever the tool part;
    * tool names with a ``*`` (``mcp__*``): ``"*"``;
    * everything else: the tool name as written (``"Read"``, ``"Edit"``, ``"Write"``).

    The DB layer can store this in an indexed column and prefilter with
    ``key IN (call_keys(...))`` before handing the rules to :class:`CompiledRules`.
    """
    if is_tool_glob(tool):
        return "*"
    server = mcp_server(tool)
    if server is not None:
        return server
    if tool == "Bash" and pattern is not None and not is_whole(pattern) and check_name(tool, pattern) is None:
        head = literal_head(pattern)
        if head is not None:
            return f"Bash:{head}"
    return tool
