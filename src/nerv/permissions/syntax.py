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
# Claude Code renamed Task to Agent; a rule written with either name covers both.
ALIASES = {"Task": "Agent", "Agent": "Task"}
# Claude Code's built-in tools: a rule naming anything else (not mcp__...) is
# refused at `rules add` unless the caller says the name is meant.
KNOWN_TOOLS = frozenset({
    *READ_TOOLS, *EDIT_TOOLS, "Bash", "BashOutput", "KillShell", "KillBash", "WebFetch", "WebSearch",
    "Agent", "Task", "TodoWrite", "TodoRead", "Skill", "SlashCommand", "ExitPlanMode", "EnterPlanMode",
    "AskUserQuestion", "ListMcpResourcesTool", "ReadMcpResourceTool", "PowerShell", "LSP", "ToolSearch",
})
# Top-level parameters a deny or ask rule can name, ``Tool(param:value)``.  Bash
# takes only names no command could have, so ``Bash(timeout:*)`` stays the
# prefix rule for the ``timeout`` program.
PARAMETERS = {
    "Bash": ("run_in_background", "dangerouslyDisableSandbox"),
    "Agent": ("model", "subagent_type", "run_in_background", "isolation", "description", "prompt"),
}
PARAMETERS["Task"] = PARAMETERS["Agent"]

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
        if "://" in domain:
            host = domain.split("://", 1)[1].split("/", 1)[0]
            raise RuleSyntaxError(f"invalid domain {domain!r} in WebFetch rule: write the host alone, "
                                  f"WebFetch(domain:{host})")
        if not domain.isascii():
            from nerv.permissions.urls import parse_host

            found = parse_host(domain)
            ascii_form = next((h for h in found[2] if h.isascii()), None) if found else None
            hint = f": write its ASCII (IDNA) form, domain:{ascii_form}" if ascii_form else ""
            raise RuleSyntaxError(f"invalid domain {domain!r} in WebFetch rule{hint}")
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


def parameter_rule(tool: str, spec: str | None) -> tuple[str, str] | None:
    """``("Agent", "model:opus")`` -> ``("model", "opus")``: a rule on one top-level parameter."""
    if spec is None:
        return None
    name, sep, value = spec.strip().partition(":")
    if sep and name in PARAMETERS.get(tool, ()):
        return name, value.strip()
    return None


def validate_action(tool: str, spec: str | None, action: str) -> None:
    """Checks made when a rule is added (not when a stored rule is loaded): rules that are only
    meaningful as deny or ask, and specifiers that would silently never match what they name."""
    _never_matches(tool, spec)
    if action != "allow":
        return
    if parameter_rule(tool, spec) is not None:
        raise RuleSyntaxError(f"a parameter rule such as {format_rule(tool, spec)!r} can only deny or ask: "
                              f"allowing a call by one parameter would ignore what the call does")
    if is_tool_glob(tool) and not is_whole(spec):
        return  # refused elsewhere ('cannot take a specifier')
    if is_tool_glob(tool) and _glob_covers_builtin(tool):
        raise RuleSyntaxError(f"{tool!r} as an allow rule would allow every tool, Bash included; "
                              "allow tools by name instead")
    if tool == "WebFetch" and spec and not is_whole(spec) and not spec.strip().startswith("domain:"):
        from nerv.permissions.web import split_url_glob

        if split_url_glob(spec.strip()) is None:
            raise RuleSyntaxError(f"allow rule {format_rule(tool, spec)!r} must start with a scheme "
                                  "(https://host/...) or be domain:HOST")


def _never_matches(tool: str, spec: str | None) -> None:
    if spec is None or is_whole(spec):
        return
    spec = spec.strip()
    if tool == "WebFetch" and not spec.startswith("domain:") and "://" not in spec and not any(
            c in spec for c in "*?"):
        raise RuleSyntaxError(f"WebFetch({spec}) would only match the URL {spec!r} exactly; "
                              f"did you mean WebFetch(domain:{spec.split('/', 1)[0]})?")
    if tool in FAMILY and spec.startswith("~") and spec != "~" and not spec.startswith("~/"):
        raise RuleSyntaxError(f"{tool}({spec}): only '~/' (your home) is expanded; write the path as "
                              f"//home/USER/... for another user's home")


def _glob_covers_builtin(tool: str) -> bool:
    from nerv.permissions.web import compile_glob

    regex = compile_glob(tool)
    return any(regex.fullmatch(name) for name in KNOWN_TOOLS)


def check_tool_name(tool: str, action: str, *, unchecked: bool = False) -> None:
    """Refuse tool names Claude Code does not have (``bash``, ``Bsh``) with a suggestion.

    MCP names (``mcp__server``, ``mcp__server__tool``, ``mcp__server__*``) are
    accepted as written.  Tool-name globs (``mcp__*``) and names of tools nerv
    does not know are accepted only when ``unchecked``; an allow glob that
    covers a built-in tool (``*``) never is.
    """
    if tool in KNOWN_TOOLS:
        return
    if is_tool_glob(tool):
        if action == "allow" and _glob_covers_builtin(tool):
            raise RuleSyntaxError(f"{tool!r} as an allow rule would allow every tool, Bash included; "
                                  "allow tools by name instead")
        if action == "allow" and not unchecked:
            raise RuleSyntaxError(f"{tool!r} as an allow rule would allow tools nobody has reviewed; name "
                                  "the server (mcp__SERVER) or pass --tool-name-unchecked")
        return
    server = mcp_server(tool)
    if server is not None and re.fullmatch(r"mcp__[A-Za-z0-9_\-]+?(__[A-Za-z0-9_\-]+|__\*)?", tool):
        return
    if unchecked:
        return
    raise RuleSyntaxError(f"unknown tool {tool!r}{_suggestion(tool)} (for an MCP tool write "
                          "mcp__SERVER__TOOL; for a tool nerv does not know yet pass --tool-name-unchecked)")


def _suggestion(tool: str) -> str:
    import difflib

    by_folded = {name.lower(): name for name in sorted(KNOWN_TOOLS)}
    exact = by_folded.get(tool.lower())
    if exact is not None:
        return f": did you mean {exact}?"
    close = difflib.get_close_matches(tool.lower(), list(by_folded), n=1, cutoff=0.6)
    return f": did you mean {by_folded[close[0]]}?" if close else ""


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
    * parameter rules (``Bash(run_in_background:true)``): the tool name;
    * everything else: the tool name as written (``"Read"``, ``"Edit"``, ``"Write"``).

    The DB layer can store this in an indexed column and prefilter with
    ``key IN (call_keys(...))`` before handing the rules to :class:`CompiledRules`.
    """
    if is_tool_glob(tool):
        return "*"
    server = mcp_server(tool)
    if server is not None:
        return server
    if parameter_rule(tool, pattern) is not None:
        return tool  # loaded for every call of the tool (keys.call_keys always includes it)
    if tool == "Bash" and pattern is not None and not is_whole(pattern) and check_name(tool, pattern) is None:
        head = literal_head(pattern)
        if head is not None:
            return f"Bash:{head}"
    return tool
