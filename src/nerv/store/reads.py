"""The lookups the hook and the service share: projects by path, settings, rules in force.

Reads only; kept next to the writes so both faces find projects, settings and
rules the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from nerv import env

if TYPE_CHECKING:
    from nerv.permissions import Decision, MatchContext, RuleSpec


def normalize_path(path: str) -> str:
    """Absolute, ``~``, ``.`` and ``..`` resolved (symlinks are not: a repo is where the user says)."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def enclosing_dirs(path: str) -> list[str]:
    """``path`` (normalised) and every folder above it, deepest first."""
    full = normalize_path(path)
    candidates = [full]
    while True:
        parent = os.path.dirname(full)
        if parent == full:
            return candidates
        candidates.append(parent)
        full = parent


def repo_for_path(conn: sqlite3.Connection, path: str) -> tuple[str, str] | None:
    """``(project_id, repo path)`` of the nearest registered repository enclosing ``path``."""
    candidates = enclosing_dirs(path)
    marks = ", ".join("?" * len(candidates))
    row = conn.execute(
        f"SELECT project_id, path FROM project_repos WHERE path IN ({marks}) "
        "ORDER BY length(path) DESC, created_at LIMIT 1",
        candidates,
    ).fetchone()
    return None if row is None else (row[0], row[1])


def exists(conn: sqlite3.Connection, table: str, ident: str) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ident,)).fetchone() is not None


def session_project(conn: sqlite3.Connection, claude_session_id: str) -> str | None:
    """The project of the claude_sessions row of ``claude_session_id``, if it has one."""
    row = conn.execute(
        "SELECT project_id FROM claude_sessions WHERE claude_session_id = ?", (claude_session_id,)
    ).fetchone()
    return None if row is None else row[0]


def setting(
    conn: sqlite3.Connection, key: str, project_id: str | None, environ: Mapping[str, str], default: Any
) -> Any:
    """A setting by the service's lookup order: NERV_<KEY>, the project's, the global one, default."""
    override = environ.get(env.setting_env_name(key))
    if override is not None:
        try:
            return json.loads(override)
        except ValueError:
            return override
    if project_id is not None:
        row = conn.execute(
            "SELECT value FROM settings WHERE key = ? AND project_id = ?", (key, project_id)
        ).fetchone()
        if row is not None:
            return json.loads(row[0])
    row = conn.execute("SELECT value FROM settings WHERE key = ? AND project_id IS NULL", (key,)).fetchone()
    return default if row is None else json.loads(row[0])


# -- rules ------------------------------------------------------------------------------


def rule_rows(conn: sqlite3.Connection, keys: Iterable[str], project_id: str | None) -> list[tuple[Any, ...]]:
    """``(id, tool, pattern, action, note)`` of the enabled rules a call with these index keys could meet.

    Prefiltered in SQL by ``match_key`` (see nerv.permissions.candidate_key / call_keys)
    and by scope (global rules plus ``project_id``'s), oldest first: the matcher
    reports the earliest of several deciding rules.
    """
    keys = list(dict.fromkeys(keys))
    if not keys:
        return []
    marks = ", ".join("?" * len(keys))
    scope = "(project_id IS NULL OR project_id = ?)" if project_id else "project_id IS NULL"
    params: list[Any] = [*keys, project_id] if project_id else keys
    return conn.execute(
        f"SELECT id, tool, pattern, action, note FROM approval_rules "
        f"WHERE enabled = 1 AND match_key IN ({marks}) AND {scope} ORDER BY created_at, rowid",
        params,
    ).fetchall()


# A long-running process (nerv serve) answers many calls against the same rules, so it
# reuses a compiled rule set while the candidate rows are the same. The key is the rows
# themselves (id, tool, pattern, action): any change to a rule in force is a new key.
_COMPILED: dict[tuple[tuple[Any, ...], ...], tuple[Any, list[Any]]] = {}
_COMPILED_MAX = 64


def evaluate(
    conn: sqlite3.Connection,
    tool_name: str,
    tool_input: Mapping[str, Any],
    project_id: str | None,
    ctx: MatchContext | None = None,
) -> tuple[Decision, dict[str, str]]:
    """The matcher's decision for one call under the rules in force (deny > ask > allow),
    and the notes of the rules it names (id -> note).

    A stored rule the matcher refuses (written by another version, or by hand)
    is left out; if any was, the call is never allowed: its answer becomes ask.
    """
    from nerv.permissions import CompiledRules, Decision, RuleSpec, RuleSyntaxError, call_keys

    rows = rule_rows(conn, call_keys(tool_name, tool_input), project_id)
    key = tuple((r[0], r[1], r[2], r[3]) for r in rows)
    cached = _COMPILED.get(key)
    if cached is None:
        specs = [RuleSpec(r[0], r[1], r[2] or None, r[3]) for r in rows]
        broken: list[RuleSpec] = []
        try:
            compiled = CompiledRules(specs)
        except RuleSyntaxError:
            good = []
            for spec in specs:
                try:
                    CompiledRules([spec])
                except RuleSyntaxError:
                    broken.append(spec)
                else:
                    good.append(spec)
            compiled = CompiledRules(good)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        cached = _COMPILED[key] = (compiled, broken)
    compiled, broken = cached
    decision = compiled.evaluate(tool_name, tool_input, ctx)
    if broken and decision.action in (None, "allow"):
        shown = ", ".join(f"{s.id} ({_rule_text(s)})" for s in broken[:3])
        decision = Decision("ask", (), f"invalid stored rule(s) {shown}: fix or remove them", decision.parts)
    named = {r.id for r in decision.rules}
    return decision, {r[0]: r[4] for r in rows if r[0] in named and r[4]}


def _rule_text(spec: RuleSpec) -> str:
    return spec.tool if not spec.pattern else f"{spec.tool}({spec.pattern})"
