"""The values passed in and out of the matcher.

Plain immutable classes rather than ``@dataclass(frozen=True)``: the
``dataclasses`` module imports ``inspect``, which costs nerv-hook several
milliseconds on every tool call.  Same behaviour: positional or keyword
construction, defaults, value equality and hashing, a readable repr, and no
attribute assignment after construction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from nerv.permissions.syntax import ACTIONS, RuleSyntaxError, format_rule, parse_rule


class _Frozen:
    """Value-object behaviour over ``__slots__`` (the fields, in order)."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()  # the fields in declaration order

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__.__name__, *self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{self.__class__.__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r} of a frozen {self.__class__.__name__}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r} of a frozen {self.__class__.__name__}")

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)


class RuleSpec(_Frozen):
    """What the matcher needs from a stored rule."""

    _fields = ("id", "tool", "pattern", "action")
    __slots__ = ("action", "id", "pattern", "tool")
    id: str
    tool: str  # "Bash", "Read", "Edit", "WebFetch", "mcp__github", ...
    pattern: str | None  # the specifier, e.g. "npm test:*"; None, "" or "*" = every use of the tool
    action: str  # "allow" | "ask" | "deny"

    def __init__(self, id: str, tool: str, pattern: str | None, action: str) -> None:
        self._set(id=id, tool=tool, pattern=pattern, action=action)

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


class MatchContext(_Frozen):
    _fields = ("cwd", "project_root", "home")
    __slots__ = ("cwd", "home", "project_root")
    cwd: str | None  # the agent's working directory (default: this process's)
    project_root: str | None  # root for "/path" rules (default: cwd)
    home: str | None  # for "~/path" rules (default: os.path.expanduser("~"))

    def __init__(self, cwd: str | None = None, project_root: str | None = None,
                 home: str | None = None) -> None:
        self._set(cwd=cwd, project_root=project_root, home=home)


class Decision(_Frozen):
    _fields = ("action", "rules", "reason", "parts")
    __slots__ = ("action", "parts", "reason", "rules")
    action: str | None  # "allow" | "ask" | "deny" | None (no rule decided)
    rules: tuple[RuleSpec, ...]  # the deciding rule(s); for an allowed compound, one per part
    reason: str  # one line for a human
    parts: tuple[str, ...]  # for Bash: the commands considered

    def __init__(self, action: str | None, rules: tuple[RuleSpec, ...], reason: str,
                 parts: tuple[str, ...] = ()) -> None:
        self._set(action=action, rules=rules, reason=reason, parts=parts)


def value_text(value: Any) -> str:
    """A JSON value as a rule compares it: strings as they are, ``true``, ``3``, JSON otherwise."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def field_texts(value: Any) -> list[str]:
    """The text a malformed field holds, for deny and ask rules: a list's strings joined and one by
    one, an object's string values, and the whole value as JSON."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    out: list[str] = []
    if isinstance(value, (list, tuple)):
        items = [v for v in value if isinstance(v, str)]
        out = ([" ".join(items)] if items else []) + items
    elif isinstance(value, Mapping):
        out = [v for v in value.values() if isinstance(v, str)]
    out.append(value_text(value))
    return list(dict.fromkeys(out))
