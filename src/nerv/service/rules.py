"""Permission rules (approval_rules) and matching them against tool calls.

The matching itself lives in nerv.permissions (pure, shared with the hook);
the SQL prefilter (``match_key IN (call keys)``, global plus project scope)
lives in nerv.store.reads, so the CLI, the service and nerv-hook decide alike.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from nerv.errors import ValidationError
from nerv.models import Rule
from nerv.service.base import ServiceBase
from nerv.service.tables import RULES

if TYPE_CHECKING:
    from nerv.permissions import Decision

ACTIONS = ("allow", "ask", "deny")


def _permissions() -> ModuleType:
    # Imported on first use: plain CRUD on rules should not pay for the matcher.
    import nerv.permissions as permissions

    return permissions


@dataclass
class ImportResult:
    """What ``import_claude_rules`` did: rules added, already present, and refused."""

    added: list[Rule] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "deny Bash(sudo:*)": an identical rule exists
    invalid: list[str] = field(default_factory=list)  # "allow Bash(x:*y): <why>"

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [{"id": r.id, "action": r.action, "rule": r.rule_text} for r in self.added],
            "skipped": self.skipped,
            "invalid": self.invalid,
        }


@dataclass
class Suggestion:
    """A rule worth adding, from the history of decided approval requests."""

    action: str  # "allow" | "deny"
    rule: str  # Claude Code rule text
    approved: int
    denied: int
    examples: list[str]  # request ids (newest first, at most 3)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "rule": self.rule, "approved": self.approved, "denied": self.denied,
                "examples": self.examples}


class RulesMixin(ServiceBase):
    # -- CRUD -----------------------------------------------------------------------------

    def create_rule(
        self,
        pattern: str | None,
        action: str,
        tool: str,
        *,
        project_id: str | None = None,
        note: str | None = None,
        enabled: bool = True,
        tool_name_unchecked: bool = False,
    ) -> Rule:
        """Store a rule. ``tool`` is e.g. ``Bash``; ``pattern`` its specifier (``npm test:*``).

        Unknown tool names (``bash``, ``Bsh``) are refused with a suggestion
        unless ``tool_name_unchecked`` (MCP tools and tools Claude Code may add).
        """
        tool, pattern, key = self._checked_rule(tool, pattern, action, unchecked=tool_name_unchecked)
        return self._insert(
            RULES,
            {
                "pattern": pattern,
                "action": action,
                "tool": tool,
                "project_id": project_id,
                "note": note,
                "enabled": enabled,
                "match_key": key,
            },
        )

    def _checked_rule(self, tool: str | None, pattern: str | None, action: str, *,
                      unchecked: bool = True) -> tuple[str, str, str]:
        """``(tool, pattern, match_key)`` after the matcher's syntax checks (ValidationError if refused).

        ``unchecked=False`` also refuses tool names Claude Code does not have.
        """
        from nerv.permissions.syntax import check_tool_name, validate_action

        perms = _permissions()
        tool = (tool or "").strip()
        pattern = "" if pattern is None else pattern.strip()
        action = action if action in ACTIONS else "deny"  # a bad action is reported by the insert's checks
        try:
            perms.parse_rule(perms.format_rule(tool, pattern or None))
            perms.CompiledRules([perms.RuleSpec("new", tool, pattern or None, action)])
            check_tool_name(tool, action, unchecked=unchecked)
            validate_action(tool, pattern or None, action)
        except perms.RuleSyntaxError as exc:
            raise ValidationError(str(exc)) from None
        return tool, pattern, perms.candidate_key(tool, pattern or None)

    def create_rule_from_text(
        self, text: str, action: str, *, project_id: str | None = None, note: str | None = None,
        tool_name_unchecked: bool = False,
    ) -> Rule:
        """Store a rule written in Claude Code's combined form, e.g. ``Bash(npm test:*)``."""
        tool, pattern = parse_rule_text(text)
        return self.create_rule(pattern, action, tool, project_id=project_id, note=note,
                                tool_name_unchecked=tool_name_unchecked)

    def add_rule_from_text(
        self, text: str, action: str, *, project_id: str | None = None, note: str | None = None,
        tool_name_unchecked: bool = False,
    ) -> tuple[Rule, bool]:
        """``(rule, created)``: store a rule unless the same rule (tool, specifier, action, scope)
        already exists, in which case that one is returned with ``created`` False - so a script
        can add its rules every time it runs."""
        tool, pattern = parse_rule_text(text)
        if action not in ACTIONS:
            raise ValidationError(f"invalid rule action {action!r}: expected one of {', '.join(ACTIONS)}")
        tool, pattern, _ = self._checked_rule(tool, pattern, action, unchecked=tool_name_unchecked)
        with self.transaction():
            existing = self.find_rule(tool, pattern, action, project_id)
            if existing is not None:
                return existing, False
            return self.create_rule(pattern, action, tool, project_id=project_id, note=note,
                                    tool_name_unchecked=tool_name_unchecked), True

    def get_rules(self, project_id: str | None = None, *, include_disabled: bool = True) -> list[Rule]:
        """Rules in force for ``project_id`` (global ones plus that project's), oldest first."""
        clauses = ["(project_id IS NULL OR project_id = ?)" if project_id else "1"]
        params: list[Any] = [project_id] if project_id else []
        if not include_disabled:
            clauses.append("enabled = 1")
        rows = self._read(
            f"SELECT * FROM approval_rules WHERE {' AND '.join(clauses)} ORDER BY created_at, rowid", params
        )
        return [RULES.make(r) for r in rows]

    def get_rule(self, id: str) -> Rule | None:
        return self._get(RULES, id)

    def find_rule(
        self, tool: str, pattern: str | None, action: str, project_id: str | None = None
    ) -> Rule | None:
        """The stored rule with exactly this tool, specifier, action and scope, if any."""
        pattern = "" if pattern is None else pattern.strip()
        row = self._read_one(
            "SELECT * FROM approval_rules WHERE tool = ? AND pattern = ? AND action = ? AND project_id IS ?",
            (tool.strip(), pattern, action, project_id),
        )
        return None if row is None else RULES.make(row)

    def update_rule(self, id: str, updates: dict[str, Any]) -> Rule:
        """Change a rule; a new tool or pattern is checked and re-indexed (match_key)."""
        updates = dict(updates)
        if "tool" in updates or "pattern" in updates or "action" in updates:
            current = self._require(RULES, id)
            tool, pattern, key = self._checked_rule(
                updates.get("tool", current.tool), updates.get("pattern", current.pattern),
                updates.get("action", current.action), unchecked="tool" not in updates,
            )
            updates.update({"tool": tool, "pattern": pattern, "match_key": key})
        return self._update(RULES, id, updates)

    def set_rule_enabled(self, id: str, enabled: bool) -> Rule:
        return self._update(RULES, id, {"enabled": enabled}, action="enable" if enabled else "disable")

    def delete_rule(self, id: str) -> None:
        self._delete(RULES, id)

    # -- matching ---------------------------------------------------------------------------

    def evaluate_tool_call(
        self,
        tool_name: str,
        tool_input: Mapping[str, Any],
        *,
        project_id: str | None = None,
        cwd: str | None = None,
        project_root: str | None = None,
    ) -> Decision:
        """The matcher's Decision for one call under the enabled rules in force (global + project),
        prefiltered in SQL by the call's index keys; deny > ask > allow."""
        from nerv.permissions import MatchContext
        from nerv.store import reads

        ctx = MatchContext(cwd=cwd, project_root=project_root)
        try:
            decision, _ = reads.evaluate(self._conn, tool_name, tool_input, project_id, ctx)
        except sqlite3.DatabaseError as exc:
            from nerv.errors import DatabaseError

            raise DatabaseError(f"database error: {exc}") from None
        return decision

    def match_tool_call(
        self,
        tool_name: str,
        tool_input: Mapping[str, Any],
        project_id: str | None = None,
        *,
        cwd: str | None = None,
        project_root: str | None = None,
    ) -> Rule | None:
        """The rule that decides this tool call (deny > ask > allow), or None."""
        decision = self.evaluate_tool_call(
            tool_name, tool_input, project_id=project_id, cwd=cwd, project_root=project_root
        )
        if decision.action is None or not decision.rules:
            return None
        return self.get_rule(decision.rules[0].id)

    def match_rule(self, tool: str, command: str, project_id: str | None = None) -> Rule | None:
        """The rule that decides ``command`` for ``tool`` (deny > ask > allow), or None.

        ``command`` is the call's subject: a command for Bash, a path for file
        tools, a URL for WebFetch.
        """
        from nerv.permissions.matcher import input_for

        return self.match_tool_call(tool, input_for(tool, command), project_id)

    # -- Claude Code settings -----------------------------------------------------------------

    def import_claude_rules(
        self, permissions: Mapping[str, Any], *, project_id: str | None = None, note: str | None = None
    ) -> ImportResult:
        """Add the ``allow`` / ``ask`` / ``deny`` lists of a Claude Code ``permissions`` object,
        in one transaction. Identical rules already stored are skipped; malformed ones are
        reported, not stored."""
        result = ImportResult()
        wanted: list[tuple[str, str, str]] = []
        for action in ("deny", "ask", "allow"):
            entries = permissions.get(action) or []
            if not isinstance(entries, list):
                result.invalid.append(f"{action}: expected a list of rules, got {type(entries).__name__}")
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    result.invalid.append(f"{action} {entry!r}: not a string")
                    continue
                try:
                    tool, pattern = parse_rule_text(entry)
                    tool, pattern, _ = self._checked_rule(tool, pattern, action, unchecked=False)
                except ValidationError as exc:
                    result.invalid.append(f"{action} {entry}: {exc}")
                    continue
                wanted.append((action, tool, pattern))
        with self.transaction():
            seen: set[tuple[str, str, str]] = set()
            for action, tool, pattern in wanted:
                text = tool if not pattern else f"{tool}({pattern})"
                if (action, tool, pattern) in seen or self.find_rule(tool, pattern, action, project_id):
                    result.skipped.append(f"{action} {text}")
                    continue
                seen.add((action, tool, pattern))
                result.added.append(self.create_rule(pattern, action, tool, project_id=project_id, note=note,
                                                     tool_name_unchecked=True))
        return result

    # -- suggestions ------------------------------------------------------------------------------

    def suggest_rules(self, min_count: int = 3, project_id: str | None = None) -> list[Suggestion]:
        """Rules the history of decided approval requests argues for.

        For every decided request the patterns nerv proposes for it (exact
        command, ``program subcommand:*`` prefix, directory...) are counted as
        approved or denied.  A pattern approved at least ``min_count`` times and
        never denied is an allow suggestion; denied at least ``min_count`` times
        and never approved, a deny suggestion.  Patterns already stored as a rule
        with that action are left out.
        """
        perms = _permissions()
        clauses = ["status IN ('approved', 'denied')"]
        params: list[Any] = []
        if project_id is not None:
            clauses.append("project_id = ?")
            params.append(project_id)
        rows = self._read(
            "SELECT id, tool_name, tool_input, cwd, status FROM approval_requests "
            f"WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, rowid DESC",
            params,
        )
        counts: dict[str, list[Any]] = {}
        for row in rows:
            try:
                tool_input = json.loads(row["tool_input"])
            except ValueError:
                continue
            if not isinstance(tool_input, dict):
                continue
            ctx = perms.MatchContext(cwd=row["cwd"] or os.getcwd(), project_root=row["cwd"] or None)
            for rule in perms.propose_patterns(row["tool_name"], tool_input, ctx):
                entry = counts.setdefault(rule, [0, 0, []])
                entry[0 if row["status"] == "approved" else 1] += 1
                if len(entry[2]) < 3 and row["id"] not in entry[2]:
                    entry[2].append(row["id"])
        out: list[Suggestion] = []
        for rule, (approved, denied, examples) in counts.items():
            if approved >= min_count and denied == 0:
                action = "allow"
            elif denied >= min_count and approved == 0:
                action = "deny"
            else:
                continue
            tool, pattern = perms.parse_rule(rule)
            if self.find_rule(tool, pattern or "", action, None) or (
                project_id and self.find_rule(tool, pattern or "", action, project_id)
            ):
                continue
            out.append(Suggestion(action, rule, approved, denied, examples))
        out.sort(key=lambda s: (-(s.approved + s.denied), s.action, s.rule))
        return out


def parse_rule_text(text: str) -> tuple[str, str]:
    """``"Bash(npm test:*)"`` -> ``("Bash", "npm test:*")``; ValidationError if malformed."""
    perms = _permissions()
    if not isinstance(text, str):
        raise ValidationError(f"a rule must be text, got {type(text).__name__}")
    try:
        tool, pattern = perms.parse_rule(text)
    except perms.RuleSyntaxError as exc:
        raise ValidationError(str(exc)) from None
    return tool, pattern or ""
