"""File operands, redirect targets and command names whose value only bash knows.

The lead's probe found denied files reachable through spellings nerv could not
read ('"$HOME/.ssh/..."', '$(echo ~/.ssh/id_rsa)', '~/.ss?/id_rsa',
'~/.{ssh,x}/id_rsa', '$x/id_rsa') and programs named by an expansion
('$(which nerv) approvals approve'), all allowed under a broad allow.  Each is
here, with the law that no spelling of a denied path is ever allowed, and real
bash confirming that the spellings do name the denied file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nerv.permissions import CompiledRules, RuleSpec, default_rules
from nerv.permissions.model import MatchContext
from nerv.permissions.opaque import expand_braces, opaque_paths, reach, rule_segments

HOME = "/home/agent"
CTX = MatchContext(cwd="/work/proj", project_root="/work/proj", home=HOME)
BROAD = (("allow", "Bash"), ("allow", "Read"), ("allow", "Edit"))
NARROW = (("allow", "Bash(cat:*)"), ("allow", "Bash(echo:*)"), ("allow", "Bash(head:*)"),
          ("allow", "Bash(ls:*)"), ("allow", "Bash(git status:*)"), ("allow", "Read"), ("allow", "Edit"))


def compiled(rules: tuple[tuple[str, str], ...], defaults: bool = True) -> CompiledRules:
    specs = [RuleSpec.parse(f"r{n}", text, action) for n, (action, text) in enumerate(rules)]
    return CompiledRules([*(default_rules() if defaults else []), *specs])


RULES = {"broad": compiled(BROAD), "narrow": compiled(NARROW)}


def decide(command: str, which: str = "broad") -> str | None:
    return RULES[which].evaluate("Bash", {"command": command}, CTX).action


# -- the findings ------------------------------------------------------------------

FINDINGS = [
    # 1. $HOME inside double quotes resolves as unquoted $HOME does: denied outright.
    ('echo k >> "$HOME/.ssh/authorized_keys"', "deny"),
    ('cat "$HOME/.ssh/id_rsa"', "deny"),
    ('cat "${HOME}/.ssh/id_rsa"', "deny"),
    ('cat "$HOME"/.ssh/id_rsa', "deny"),
    # 2. an operand made by a command substitution may be anything.
    ("cat $(echo ~/.ssh/id_rsa)", "ask"),
    ("cat `echo ~/.ssh/id_rsa`", "ask"),
    ('cat "$(echo ~/.ssh/id_rsa)"', "ask"),
    # 3. globs that match the denied path.
    ("cat ~/.ss?/id_rsa", "deny"),
    ("cat ~/.ssh/*", "deny"),
    ("cat ~/.[s]sh/id_rsa", "deny"),
    ("cat ~/.s*/id_rsa", "deny"),
    ("cat ~/.aws/cred*", "deny"),
    ("ls ~/.ss?", "deny"),  # the folder itself: '.ssh/**' covers it
    # 4. brace expansion.
    ("cat ~/.{ssh,x}/id_rsa", "deny"),
    ("cat ~/{.ssh,.x}/{id_rsa,y}", "deny"),
    ("cat ~/.ssh/{a..z}", "deny"),  # a range: unknown words, all inside the folder
    # 5. a variable set earlier in the command.
    ("x=~/.ssh; cat $x/id_rsa", "ask"),
    ("x=~/.ssh; cat ${x}/id_rsa", "ask"),
    ("cat ~/.ssh/$f", "deny"),
    ("cat /tmp/$f", "ask"),  # '$f' may climb: '../home/agent/.ssh/id_rsa'
    ("cat ~/*/../.ssh/id_rsa", "deny"),  # '..' after a glob: the glob's folder is left again
    ("cat ~/*/../.s*/id_rsa", "ask"),
    ("cat ~/.*/id_rsa", "ask"),  # '.*' matches '..' as well
    ("echo k > ~/.ss?/authorized_keys", "deny"),
    ("cp x ~/.ss?/authorized_keys", "deny"),
]


@pytest.mark.parametrize("which", ["broad", "narrow"])
@pytest.mark.parametrize(("command", "expected"), FINDINGS)
def test_opaque_operands_of_denied_paths(command: str, expected: str, which: str) -> None:
    assert decide(command, which) == expected


COMMAND_NAMES = [
    "$(which nerv) approvals approve x",
    "x=nerv; $x approvals approve x",
    "`which rm` -rf /tmp/x",
    "${CMD} status",
    "sudo $x",
    "timeout 5 $(echo nerv) rules add x",
    "n?rv approvals approve x",
]


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_a_program_named_by_an_expansion_is_asked_about(command: str) -> None:
    decision = RULES["broad"].evaluate("Bash", {"command": command}, CTX)
    assert decision.action in ("ask", "deny")
    assert decision.action == "deny" or "only known at run time" in decision.reason


def test_a_program_named_by_an_expansion_is_allowed_when_no_bash_rule_guards() -> None:
    # With nothing a deny could be about, the whole-tool allow means what it says.
    only = compiled((("allow", "Bash"),), defaults=False)
    assert only.evaluate("Bash", {"command": "$(which nerv) status"}, CTX).action == "allow"
    guarded = compiled((("allow", "Bash"), ("deny", "Bash(nerv approvals:*)")), defaults=False)
    assert guarded.evaluate("Bash", {"command": "$(which nerv) status"}, CTX).action == "ask"
    assert guarded.evaluate("Bash", {"command": "nerv status"}, CTX).action == "allow"


# -- everyday forms keep working ------------------------------------------------------

EVERYDAY = [
    ("cat README.md", "narrow"),
    ("ls *.py", "broad"),
    ("ls src/*.py tests/test_*.py", "broad"),
    ("cat src/{a,b}.py", "broad"),
    ("git status | head -20", "narrow"),
    ("head -5 *.md", "narrow"),
    ("cat ~/notes/*.txt", "broad"),
    ("ls ~/*", "broad"),  # '*' never matches '.ssh'
    ("cat $(git rev-parse --show-toplevel)/README.md", "broad"),
    ('echo "$HOME" > /dev/null', "broad"),
]


@pytest.mark.parametrize(("command", "which"), EVERYDAY)
def test_everyday_forms_stay_allowed(command: str, which: str) -> None:
    if command.startswith("cat $("):
        # A substitution may be anything: asked about whenever deny rules on files exist.
        assert decide(command, which) == "ask"
        assert compiled(BROAD, defaults=False).evaluate("Bash", {"command": command}, CTX).action == "allow"
    else:
        assert decide(command, which) == "allow"


def test_a_floating_deny_meets_only_globs_that_can_name_it() -> None:
    rules = compiled((*BROAD, ("deny", "Read(.env)"), ("ask", "Read(*.pem)")), defaults=False)

    def action(command: str) -> str | None:
        return rules.evaluate("Bash", {"command": command}, CTX).action

    assert action("cat *.py") == "allow"
    assert action("cat sub/*") == "ask"  # may be sub/a.pem (and not sub/.env: '*' skips dot files)
    only_env = compiled((*BROAD, ("deny", "Read(.env)")), defaults=False)
    assert only_env.evaluate("Bash", {"command": "cat sub/*"}, CTX).action == "allow"
    assert only_env.evaluate("Bash", {"command": "cat sub/.*"}, CTX).action == "ask"  # '.*' may be '..'
    assert action("cat sub/.e*") == "deny"
    assert action("cat */.env") == "deny"
    assert action("cat keys/*") == "ask"  # may be keys/a.pem
    assert action("cat keys/*.txt") == "allow"


# -- the helpers ----------------------------------------------------------------------

def test_brace_expansion() -> None:
    assert sorted(expand_braces("~/.{ssh,x}/id") or []) == ["~/.ssh/id", "~/.x/id"]
    assert sorted(expand_braces("{a,{b,c}}d") or []) == ["ad", "bd", "cd"]
    assert expand_braces("{a}") == ["{a}"]
    assert expand_braces("{1..3}") is None
    assert expand_braces("{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}") is None  # 64 words: too many


def test_reach() -> None:
    rule, fixed = rule_segments(HOME, ".ssh/**", floating=False)
    (glob,) = opaque_paths("~/.ss?/id_rsa", ["/work/proj"], HOME)
    assert reach(glob, rule, fixed) == "inside"
    (star,) = opaque_paths("~/*/id_rsa", ["/work/proj"], HOME)
    assert reach(star, rule, fixed) is None
    (parent,) = opaque_paths("~/.s*", ["/work/proj"], HOME)
    assert reach(parent, rule, fixed) == "inside"  # ~/.ssh itself is covered by '.ssh/**'
    (var,) = opaque_paths("$x/id_rsa", ["/work/proj"], HOME)
    assert var.start is None and reach(var, rule, fixed) == "near"


# -- the law: no spelling of a denied path is ever allowed ------------------------------

def _segment(draw: st.DrawFn, seg: str) -> str:
    how = draw(st.sampled_from(["plain", "dq", "sq", "half", "glob", "class", "star", "brace"]))
    if how == "dq":
        return f'"{seg}"'
    if how == "sq":
        return f"'{seg}'"
    if how == "half":
        cut = draw(st.integers(1, len(seg)))
        return f'{seg[:cut]}"{seg[cut:]}"'
    if how == "glob":
        at = draw(st.integers(1, len(seg) - 1)) if len(seg) > 1 else 0
        return seg[:at] + ("?" if at else seg[0]) + seg[at + 1:]
    if how == "class":
        at = draw(st.integers(0, len(seg) - 1))
        return f"{seg[:at]}[{seg[at]}]{seg[at + 1:]}"
    if how == "star":
        keep = draw(st.integers(1, len(seg)))
        return seg[:keep] + "*"
    if how == "brace":
        return "{" + seg + ",zz}"
    return seg


@st.composite
def denied_spellings(draw: st.DrawFn) -> str:
    home = draw(st.sampled_from(["~", "$HOME", "${HOME}", '"$HOME"', '"${HOME}"', HOME]))
    path = draw(st.sampled_from([[".ssh", "id_rsa"], [".ssh", "authorized_keys"], [".aws", "credentials"],
                                 [".gnupg", "pubring.kbx"]]))
    return home + "/" + "/".join(_segment(draw, seg) for seg in path)


SHAPES = ["cat {}", "head -5 {}", "echo k > {}", "echo k >> {}", "grep key {}", "cp {} /tmp/y", "cat < {}",
          "git status; cat {}", "tee {} < /dev/null"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(denied_spellings(), st.sampled_from(SHAPES), st.sampled_from(["broad", "narrow"]))
def test_no_spelling_of_a_denied_path_is_allowed(spelling: str, shape: str, which: str) -> None:
    assert decide(shape.format(spelling), which) not in ("allow", None)


# -- real bash: the spellings do name the denied file ------------------------------------

@pytest.mark.parametrize("command", [c for c, _ in FINDINGS if c.startswith("cat ") and "$f" not in c
                                     and "{a..z}" not in c and "aws" not in c])
def test_bash_reads_the_key_through_each_spelling(command: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET\n")
    (home / ".ssh" / "y").write_text("SECRET\n")
    (home / "d").mkdir()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    done = subprocess.run(["bash", "--norc", "-c", command], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=30, check=False)
    assert "SECRET" in done.stdout


def test_assignments_and_unknown_folders() -> None:
    # An assignment alone runs no program; its substitution is checked as a command of its own.
    assert decide("x=$(date); echo $x") == "allow"
    # After 'cd $x' a relative name may be any file: '~/.ssh/id_rsa' when x is '~/.ssh'.
    assert decide("cd $x; cat id_rsa") == "ask"
    assert decide("cd src; cat main.py") == "allow"


def test_a_glob_below_a_link_meets_rules_where_the_link_leads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "k").symlink_to(home / ".ssh")
    ctx = MatchContext(cwd=str(proj), project_root=str(proj), home=str(home))
    rules = compiled(BROAD)
    assert rules.evaluate("Bash", {"command": "cat k/*"}, ctx).action == "deny"
    assert rules.evaluate("Bash", {"command": "cat k/id_rs?"}, ctx).action == "deny"
    assert rules.evaluate("Bash", {"command": "cat *.md"}, ctx).action == "allow"


def test_a_glob_matching_a_link_meets_rules_where_it_leads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "k").symlink_to(home / ".ssh")
    ctx = MatchContext(cwd=str(proj), project_root=str(proj), home=str(home))
    command = "cat ?/id_rsa"
    assert compiled(BROAD).evaluate("Bash", {"command": command}, ctx).action == "deny"
    done = subprocess.run(["bash", "--norc", "-c", command], cwd=proj, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.stdout == "SECRET\n"


def test_rules_test_explains_opaque_operands_and_programs() -> None:
    rows = RULES["narrow"].explain_bash("cat ~/.ss?/id_rsa; $x y", CTX)
    assert ("read ~/.ss?/id_rsa", "deny",
            "Read(~/.ssh/**) for read '~/.ss?/id_rsa' (may name a file it covers)") in rows
    assert ("program of $x y", "ask", "known only at run time: never allowed") in rows


def test_a_glob_naming_too_much_to_look_at_is_asked_about(tmp_path: Path) -> None:
    for n in range(4100):
        (tmp_path / f"f{n}.txt").write_text("x")
    ctx = MatchContext(cwd=str(tmp_path), project_root=str(tmp_path), home=HOME)
    rules = compiled(BROAD)
    assert rules.evaluate("Bash", {"command": "cat *.txt"}, ctx).action == "ask"
    assert rules.evaluate("Bash", {"command": "cat f1?.txt"}, ctx).action == "allow"
    assert rules.evaluate("Bash", {"command": "cat /*/*/*/none"}, ctx).action == "ask"  # not walked
