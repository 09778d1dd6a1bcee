"""Permission rules (approval_rules) and matching them against tool calls.

The matching itself lives in nerv.permissions (pure, shared with the hook);
this module stores rules and feeds the matcher the ones that apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nerv.errors import ValidationError
from nerv.models import Rule
from nerv.service.base import ServiceBase
from nerv.service.tables import RULES


def _permissions() -> Any:
    # Imported on first use: plain CRUD on rules should not pay for the matcher.
    import nerv.permissions as permissions

    return permissions


class RulesMixin(ServiceBase):
    def create_rule(
        self,
        pattern: str | None,
        action: str,
        tool: str,
        *,
        project_id: str | None = None,
        note: str | None = None,
        enabled: bool = True,
    ) -> Rule:
        """Store a rule. ``tool`` is e.g. ``Bash``; ``pattern`` its specifier (``npm test:*``)."""
        perms = _permissions()
        tool = (tool or "").strip()
        pattern = "" if pattern is None else pattern.strip()
        try:
            perms.parse_rule(perms.format_rule(tool, pattern or None))
        except perms.RuleSyntaxError as exc:
            raise ValidationError(str(exc)) from None
        return self._insert(
            RULES,
            {
                "pattern": pattern,
                "action": action,
                "tool": tool,
                "project_id": project_id,
                "note": note,
                "enabled": enabled,
                "match_key": perms.candidate_key(tool, pattern or None),
            },
        )

    def create_rule_from_text(
        self, text: str, action: str, *, project_id: str | None = None, note: str | None = None
    ) -> Rule:
        """Store a rule written in Claude Code's combined form, e.g. ``Bash(npm test:*)``."""
        perms = _permissions()
        try:
            tool, pattern = perms.parse_rule(text)
        except perms.RuleSyntaxError as exc:
            raise ValidationError(str(exc)) from None
        return self.create_rule(pattern, action, tool, project_id=project_id, note=note)

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

    def update_rule(self, id: str, updates: dict[str, Any]) -> Rule:
        return self._update(RULES, id, updates)

    def set_rule_enabled(self, id: str, enabled: bool) -> Rule:
        return self._update(RULES, id, {"enabled": enabled}, action="enable" if enabled else "disable")

    def delete_rule(self, id: str) -> None:
        self._delete(RULES, id)

    def _rule_specs(self, tool_name: str, project_id: str | None) -> list[Any]:
        perms = _permissions()
        scope = "(project_id IS NULL OR project_id = ?)" if project_id else "project_id IS NULL"
        params: list[Any] = [project_id] if project_id else []
        rows = self._read(
            f"SELECT id, tool, pattern, action FROM approval_rules WHERE enabled = 1 AND {scope}", params
        )
        return [perms.RuleSpec(r[0], r[1], r[2] or None, r[3]) for r in rows]

    def evaluate_tool_call(
        self,
        tool_name: str,
        tool_input: Mapping[str, Any],
        *,
        project_id: str | None = None,
        cwd: str | None = None,
        project_root: str | None = None,
    ) -> Any:
        """The matcher's Decision for one tool call under the rules in force."""
        perms = _permissions()
        compiled = perms.CompiledRules(self._rule_specs(tool_name, project_id))
        context = perms.MatchContext(cwd=cwd, project_root=project_root)
        return compiled.evaluate(tool_name, tool_input, context)

    def match_rule(self, tool: str, command: str, project_id: str | None = None) -> Rule | None:
        """The rule that decides ``command`` for ``tool`` (deny > ask > allow), or None."""
        perms = _permissions()
        decision = self.evaluate_tool_call(tool, perms.input_for(tool, command), project_id=project_id)
        if decision.action is None or not decision.rules:
            return None
        return self.get_rule(decision.rules[0].id)
