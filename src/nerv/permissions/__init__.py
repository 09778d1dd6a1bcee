"""Claude Code-compatible permission rules: parse, index, match, propose.

Pure and standard-library only: the hook imports this on every tool call.
Rules use Claude Code's syntax (``Bash(npm test:*)``, ``Read(~/.ssh/**)``,
``WebFetch(domain:example.com)``, ``mcp__github``) so existing settings can be
pasted in.  Where to find the exact semantics:

* ``bashpatterns`` - Bash specifiers (``*``, trailing `` *``, legacy ``:*``);
* ``shell`` / ``commands`` / ``programs`` - how a command line is split and
  which forms of each part meet allow, ask and deny rules (wrappers, ``VAR=``
  assignments, ``bash -c``); ``checks`` - ``Bash(check:NAME)`` rules;
* ``paths`` - Read/Edit specifiers; ``web`` - WebFetch specifiers;
* ``matcher`` - precedence, MCP and other tools; ``syntax`` - rule text and
  index keys (``candidate_key``); ``defaults`` - the starting rule set.

    rules = CompiledRules([RuleSpec("r1", "Bash", "npm test:*", "allow")])
    rules.evaluate("Bash", {"command": "npm test && rm -rf /"}).action   # None
"""

from __future__ import annotations

from nerv.permissions.checks import CHECKS
from nerv.permissions.defaults import DEFAULT_RULES, default_rules
from nerv.permissions.keys import call_keys, command_keys
from nerv.permissions.matcher import CompiledRules
from nerv.permissions.model import Decision, MatchContext, RuleSpec
from nerv.permissions.programs import HARMLESS_ENV
from nerv.permissions.propose import propose_patterns
from nerv.permissions.shell import split_command
from nerv.permissions.syntax import RuleSyntaxError, candidate_key, format_rule, parse_rule

__all__ = [
    "CHECKS",
    "DEFAULT_RULES",
    "HARMLESS_ENV",
    "CompiledRules",
    "Decision",
    "MatchContext",
    "RuleSpec",
    "RuleSyntaxError",
    "call_keys",
    "candidate_key",
    "command_keys",
    "default_rules",
    "format_rule",
    "parse_rule",
    "propose_patterns",
    "split_command",
]
