"""CompiledRules: rules compiled once, indexed, and evaluated deny > ask > allow.

Precedence never depends on specificity or order: any matching deny wins,
then any ask, then allow.  When several rules of the winning action match, the
one that came first in the input is reported.

Bash: every simple command of a compound line must be allowed for the line to
be allowed; one denied (or ask) part makes the line denied (or ask).  A line
that cannot be parsed is never allowed: deny and ask rules are still tried on
whatever could be read, and otherwise the answer is "ask" - not None, because
None would let another layer's allow list approve a command nobody could read.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Mapping
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from nerv.permissions.bashpatterns import compile_bash, literal_head, required_words
from nerv.permissions.commands import MAX_COMMAND, Analysis, CommandPart, analyze_call
from nerv.permissions.files import FileRef
from nerv.permissions.model import Decision, MatchContext, RuleSpec, field_texts, value_text
from nerv.permissions.opaque import OpaquePath, opaque_paths, reach, rule_segments
from nerv.permissions.paths import PathPattern, first_segment, physical, resolve
from nerv.permissions.syntax import (
    ACTIONS,
    ALIASES,
    FAMILY,
    RuleSyntaxError,
    check_name,
    is_tool_glob,
    is_whole,
    mcp_server,
    parameter_rule,
    tool_key,
    validate_specifier,
)
from nerv.permissions.web import WebPattern, compile_glob, rule_hosts, url_hosts

if TYPE_CHECKING:
    from collections.abc import Iterable

# Input field holding the path, per file tool.
PATH_FIELDS = {
    "Read": "file_path", "Edit": "file_path", "Write": "file_path", "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path", "NotebookRead": "notebook_path",
    "Glob": "path", "Grep": "path", "LS": "path",
}
# Tools that search a directory and default to the working directory.
_DIR_TOOLS = frozenset({"Glob", "Grep"})
# For other tools, ``Tool(spec)`` is a glob over this field when the tool is
# known; otherwise over every top-level string value of the input.
PRIMARY_FIELDS = {
    "Task": "subagent_type", "Agent": "subagent_type", "WebSearch": "query",
    "Skill": "skill", "SlashCommand": "command",
}
_VERB = {"deny": "denied by", "ask": "ask:", "allow": "allowed by"}
_GLOB_CHARS = re.compile(r"[*?\[{]")
# Ends the reason of a call that can run but whose reach nerv cannot establish (asked about).
_UNKNOWABLE = "what it reaches cannot be known"


class _Rule:
    """A rule and its matcher.  Matchers are compiled on first use: a hook
    process evaluates one call, so most of a large rule set is never compiled."""

    __slots__ = ("_path", "_regex", "_web", "check", "kind", "order", "param", "spec")

    def __init__(self, spec: RuleSpec, order: int) -> None:
        self.spec = spec
        self.order = order
        self.check: str | None = None
        self._regex: re.Pattern[str] | None = None
        self._path: PathPattern | None = None
        self._web: WebPattern | None = None
        tool, pattern = spec.tool, spec.pattern
        self.param = parameter_rule(tool, pattern)
        if pattern is None or is_whole(pattern):
            self.kind = "whole"
        elif is_tool_glob(tool):
            raise RuleSyntaxError(f"rule {spec.id}: a tool name with '*' cannot take a specifier")
        elif self.param is not None:
            self.kind = "param"
        elif tool == "Bash":
            self.check = check_name(tool, pattern)
            self.kind = "check" if self.check else "bash"
        elif tool in FAMILY:
            self.kind = "path"
            # Deny and ask rules relative to the working directory match at any depth.
            self._path = PathPattern(pattern, float_relative=spec.action != "allow")
        elif tool == "WebFetch":
            self.kind = "web"
        else:
            self.kind = "generic"

    def bash(self, form: str) -> bool:
        if self._regex is None:
            self._regex = compile_bash(self.spec.pattern or "")
        return self._regex.fullmatch(form) is not None

    def test(self, target: str, bases: dict[str, str]) -> bool:
        """Whether a non-Bash rule matches a path, URL or input value."""
        pattern = self.spec.pattern or ""
        if self.kind == "whole":
            return True
        if self._path is not None:
            return self._path.matches(target, bases)
        if self.kind == "web":
            if self._web is None:
                self._web = WebPattern(pattern, strict=self.spec.action == "allow")
            return self._web.matches(target)
        if self.kind == "generic":
            if self._regex is None:
                self._regex = compile_glob(pattern)
            return self._regex.fullmatch(target) is not None
        return False

    def test_parameter(self, tool_input: Mapping[str, Any]) -> bool:
        """Whether a parameter rule (``Agent(model:opus)``) matches the call's top-level parameter."""
        if self.param is None or self.spec.action == "allow":
            return False  # an allow by one parameter would ignore what the call does
        name, glob = self.param
        if name not in tool_input:
            return False
        if self._regex is None:
            self._regex = compile_glob(glob, ignore_case=True)
        return self._regex.fullmatch(value_text(tool_input[name])) is not None


class CompiledRules:
    """Rules compiled and indexed for fast, repeated evaluation."""

    def __init__(self, rules: Iterable[RuleSpec]) -> None:
        self._by_tool: dict[str, list[_Rule]] = {}
        self._tool_globs: list[tuple[re.Pattern[str], _Rule]] = []
        # Path rules by (rule tool, anchor, first literal segment); WebFetch
        # rules by exact host.  Others stay in _by_tool and are always tried.
        self._path_index: dict[tuple[str, str, str], list[_Rule]] = {}
        self._host_index: dict[str, list[_Rule]] = {}
        # Parameter rules (``Bash(run_in_background:true)``) by tool key.
        self._params: dict[str, list[_Rule]] = {}
        self._bash_whole: dict[str, _Rule] = {}
        self._bash_checks: dict[str, list[_Rule]] = {a: [] for a in ACTIONS}
        # Bash pattern rules by the command's first word, by another word every
        # match must contain, or (neither known) in a list tried for every command.
        self._bash_index: dict[str, dict[str, list[_Rule]]] = {a: {} for a in ACTIONS}
        self._bash_words: dict[str, dict[str, list[_Rule]]] = {a: {} for a in ACTIONS}
        self._bash_loose: dict[str, list[_Rule]] = {a: [] for a in ACTIONS}
        self.count = 0
        self._file_rules: dict[str, list[_Rule]] = {}
        for order, spec in enumerate(rules):
            if spec.action not in ACTIONS:
                raise RuleSyntaxError(f"rule {spec.id}: unknown action {spec.action!r}")
            try:
                validate_specifier(spec.tool, spec.pattern)
                rule = _Rule(spec, order)
            except re.error as exc:  # pragma: no cover - patterns are escaped; kept as a guard
                raise RuleSyntaxError(f"rule {spec.id}: {exc}") from exc
            except RuleSyntaxError as exc:
                raise RuleSyntaxError(f"rule {spec.id} ({spec.text}): {exc}") from None
            self.count += 1
            self._add(rule)

    def _add(self, rule: _Rule) -> None:
        tool, action = rule.spec.tool, rule.spec.action
        if is_tool_glob(tool):
            regex = compile_glob(tool)
            self._tool_globs.append((regex, rule))
            if regex.fullmatch("Bash"):
                self._bash_whole.setdefault(action, rule)
            return
        if rule.kind == "param":
            self._params.setdefault(tool_key(tool), []).append(rule)
        elif rule.kind == "path" and rule._path is not None and rule._path.key is not None:
            key = (tool, rule._path.anchor, rule._path.key)
            self._path_index.setdefault(key, []).append(rule)
        elif rule.kind == "web" and rule_hosts(rule.spec.pattern or "", action):
            for host in rule_hosts(rule.spec.pattern or "", action):
                self._host_index.setdefault(host, []).append(rule)
        elif tool != "Bash":
            self._by_tool.setdefault(tool_key(tool), []).append(rule)
        elif rule.kind == "whole":
            self._bash_whole.setdefault(action, rule)
        elif rule.kind == "check":
            self._bash_checks[action].append(rule)
        else:
            pattern = rule.spec.pattern or ""
            head = literal_head(pattern)
            words = required_words(pattern) if head is None else []
            if head is not None:
                self._bash_index[action].setdefault(head, []).append(rule)
            elif words:
                self._bash_words[action].setdefault(max(words, key=len), []).append(rule)
            else:
                self._bash_loose[action].append(rule)

    # -- public -------------------------------------------------------------
    def evaluate(self, tool_name: str, tool_input: Mapping[str, Any],
                 ctx: MatchContext | None = None) -> Decision:
        """Decide a tool call: deny > ask > allow, or None when no rule decides.

        Input of the wrong shape (not an object, a ``command`` / ``file_path`` /
        ``url`` that is missing or not a string) still meets every deny and ask
        rule, on the text it holds, and is never allowed.
        """
        if not isinstance(tool_name, str) or not tool_name:
            return Decision(None, (), "tool call without a tool name; not allowed")
        if not isinstance(tool_input, Mapping):
            tool_input = {"input": tool_input}
        param = self._parameter_hit(tool_name, tool_input)
        if param is not None and param.action == "deny":
            return param
        if tool_name == "Bash":
            command = tool_input.get("command")
            bash_ctx = ctx or MatchContext()
            decision = (self._bash(command, bash_ctx) if isinstance(command, str)
                        else self._bash_malformed(tool_input, bash_ctx))
        else:
            decision = self._other(tool_name, tool_input, ctx or MatchContext())
        if param is not None and decision.action != "deny":
            return Decision(param.action, param.rules, param.reason, decision.parts)
        return decision

    def _parameter_hit(self, tool_name: str, tool_input: Mapping[str, Any]) -> Decision | None:
        """The first deny (else ask) parameter rule the call meets, as a decision."""
        if not self._params:
            return None
        names = dict.fromkeys(k for k in (tool_name, ALIASES.get(tool_name), mcp_server(tool_name)) if k)
        rules = sorted((r for n in names for r in self._params.get(n, ())), key=lambda r: r.order)
        for action in ("deny", "ask"):
            for rule in rules:
                if rule.spec.action == action and rule.test_parameter(tool_input):
                    name = rule.param[0] if rule.param else ""
                    shown = f"{name}={value_text(tool_input[name])}"
                    return Decision(action, (rule.spec,), f"{_VERB[action]} {rule.spec.text} ({shown})")
        return None

    def _bash_malformed(self, tool_input: Mapping[str, Any], ctx: MatchContext) -> Decision:
        """A Bash call whose ``command`` is missing or not a string: deny and ask rules see its text."""
        value = tool_input.get("command")
        shown = "no command" if value is None else f"a command that is not a string ({type(value).__name__})"
        decisions = [self._bash(text, ctx) for text in field_texts(value)]
        for action in ("deny", "ask"):
            for decision in decisions:
                if decision.action == action and decision.rules:
                    reason = f"{decision.reason} (Bash call with {shown})"
                    return Decision(action, decision.rules, reason, decision.parts)
        for action in ("deny", "ask"):
            whole = self._bash_whole.get(action)
            if whole is not None:
                return Decision(action, (whole.spec,), f"{_VERB[action]} {whole.spec.text}")
        return Decision(None, (), f"Bash call with {shown}; not allowed")

    def match_command(self, tool: str, command: str) -> RuleSpec | None:
        """The rule deciding ``command`` for ``tool`` (a command, path or URL), or None."""
        decision = self.evaluate(tool, input_for(tool, command))
        return decision.rules[0] if decision.action and decision.rules else None

    # -- Bash ---------------------------------------------------------------
    def _bash(self, command: str | None, ctx: MatchContext) -> Decision:
        if command is None:
            for action in ACTIONS:
                if action in self._bash_whole:
                    rule = self._bash_whole[action].spec
                    return Decision(action, (rule,), f"{_VERB[action]} {rule.text}")
            return Decision(None, (), "Bash call without a command")
        bases = context_bases(ctx)
        analysis, error = analyze_call(command, bases["home"])
        if error is not None:
            return self._bash_unparsable(command, analysis, error, bases)
        parts = tuple(dict.fromkeys(p.text for p in analysis.parts))
        compound = len(analysis.parts) > 1
        files = _BashFiles(self, analysis, bases)
        for action in ("deny", "ask"):
            hits = self._bash_hits(action, analysis) + files.hits(action)
            if hits:
                return _hit_decision(action, hits, parts, compound, "")
        deciding: list[RuleSpec] = []
        built_in: list[str] = []  # parts that are built-in read-only commands
        whole = self._bash_whole.get("allow")
        for part in analysis.parts:
            if not part.needs_allow:
                continue
            found = self._match_forms("allow", part.allow_forms, exact_only=part.exact_only)
            if whole is not None and (found is None or whole.order < found.order):
                found = whole
            if found is None and part.read_only and files.read_only_ok(part):
                built_in.append(part.text)
                continue
            if found is None:
                what = "part " if compound else ""
                why = " (it runs other commands: only an exact rule allows it)" if part.exact_only else ""
                return Decision(None, (), f"no rule allows {what}{part.text!r}{why}", parts)
            deciding.append(found.spec)
        # Allowing the whole tool allows anything a command could do, writes included.
        refused = files.unallowed_write() if whole is None else None
        if refused is not None:
            return Decision(None, (), refused, parts)
        unknown = next((p for p in analysis.parts if p.opaque_name), None)
        if unknown is not None and self._bash_guarded():
            # '$x approvals approve', '$(which nerv) ...': no deny rule can be tried on a name
            # nobody knows yet, so no allow (not even the whole tool) may let it run unasked.
            return Decision("ask", (), f"the program run by {unknown.text!r} is only known at run time: "
                            f"deny and ask rules cannot be checked", parts)
        deciding += files.write_rules
        if not deciding and not built_in:
            return Decision(None, (), "empty command", parts)
        shown = ", ".join(repr(text) for text in dict.fromkeys(built_in))
        if not deciding:
            reason = f"allowed: built-in read-only command(s) {shown}, no rule needed"
            return Decision("allow", (), reason, parts)
        if len(set(deciding)) == 1 and not built_in:
            return Decision("allow", tuple(deciding), f"allowed by {deciding[0].text}", parts)
        texts = ", ".join(dict.fromkeys(r.text for r in deciding))
        extra = f"; built-in read-only, no rule needed: {shown}" if built_in else ""
        reason = (f"allowed by {texts}{extra}" if built_in
                  else f"allowed: every part matches an allow rule ({texts})")
        return Decision("allow", tuple(dict.fromkeys(deciding)), reason, parts)

    def explain_bash(self, command: str,
                     ctx: MatchContext | None = None) -> list[tuple[str, str | None, str]]:
        """What decided each part of ``command``: ``(what, action, by)`` rows for every
        simple command, check, file read and file write (``nerv rules test``)."""
        bases = context_bases(ctx or MatchContext())
        rows: list[tuple[str, str | None, str]] = []
        analysis, error = analyze_call(command, bases["home"])
        if error is not None:
            rows.append(("(the whole command)", "ask", f"could not be parsed ({error}): never allowed"))
        for action in ("deny", "ask"):
            for rule in self._bash_checks[action]:
                if rule.check in analysis.findings:
                    found = analysis.findings[rule.check or ""]
                    rows.append((f"check:{rule.check}", action, f"{rule.spec.text}: {found}"))
        whole = self._bash_whole
        files = _BashFiles(self, analysis, bases)
        for part in analysis.parts:
            rows.append((part.text, *self._bash_explain_part(part, whole, files)))
        for tool, refs, verb in (("Read", files.reads, "read"), ("Edit", files.writes, "write")):
            for ref in refs:
                decisions = files._decide(tool, ref.path)
                decided = next((d for a in ACTIONS for d in decisions if d.action == a), decisions[0])
                verdict = decided.action
                shown = decided.rules[0].text if decided.rules else decided.reason
                if not ref.literal:
                    shown += " (path only known at run time: never allowed)"
                    if verdict not in ("deny", "ask"):
                        for opaque_action in ("deny", "ask"):
                            hits = files._opaque_hits(opaque_action, tool, ref, verb)
                            if hits:
                                verdict, shown = opaque_action, hits[0][1].text + hits[0][2]
                                break
                rows.append((f"{verb} {ref.path}", verdict, shown))
        unknown = next((p for p in analysis.parts if p.opaque_name), None)
        if unknown is not None and self._bash_guarded():
            rows.append((f"program of {unknown.text}", "ask", "known only at run time: never allowed"))
        return rows

    def _bash_explain_part(self, part: CommandPart, whole: dict[str, _Rule],
                           files: _BashFiles) -> tuple[str | None, str]:
        for action in ("deny", "ask"):
            found = self._match_forms(action, part.deny_forms)
            if action in whole and (found is None or whole[action].order < found.order):
                found = whole[action]
            if found is not None:
                return action, found.spec.text
        if not part.needs_allow:
            return None, "code run by another command: needs no allow of its own"
        found = self._match_forms("allow", part.allow_forms, exact_only=part.exact_only)
        if "allow" in whole and (found is None or whole["allow"].order < found.order):
            found = whole["allow"]
        if found is not None:
            return "allow", found.spec.text
        if part.read_only and files.read_only_ok(part):
            return "allow", "built-in read-only command (no rule needed)"
        why = " (runs other commands: only an exact rule allows it)" if part.exact_only else ""
        return None, f"no rule{why}"

    def _bash_hits(self, action: str, analysis: Analysis) -> list[_Hit]:
        hits: list[_Hit] = []
        whole = self._bash_whole.get(action)
        if whole is not None:
            hits.append((whole.order, whole.spec, ""))
        for rule in self._bash_checks[action]:
            if rule.check in analysis.findings:
                hits.append((rule.order, rule.spec, f" ({analysis.findings[rule.check or '']})"))
        for part in analysis.parts:
            found = self._match_forms(action, part.deny_forms)
            if found is not None:
                hits.append((found.order, found.spec, f" for part {part.text!r}"))
        return hits

    def _bash_guarded(self) -> bool:
        """Whether any deny or ask rule could be about a Bash command."""
        return any(self._bash_index[a] or self._bash_words[a] or self._bash_loose[a] or self._bash_checks[a]
                   or a in self._bash_whole for a in ("deny", "ask"))

    def file_rules(self, tool: str) -> list[_Rule]:
        """The deny and ask path rules a ``tool`` ("Read" or "Edit") call may meet, in order."""
        if tool not in self._file_rules:
            family = FAMILY.get(tool, tool)
            found = [r for (t, _, _), rules in self._path_index.items() for r in rules
                     if t in (tool, family) or (family == "Edit" and t == "Read" and r.spec.action == "deny")]
            found += self._candidates(tool)
            guards = {r for r in found if r.kind == "path" and r.spec.action != "allow"}
            self._file_rules[tool] = sorted(guards, key=lambda r: r.order)
        return self._file_rules[tool]

    def _match_forms(self, action: str, forms: tuple[str, ...], *, exact_only: bool = False) -> _Rule | None:
        """The earliest rule of ``action`` matching any of ``forms`` (with no ``*`` if ``exact_only``)."""
        index, by_word, loose = self._bash_index[action], self._bash_words[action], self._bash_loose[action]
        best: _Rule | None = None
        for form in forms:
            words = form.split()
            if not words:
                continue
            candidates = chain(index.get(words[0], ()), loose,
                               *(by_word[w] for w in set(words) if w in by_word))
            for rule in candidates:
                if exact_only and "*" in (rule.spec.pattern or "*"):
                    continue
                if (best is None or rule.order < best.order) and rule.bash(form):
                    best = rule
        return best

    def _bash_unparsable(self, command: str, analysis: Analysis, error: str,
                         bases: dict[str, str]) -> Decision:
        """Never allowed; deny and ask rules are tried on what a lenient reading found and on the raw text."""
        whole_text = command[:MAX_COMMAND].strip()
        raw = CommandPart(whole_text, (), (whole_text, " ".join(whole_text.split())), False)
        parts = tuple(dict.fromkeys([*(p.text for p in analysis.parts), whole_text]))
        note = f" (command could not be parsed: {error})"
        files = _BashFiles(self, analysis, bases)
        for action in ("deny", "ask"):
            hits = self._bash_hits(action, analysis) + files.hits(action)
            found = self._match_forms(action, raw.deny_forms)
            if found is not None:
                hits.append((found.order, found.spec, f" for part {whole_text!r}"))
            if hits:
                return _hit_decision(action, hits, parts, True, note)
        return Decision("ask", (), f"command could not be parsed ({error}); no rule can allow it", parts)

    # -- other tools ----------------------------------------------------------
    def _candidates(self, tool_name: str) -> list[_Rule]:
        keys = dict.fromkeys(k for k in (tool_name, FAMILY.get(tool_name), ALIASES.get(tool_name),
                                         mcp_server(tool_name)) if k)
        # Exact names, the Read/Edit family, Task/Agent, and the MCP server
        # ('mcp__srv' and 'mcp__srv__*' rules are both filed under 'mcp__srv').
        found = [rule for key in keys for rule in self._by_tool.get(key, ())]
        if FAMILY.get(tool_name) == "Edit":
            # A Read deny also blocks writing the file: what cannot be read cannot be replaced.
            found += [rule for rule in self._by_tool.get("Read", ()) if rule.spec.action == "deny"]
        found += [rule for regex, rule in self._tool_globs if regex.fullmatch(tool_name)]
        return found

    def _indexed_paths(self, tool_name: str, views: list[tuple[str, dict[str, str]]]) -> list[_Rule]:
        if not self._path_index:
            return []
        tools = dict.fromkeys((tool_name, FAMILY[tool_name]))
        found: list[_Rule] = []
        for target, bases in views:
            for anchor, base in bases.items():
                segment = first_segment(target, base)
                if segment is None:
                    continue
                for tool in tools:
                    found += self._path_index.get((tool, anchor, segment), ())
                if FAMILY[tool_name] == "Edit":
                    found += [r for r in self._path_index.get(("Read", anchor, segment), ())
                              if r.spec.action == "deny"]
        return found

    def _other(self, tool_name: str, tool_input: Mapping[str, Any], ctx: MatchContext) -> Decision:
        """Every tool but Bash.  Bash calls this too, as ``_other("Edit" / "Read", {"file_path": p}, ctx)``,
        for redirect targets and the files of file commands."""
        rules = self._candidates(tool_name)
        # views: (subject, bases) pairs every deny and ask rule is tried on; checked: those an
        # allow must cover; problem: why the call is never allowed (bad input, unknowable links).
        problem = ""
        written: list[str] = []  # file tools: the paths as written (the others are where links lead)
        if tool_name in FAMILY:
            views, checked, problem = path_views(tool_name, tool_input, ctx)
            written = path_targets(tool_name, tool_input, context_bases(ctx))
            rules += self._indexed_paths(tool_name, views)
        elif tool_name == "WebFetch":
            url = tool_input.get("url")
            if isinstance(url, str):
                views = checked = [(url, {})]
            else:
                views, checked = [(t, {}) for t in field_texts(url)], []
                problem = _bad_field("url", url)
            for text, _ in views:
                for host in url_hosts(text, for_allow=False):
                    rules += self._host_index.get(host, ())
        else:
            targets, allow_targets, problem = _generic_targets(tool_name, tool_input)
            views = [(t, {}) for t in targets]
            checked = [] if problem else [(t, {}) for t in allow_targets]
        if not rules:
            return Decision(None, (), f"{tool_name} call with {problem}; not allowed" if problem
                            else f"no rule for {tool_name}")
        rules = sorted(set(rules), key=lambda r: r.order)
        subjects = written or list(dict.fromkeys(t for t, _ in checked or views))
        shown = f" for {subjects[0]!r}" if len(subjects) == 1 else ""
        for action in ("deny", "ask"):
            for rule in rules:
                if rule.spec.action != action or rule.kind == "param":
                    continue
                if rule.kind == "whole":
                    return Decision(action, (rule.spec,), f"{_VERB[action]} {rule.spec.text}{shown}")
                hit = next((t for t, b in views if rule.test(t, b)), None)
                if hit is not None:
                    # Say so when the rule met where a link leads rather than the path as written.
                    linked = written and hit not in written
                    via = f" (reached through a symbolic link: {hit!r})" if linked else ""
                    return Decision(action, (rule.spec,), f"{_VERB[action]} {rule.spec.text}{shown}{via}")
        if problem:
            # Never allowed.  Input of the wrong shape cannot run (None: no rule decides); a path
            # whose links cannot be followed can, so it is asked about.
            verdict = "ask" if problem.endswith(_UNKNOWABLE) else None
            return Decision(verdict, (), f"{tool_name} call with {problem}; not allowed")
        allows = [r for r in rules if r.spec.action == "allow" and r.kind != "param"]
        whole = next((r for r in allows if r.kind == "whole"), None)
        if whole is not None:
            return Decision("allow", (whole.spec,), f"allowed by {whole.spec.text}")
        deciding: list[RuleSpec] = []
        for target, bases in checked:
            allowed = next((r for r in allows if r.test(target, bases)), None)
            if allowed is None:
                return Decision(None, (), f"no rule allows {tool_name} {target!r}")
            deciding.append(allowed.spec)
        if not deciding:
            return Decision(None, (), f"no rule matches this {tool_name} call")
        unique = tuple(dict.fromkeys(deciding))
        return Decision("allow", unique, f"allowed by {', '.join(r.text for r in unique)}{shown}")


# A deny or ask found in a Bash command: (rule order, rule, where it hit, e.g. " for part 'x'").
_Hit = tuple[int, RuleSpec, str]
# Working directories followed through 'cd a && cd b ...' before relative paths count as unknown.
_MAX_CWDS = 16
# Files a Bash glob may name that are each checked; beyond this the glob is asked about.
_MAX_GLOB_FILES = 4096
_MAX_GLOB_LEVELS = 2


def _hit_decision(action: str, hits: list[_Hit], parts: tuple[str, ...], compound: bool,
                  note: str) -> Decision:
    hits.sort(key=lambda h: h[0])
    rules = tuple(dict.fromkeys(spec for _, spec, _ in hits))
    _, spec, where = hits[0]
    if not compound and where.startswith(" for part "):
        where = ""
    more = f" (+{len(rules) - 1} more)" if len(rules) > 1 else ""
    return Decision(action, rules, f"{_VERB[action]} {spec.text}{where}{more}{note}", parts)


class _BashFiles:
    """The files a Bash command reads and writes, checked as Read and Edit calls.

    Relative paths are checked from the working directory and from every
    directory a ``cd`` in the command may have moved to.  Deny and ask rules hit
    on any of them; a write is allowed only when an Edit rule allows it from
    every one of them and its path is known (no expansion or glob).
    """

    def __init__(self, rules: CompiledRules, analysis: Analysis, bases: dict[str, str]) -> None:
        self.rules = rules
        self.bases = bases
        self.reads, self.writes = analysis.files()
        self.redirected = analysis.writes  # need an Edit allow; a file command's files only deny/ask
        self.write_rules: list[RuleSpec] = []
        cwds = [bases["cwd"]]
        self.cwd_known = True
        for ref in analysis.cd_dirs:
            if not ref.literal or len(cwds) > _MAX_CWDS:
                self.cwd_known = False  # too many places to follow: relative paths are unknown
                continue
            cwds = list(dict.fromkeys(cwds + [resolve(ref.path, c, bases["home"]) for c in cwds]))
        self.cwds = cwds
        self._cache: dict[tuple[str, str], Decision] = {}
        self._globbed: dict[str, list[str] | None] = {}  # glob -> the files it names now (None: not looked)
        # Where read-only built-ins may read without a rule: the project and working directory.
        self.homes = {p for b in (bases["root"], bases["cwd"]) for p in (b, os.path.realpath(b))}

    def _decide(self, tool: str, path: str) -> list[Decision]:
        out: list[Decision] = []
        for cwd in (self.cwds if not path.startswith(("/", "~")) else self.cwds[:1]):
            # The path as written, not normalised: _other follows links before applying '..',
            # as the kernel does ('link/../key' is the key beside the link's target).
            key = (tool, _absolute(path, cwd, self.bases["home"]))
            if key not in self._cache:
                ctx = MatchContext(cwd=cwd, project_root=self.bases["root"], home=self.bases["home"])
                self._cache[key] = self.rules._other(tool, {"file_path": key[1]}, ctx)
            out.append(self._cache[key])
        return out

    def hits(self, action: str) -> list[_Hit]:
        found: list[_Hit] = []
        for tool, refs, verb in (("Read", self.reads, "read of"), ("Edit", self.writes, "write to")):
            for ref in refs:
                for decision in self._decide(tool, ref.path):
                    if decision.action == action and decision.rules:
                        found.append((1 << 40, decision.rules[0], f" for {verb} {ref.path!r}"))
                if not ref.literal or (not self.cwd_known and not ref.path.startswith(("/", "~"))):
                    # Also a relative path after 'cd $x': where it lies is known only at run time.
                    found += self._opaque_hits(action, tool, ref, verb)
        return found

    def _opaque_hits(self, action: str, tool: str, ref: FileRef, verb: str) -> list[_Hit]:
        """Rules a path only bash can know (glob, brace, variable, substitution) may meet.

        A rule it may reach inside of hits with the rule's own action; one it may only come
        near (a directory above, or anything at all when a variable or '..' can lead anywhere)
        makes the call an ask: it is never allowed unasked.
        """
        rules = self.rules.file_rules(tool)
        if not rules:
            return []
        home = self.bases["home"]
        readings = opaque_paths(ref.path, self.cwds if self.cwd_known else [], home)
        # The folder it starts in may be a symbolic link ('k/*' with k -> ~/.ssh): where it leads counts too.
        for reading in list(readings):
            if reading.start is not None:
                real = physical(reading.start)
                if real != reading.start:
                    readings.append(OpaquePath(real, reading.segments, reading.unbounded or real is None))
        real_bases = _real_bases(self.bases)
        found: list[_Hit] = []
        # The files the glob names today, each checked as a literal path (links followed): a
        # glob may match a link ('?/id_rsa' with k -> ~/.ssh) that no text comparison sees.
        for reading in readings:
            if reading.start is None or reading.unbounded or not reading.segments:
                continue
            pattern_text = "/".join([glob.escape(reading.start.rstrip("/")), *reading.segments])
            if pattern_text not in self._globbed:
                # Each wildcard segment may list a whole tree: beyond two, asking is cheaper than looking.
                deep = sum(1 for seg in reading.segments if _GLOB_CHARS.search(seg)) > _MAX_GLOB_LEVELS
                self._globbed[pattern_text] = (None if deep else
                                               list(islice(glob.iglob(pattern_text), _MAX_GLOB_FILES + 1)))
            matches = self._globbed[pattern_text]
            if matches is None or len(matches) > _MAX_GLOB_FILES:
                if action == "ask":
                    many = f" for {verb} {ref.path!r} (names too many files to check)"
                    found.append((1 << 40, rules[0].spec, many))
                continue
            # A match whose folders are all real is what the comparison above already reasoned about.
            for match in (m for m in matches if os.path.realpath(m) != os.path.normpath(m)):
                for decision in self._decide(tool, match):
                    if decision.action == action and decision.rules:
                        found.append((1 << 40, decision.rules[0], f" for {verb} {ref.path!r} ({match!r})"))
        for rule in rules:
            pattern = rule._path
            if pattern is None or (rule.spec.action != action and action != "ask"):
                continue
            cwds = [*self.cwds, *(os.path.realpath(c) for c in self.cwds)]
            anchored = [self.bases[pattern.anchor], real_bases[pattern.anchor]]
            for base in dict.fromkeys(cwds if pattern.anchor == "cwd" else anchored):
                for _ in range(pattern.ups):
                    base = os.path.dirname(base)
                segments, fixed = rule_segments(base, pattern.rel, pattern.floating)
                met = {reach(reading, segments, fixed) for reading in readings}
                hit = (action == rule.spec.action and "inside" in met) or (action == "ask" and "near" in met)
                if hit:
                    how = "may name a file it covers" if "inside" in met else "may lead to a file it covers"
                    found.append((1 << 40, rule.spec, f" for {verb} {ref.path!r} ({how})"))
                    break
        return found

    def unallowed_write(self) -> str | None:
        """Why a redirection's write is not allowed, or None when Edit rules allow every one."""
        for ref in self.redirected:
            if not ref.literal or (not self.cwd_known and not ref.path.startswith(("/", "~"))):
                return f"write to {ref.path!r}: the file cannot be known before the command runs"
            for decision in self._decide("Edit", ref.path):
                if decision.action != "allow":
                    return f"no Edit rule allows the write to {ref.path!r}"
                self.write_rules += decision.rules
        return None

    def read_only_ok(self, part: CommandPart) -> bool:
        """A read-only built-in needs no rule when it stays in the project: its
        files (and a cd's directory) are inside the project or working directory,
        or Read rules allow them."""
        refs = [*part.reads, *part.inputs, *([part.cd] if part.cd is not None else [])]
        for ref in refs:
            if not ref.literal or (not self.cwd_known and not ref.path.startswith(("/", "~"))):
                return False
            for cwd in (self.cwds if not ref.path.startswith(("/", "~")) else self.cwds[:1]):
                path = resolve(ref.path, cwd, self.bases["home"])
                # Lexically and after symlinks: a link in the project may point anywhere.
                inside = all(any(p == b or p.startswith(b.rstrip("/") + "/") for b in self.homes if b != "/")
                             for p in (path, os.path.realpath(path)))
                if not inside and self._decide("Read", path)[0].action != "allow":
                    return False
        return True


def context_bases(ctx: MatchContext) -> dict[str, str]:
    """The folders rules are anchored at, as written (``..`` and ``.`` removed, links not followed)."""
    home = os.path.expanduser("~") if ctx.home is None else ctx.home
    home = resolve(home, "/", "/")
    cwd = resolve(ctx.cwd or os.getcwd(), os.getcwd(), home)
    root = resolve(ctx.project_root, cwd, home) if ctx.project_root else cwd
    return {"abs": "/", "home": home, "root": root, "cwd": cwd}


def _real_bases(bases: dict[str, str]) -> dict[str, str]:
    """The same folders with symbolic links followed (as written where that cannot be known)."""
    return {anchor: physical(base) or base for anchor, base in bases.items()}


def path_targets(tool_name: str, tool_input: Mapping[str, Any], bases: dict[str, str]) -> list[str]:
    """The paths a file tool call names, normalised as written (see :func:`path_views` for links)."""
    return [lexical for lexical, _ in _raw_targets(tool_name, tool_input, bases)]


def _raw_targets(tool_name: str, tool_input: Mapping[str, Any],
                 bases: dict[str, str]) -> list[tuple[str, str]]:
    """``(normalised path, absolute path as written)`` for each path the call reads or writes."""
    cwd, home = bases["cwd"], bases["home"]
    raw = tool_input.get(PATH_FIELDS.get(tool_name, "file_path"))
    if isinstance(raw, str) and raw and "\0" not in raw:
        written = _absolute(raw, cwd, home)
    elif raw is None and tool_name in _DIR_TOOLS:
        written = cwd
    else:
        return []
    base = resolve(written, "/", home)
    targets = [(base, written)]
    pattern = tool_input.get("pattern")
    if tool_name == "Glob" and isinstance(pattern, str) and "\0" not in pattern:
        # The literal start of a Glob pattern is a directory it will read too:
        # pattern '../../home/me/.ssh/*' reads ~/.ssh whatever 'path' says.
        literal: list[str] = []
        for segment in pattern.split("/"):
            if _GLOB_CHARS.search(segment):
                break
            literal.append(segment)
        prefix = "/".join(literal)
        if prefix or pattern.startswith("/"):
            extra_written = _absolute(prefix or "/", written, home)
            extra = resolve(extra_written, "/", home)
            if extra != base:
                targets.append((extra, extra_written))
    return targets


def _absolute(path: str, cwd: str, home: str) -> str:
    """``path`` made absolute (``~`` expanded, joined to ``cwd``) but not normalised: ``..`` must be
    applied after links are followed, as the kernel does."""
    if path == "~" or path.startswith("~/"):
        return home + path[1:]
    return path if path.startswith("/") else cwd + "/" + path


_Views = list[tuple[str, dict[str, str]]]


def path_views(tool_name: str, tool_input: Mapping[str, Any],
               ctx: MatchContext) -> tuple[_Views, _Views, str]:
    """What a file tool call is checked against: ``(views, checked, problem)``.

    Each path is taken twice: as written (normalised, with the anchors as
    written) and as the file it really reaches (links followed, with the
    anchors' own links followed).  Deny and ask rules are tried on every view,
    including the real path against the anchors as written; an allow must
    cover both the path as written and the real one.  ``problem`` says why the
    call can never be allowed: its path is missing or not a string, or where
    a link leads cannot be known (a loop, an unreadable folder).
    """
    bases = context_bases(ctx)
    field = PATH_FIELDS.get(tool_name, "file_path")
    targets = _raw_targets(tool_name, tool_input, bases)
    if not targets:
        value = tool_input.get(field)
        texts = [t for t in field_texts(value) if t and "\0" not in t]
        return [(resolve(t, bases["cwd"], bases["home"]), bases) for t in texts], [], _bad_field(field, value)
    real = _real_bases(bases)
    views: _Views = []
    checked: _Views = []
    problem = ""
    pattern = tool_input.get("pattern")
    if tool_name == "Glob" and isinstance(pattern, str) and not _glob_stays_below(pattern):
        problem = f"a Glob pattern that can climb out of its folder ({pattern[:80]!r}): {_UNKNOWABLE}"
    for lexical, written in targets:
        views.append((lexical, bases))
        checked.append((lexical, bases))
        reached = physical(written)
        if reached is None:
            problem = f"a path whose symbolic links cannot be followed ({lexical!r}): {_UNKNOWABLE}"
            continue
        if reached != lexical or real != bases:
            views += [(reached, real), (reached, bases)]
            checked.append((reached, real))
    return _unique(views), _unique(checked), problem


_BRACES = re.compile(r"\{([^{}]*)\}")


def _glob_stays_below(pattern: str) -> bool:
    """Whether a Glob pattern reads only below its literal start: after the first wildcard there is no
    ``..`` segment, and no ``{a,b}`` alternative holds a ``/`` or ``..`` (``{/etc,src}/*`` reads /etc)."""
    segments = pattern.split("/")
    first = next((i for i, seg in enumerate(segments) if _GLOB_CHARS.search(seg)), len(segments))
    rest = "/".join(segments[first:])
    if ".." in segments[first:]:
        return False
    groups = _BRACES.findall(rest)
    if any("/" in group or ".." in group for group in groups):
        return False
    return rest.count("{") == len(groups)  # nested or unclosed braces: not read here


def _unique(views: _Views) -> _Views:
    out: _Views = []
    for view in views:
        if view not in out:
            out.append(view)
    return out


def _bad_field(field: str, value: Any) -> str:
    if value is None:
        return f"no {field}"
    if isinstance(value, str):
        return f"an unusable {field} ({value[:80]!r})"
    return f"a {field} that is not a string ({type(value).__name__})"


# What a known tool does when its primary field is left out: deny and ask rules see that value.
_PRIMARY_DEFAULTS = {"Agent": "general-purpose", "Task": "general-purpose"}


def _generic_targets(tool_name: str, tool_input: Mapping[str, Any]) -> tuple[list[str], list[str], str]:
    """``(subjects for deny and ask, subjects an allow must cover, problem)``.

    A known tool: its primary field (``subagent_type``...); left out, deny and
    ask rules see the tool's default (an Agent call without one runs the
    general-purpose agent) and only a whole-tool allow covers it.  Any other
    tool (MCP...): every string in its input, nested ones included; numbers
    and booleans are inert.
    """
    field = PRIMARY_FIELDS.get(tool_name)
    if field is not None:
        value = tool_input.get(field)
        if isinstance(value, str):
            return [value], [value], ""
        if value is None:
            default = _PRIMARY_DEFAULTS.get(tool_name)
            return ([default] if default else []), [], ""
        return field_texts(value), [], _bad_field(field, value)
    texts: list[str] = []
    strings: list[str] = []
    for value in tool_input.values():
        if isinstance(value, str):
            texts.append(value)
            strings.append(value)
        elif isinstance(value, (list, tuple, Mapping)):
            texts += field_texts(value)
            strings += _nested_strings(value)
    return list(dict.fromkeys(texts)), list(dict.fromkeys(strings)), ""


def _nested_strings(value: Any, depth: int = 0) -> list[str]:
    if isinstance(value, str):
        return [value]
    if depth > 20:
        return [value_text(value)]  # deeper than any real input: the whole of it must match
    if isinstance(value, Mapping):
        value = list(value.values())
    items = value if isinstance(value, (list, tuple)) else ()
    return [text for item in items for text in _nested_strings(item, depth + 1)]


def input_for(tool: str, value: str) -> dict[str, str]:
    """The tool input whose subject is ``value``: a command, path, URL or primary field."""
    if tool == "Bash":
        return {"command": value}
    if tool in PATH_FIELDS:
        return {PATH_FIELDS[tool]: value}
    if tool == "WebFetch":
        return {"url": value}
    return {PRIMARY_FIELDS.get(tool, "input"): value}
