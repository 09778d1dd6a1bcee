"""Settings: key -> JSON value, per project or global.

Lookup order: ``NERV_<KEY>`` environment variable, then the project's value,
then the global value, then the built-in default below.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nerv import env
from nerv.errors import NotFoundError, ValidationError
from nerv.models import Setting
from nerv.service.base import ServiceBase
from nerv.service.tables import PROJECTS, SETTINGS
from nerv.store import rows as store_rows

CURRENT_PROJECT_KEY = "project.current"


@dataclass(frozen=True)
class SettingDef:
    default: Any
    help: str
    check: Callable[[Any], bool] | None = None
    expect: str = ""


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < math.inf


# A queued call blocks the agent while it waits; past an hour nobody is coming.
MAX_APPROVAL_TIMEOUT_S = 3600


def _wait_seconds(value: Any) -> bool:
    return _positive_number(value) and value <= MAX_APPROVAL_TIMEOUT_S


def _fractions(value: Any) -> bool:
    return isinstance(value, list) and all(_positive_number(x) and x <= 10 for x in value)


def _optional_positive(value: Any) -> bool:
    return value is None or _positive_number(value)


def _valid_prices(value: Any) -> bool:
    from nerv.errors import NervError
    from nerv.usage.pricing import validate_overrides

    try:
        validate_overrides(value)
    except NervError:
        return False
    return True


KNOWN: dict[str, SettingDef] = {
    "approval.mode": SettingDef(
        "defer",
        "what the hook does when no rule matches: defer (Claude Code decides), ask, or queue",
        lambda v: v in ("defer", "ask", "queue"),
        "one of defer, ask, queue",
    ),
    "approval.timeout_seconds": SettingDef(
        50,
        "how long a queued hook call waits for a person before it is denied",
        _wait_seconds,
        f"a number of seconds, more than 0 and at most {MAX_APPROVAL_TIMEOUT_S}",
    ),
    "budget.daily_usd": SettingDef(
        None, "daily spending budget in USD (null: none)", _optional_positive, "a positive number or null"
    ),
    "budget.monthly_usd": SettingDef(
        None, "monthly spending budget in USD (null: none)", _optional_positive, "a positive number or null"
    ),
    "budget.enforce": SettingDef(
        "off",
        "what happens once a daily or monthly budget is exceeded: off, ask (tool calls ask first) or "
        "deny (tool calls are denied); either way new prompts are blocked unless off",
        lambda v: v in ("off", "ask", "deny"),
        "one of off, ask, deny",
    ),
    "budget.warn_at": SettingDef(
        [0.8, 1.0],
        "fractions of a budget at which nerv warns",
        _fractions,
        "a list of fractions above 0 and at most 10 (1.0 is the whole budget), e.g. [0.8, 1.0]",
    ),
    "project.current": SettingDef(
        None,
        "the project commands use when none is given (nerv project use)",
        lambda v: isinstance(v, str) and bool(v.strip()),
        "a project id",
    ),
    "usage.prices": SettingDef(
        {},
        "price overrides, USD per million tokens: {model: {input, output, cache_write_5m, cache_write_1h,"
        " cache_read}} (see nerv usage prices)",
        _valid_prices,
        "an object {model: {input: USD/MTok, output: USD/MTok, ...}} of non-negative numbers",
    ),
}


def suggest_key(key: str) -> str:
    """`` (did you mean X?)`` for a near miss of a known key, else ``""``."""
    close = difflib.get_close_matches(key, KNOWN, n=1, cutoff=0.6)
    if not close:
        close = [k for k in KNOWN if k.startswith(key) or key.startswith(k)][:1]
    return f" (did you mean {close[0]}?)" if close else ""


def check_setting(key: str, value: Any) -> SettingDef:
    """The definition of ``key`` after checking that ``value`` fits it; a clear error otherwise."""
    known = KNOWN.get(key)
    if known is None:
        raise ValidationError(
            f"unknown setting {key!r}{suggest_key(key)}; `nerv settings list` shows the known ones"
        )
    if known.check is not None and not known.check(value):
        try:
            shown = json.dumps(value)
        except (TypeError, ValueError):
            shown = repr(value)
        raise ValidationError(f"invalid value for {key}: {shown} (expected {known.expect})")
    return known


def parse_value(text: str) -> Any:
    """CLI/env text -> JSON value: valid JSON is taken as JSON, anything else as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


class SettingsMixin(ServiceBase):
    def get_setting(
        self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
    ) -> Any:
        environ = os.environ if environ is None else environ
        override = environ.get(env.setting_env_name(key))
        if override is not None:
            return parse_value(override)
        if project_id is not None:
            row = self._read_one(
                "SELECT value FROM settings WHERE key = ? AND project_id = ?", (key, project_id)
            )
            if row is not None:
                return json.loads(row[0])
        row = self._read_one("SELECT value FROM settings WHERE key = ? AND project_id IS NULL", (key,))
        if row is not None:
            return json.loads(row[0])
        known = KNOWN.get(key)
        return None if known is None else known.default

    def effective_setting(
        self, key: str, project_id: str | None = None, environ: Mapping[str, str] | None = None
    ) -> tuple[Any, str]:
        """``(value, source)`` by the lookup order; source is env, project, global, default or unset."""
        environ = os.environ if environ is None else environ
        override = environ.get(env.setting_env_name(key))
        if override is not None:
            return parse_value(override), "env"
        if project_id is not None:
            row = self._read_one(
                "SELECT value FROM settings WHERE key = ? AND project_id = ?", (key, project_id)
            )
            if row is not None:
                return json.loads(row[0]), "project"
        row = self._read_one("SELECT value FROM settings WHERE key = ? AND project_id IS NULL", (key,))
        if row is not None:
            return json.loads(row[0]), "global"
        known = KNOWN.get(key)
        return (None, "unset") if known is None else (known.default, "default")

    def set_setting(self, key: str, value: Any, project_id: str | None = None) -> Setting:
        key = key.strip()
        if not key:
            raise ValidationError("setting key must not be empty")
        check_setting(key, value)
        if key == CURRENT_PROJECT_KEY:
            if project_id is not None:
                raise ValidationError(f"{key} is global: it cannot be set for a project")
            self._require(PROJECTS, value)
        if project_id is not None:
            self._validate(SETTINGS, {"project_id": project_id})
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ValidationError(f"setting {key} must be a JSON value") from None
        self._put_setting(key, value, project_id)
        row = self._read_one("SELECT * FROM settings WHERE key = ? AND project_id IS ?", (key, project_id))
        assert row is not None
        return SETTINGS.make(row)

    def unset_setting(self, key: str, project_id: str | None = None) -> None:
        if not store_rows.delete_setting(self._conn, self.actor, key, project_id):
            scope = f"project {project_id}" if project_id else "global scope"
            raise NotFoundError("setting", f"{key} ({scope})")

    def list_settings(self, project_id: str | None = None) -> list[Setting]:
        """Stored settings of one scope (global when ``project_id`` is None)."""
        rows = self._read("SELECT * FROM settings WHERE project_id IS ? ORDER BY key", (project_id,))
        return [SETTINGS.make(r) for r in rows]
