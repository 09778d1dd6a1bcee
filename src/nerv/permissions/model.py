"""The values passed in and out of the matcher."""

from __future__ import annotations

from dataclasses import dataclass

from nerv.permissions.syntax import ACTIONS, RuleSyntaxError, format_rule, parse_rule


@dataclass(frozen=True)
class RuleSpec:
    """What the matcher needs from a stored rule."""

    id: str
    tool: str  # "Bash", "Read", "Edit", "WebFetch", "mcp__github", ...
    pattern: str | None  # the specifier, e.g. "npm test:*"; None, "" or "*" = every use of the tool
    action: str  # "allow" | "ask" | "deny"

    @classmethod
    def parse(cls, id: str, text: str, action: str) -> RuleSpec:
        """Build a rule from Claude Code rule text such as ``"Bash(npm test:*)"``."""
        if action not in ACTIONS:
            raise RuleSyntaxError(f"unknown rule action {action!r} (expected allow, ask or deny)")
        tool, pattern = parse_rule(text)
        return cls(id, tool, pattern, action)

    @property
    def text(self) -> str:
        return format_rule(self.tool, self.pattern)


@dataclass(frozen=True)
class MatchContext:
    cwd: str | None = None  # the agent's working directory (default: this process's)
    project_root: str | None = None  # root for "/path" rules (default: cwd)
    home: str | None = None  # for "~/path" rules (default: os.path.expanduser("~"))


@dataclass(frozen=True)
class Decision:
    action: str | None  # "allow" | "ask" | "deny" | None (no rule decided)
    rules: tuple[RuleSpec, ...]  # the deciding rule(s); for an allowed compound, one per part
    reason: str  # one line for a human
    parts: tuple[str, ...] = ()  # for Bash: the commands considered
