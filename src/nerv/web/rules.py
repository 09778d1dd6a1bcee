"""Permission rules in the dashboard: the list in force, and switching one on or off.

* ``GET  /api/rules?project=`` — the global rules plus that project's (every rule without ``project``)
* ``POST /api/rules/{rule}/enable`` and ``.../disable`` — audited as ``enable`` / ``disable``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nerv.service.tables import PROJECTS, RULES
from nerv.web.protocol import Handler, Json, Request, fields, param
from nerv.web.shapes import rule_json

if TYPE_CHECKING:
    from nerv.models import Rule
    from nerv.service import DatabaseService


class RuleRoutes:
    """Mixed into :class:`nerv.web.api.Api`; the POST runs inside its one write path."""

    service: DatabaseService

    def rule_routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", r"/api/rules", self.rules),
            ("POST", r"/api/rules/(?P<rule>[^/]+)/(?P<switch>enable|disable)", self.switch_rule),
        ]

    def rules(self, request: Request) -> Json:
        svc = self.service
        ident = param(request.query, "project")
        project_id = svc.resolve_id(PROJECTS, ident) if ident else None
        names = {p.id: p.name for p in svc.get_projects()}
        rules = svc.get_rules(project_id)
        return {
            "project_id": project_id,
            "rules": [self._rule(r, names) for r in rules],
            "counts": {
                "enabled": sum(r.enabled for r in rules),
                "disabled": sum(not r.enabled for r in rules),
            },
        }

    def switch_rule(self, request: Request) -> Json:
        svc = self.service
        fields(request.body)
        enable = request.params["switch"] == "enable"
        with svc.transaction():
            rule = svc.set_rule_enabled(svc.resolve_id(RULES, request.params["rule"]), enable)
        return {"rule": self._rule(rule, {p.id: p.name for p in svc.get_projects()})}

    @staticmethod
    def _rule(rule: Rule, names: dict[str, str]) -> Json:
        return {
            **rule_json(rule),
            "scope": "global" if rule.project_id is None else "project",
            "project_name": names.get(rule.project_id or ""),
        }
