"""Differential test: nerv's reading of a command against what real bash runs.

Commands are generated from a small grammar around the allowed prefixes
(``git status``, ``npm test``) and hidden payloads (``touch p``, ``evil``,
``echo pwned > p``), nested in every construct the issue lists.  For each one
nerv would ALLOW, bash runs it in a scratch folder whose PATH holds only stub
programs that log their argv.  The test asserts that no payload ran, that
every program bash started is one nerv saw in an allowed part (with the same
arguments when the part is literal), and that no file was written.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from nerv.permissions import CompiledRules, RuleSpec, default_rules
from nerv.permissions.model import MatchContext
from nerv.permissions.programs import stages
from nerv.permissions.shell import ParseError, parse

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

RULES = [RuleSpec("allow-git", "Bash", "git status:*", "allow"),
         RuleSpec("allow-npm", "Bash", "npm test:*", "allow"),
         RuleSpec("allow-log", "Edit", "/allowed.txt", "allow")]
# The one file an allowed command may write (the Edit rule above).
WRITABLE = ["allowed.txt"]
STUBS = ("git", "npm", "touch", "evil", "rm", "cat", "head", "tail", "wc", "grep", "ls", "sudo", "curl", "sh",
         "env", "timeout", "nice", "find", "xargs", "id", "stat", "sort", "tee", "marker")
_RUNS = itertools.count()
SEP = "\x1f"
END = "\x1e"

ALLOWED = ["git status", "git status -s", "npm test", "npm test -- --ci", "git status --short .",
           "git status | head -5", "git status 2>/dev/null || true", "cd sub && git status",
           "command git status", "npm test | wc -l", "echo hi", "true", "git status $((16#1))",
           "git status $HOME", "timeout 5 npm test"]
PAYLOADS = ["touch p", "evil", "echo pwned > p", "rm -rf x", "marker", "echo pwned >> p"]
# The issue's examples with a slot for the payload.
ISSUE_FORMS = [
    "git status <(git status)#x; {P}", "git status >(git status)#x; {P}", "git status $${{x; {P}; echo }}",
    "git status $$'{{x'; {P}; echo }}", 'git status `echo \\"; {P}; echo \\"`', "git status $[1<<2]\n{P}\n2]",
    "git status $((1+\n2)); {P}", "git status <<EOF\nE\\\nOF\n{P}\nEOF", "git status <<EOF\nx\nEOF\n{P}",
    'git status "$(cat <<EOF\nx\nEOF)"\n{P}\nEOF\n)"', "for PATH in .; do git status; done; {P}",
    "x='a[$({P})]'; git status $((x))", "git status ${{x@P}}", "git status ${{!x}}", "{P}; git status $_",
    "(git status) > p", "{{ git status; }} > p", "git status > p", "npm test >> p", "git status &> p",
    "git status # ; {P}", "git status '#'; {P}", "git status \\# ; {P}", "git status\\\n; {P}",
    "git status $'\\x3b' ; {P}", "git status \"$(echo ';')\" ; {P}", "git status `{P}`", "git status $({P})",
    "git status <({P})", "git status >({P})", "if git status; then {P}; fi", "while false; do {P}; done",
    "! {P}", "time {P}", "coproc {P}", "f() {{ {P}; }}; f", "function f {{ {P}; }}; f",
    "case x in x) {P};; esac", "git status && {{ {P}; }}", "git status; ({P})", "git status | {P}",
    "git status |& {P}", "git status & {P}", "git status\n{P}", "git status;{P}", "git status&&{P}",
    "git status||{P}", "git status $(( 1 ))$({P})", "git status <<< \"$({P})\"",
    "git status <<'E'\n$({P})\nE",
    "git status <<E\n$({P})\nE", "git status <<-E\n\t$({P})\n\tE", "eval '{P}'", "git status; eval \"{P}\"",
    "IFS=x; git status", "PATH=.; git status", "git status ${{x:-$({P})}}", "git status \"${{x:-`{P}`}}\"",
    "git status $'\\'' ; {P} ; echo '", "git status \"\\\"\" ; {P}", "git status '\\'' ; {P} ; echo '",
    "npm test -- \"$(printf %s x)\" ; {P}", "git status $(git status $({P}))", "((1)) && {P}",
    "[[ 1 -eq 1 ]] && {P}", "git status ${{x#$({P})}}", "git status ~/$({P})", "git status {{a,b}}; {P}",
]


def _stub(path: Path) -> None:
    path.write_text(
        "#!/bin/sh\n"
        # One write per run, so stages of a pipeline logging at once do not interleave.
        f"line=$(printf '%s{SEP}' \"${{0##*/}}\" \"$@\")\n"
        f"printf '%s{END}' \"$line\" >> \"$NERV_STUB_LOG\"\n"
    )
    path.chmod(0o755)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("differential")
    (root / "bin").mkdir()
    for name in STUBS:
        _stub(root / "bin" / name)
    (root / "home").mkdir()
    return root


def _variants(rng: random.Random) -> str:
    """One command from the grammar: allowed parts and payloads nested in shell constructs."""
    def payload() -> str:
        text = rng.choice(PAYLOADS)
        return _disguise(rng, text)

    def cmd(depth: int) -> str:
        roll = rng.random()
        if depth > 2 or roll < 0.35:
            return rng.choice(ALLOWED) if rng.random() < 0.7 else payload()
        if roll < 0.55:
            return rng.choice(ISSUE_FORMS).replace("{P}", payload()).replace("{{", "{").replace("}}", "}")
        form = rng.choice([
            "{a}; {b}", "{a} && {b}", "{a} || {b}", "{a} | {b}", "({a})", "{{ {a}; }}", "git status $({a})",
            "git status `{a}`", "git status \"$({a})\"", "git status <({a})", "if {a}; then {b}; fi",
            "for i in 1 2; do {a}; done", "{a} # {b}", "{a} 2>/dev/null", "! {a}", "time {a}",
            "{a}\n{b}", "{a} &\n{b}", "git status <<E\n{a}\nE", "git status <<'E'\n$({a})\nE",
            "{a} > allowed.txt", "({a}) >> allowed.txt", "{{ {a}; }} 2> allowed.txt",
            "for i in 1; do {a}; done > allowed.txt", "if {a}; then {b}; fi &> allowed.txt",
            "{a} > allowed.txt; {b} > p", "while false; do {a}; done < allowed.txt",
            "f() {{ {a}; }}; f", "coproc {a}", "time {a} | {b}", "{a} \\\n && {b}", "{a} # {b}\n{b}",
        ])
        return form.format(a=cmd(depth + 1), b=cmd(depth + 1))

    return cmd(0)


def _disguise(rng: random.Random, text: str) -> str:
    """The payload with its program name quoted or escaped in one of bash's ways."""
    name, _, rest = text.partition(" ")
    how = rng.randrange(8)
    spelled = [name, f"'{name}'", f'"{name}"', f"\\{name}", f"$'{name}'", name[0] + "\\\n" + name[1:],
               f"{name[0]}''{name[1:]}", f"command {name}"][how]
    return f"{spelled} {rest}".rstrip()


def _allowed_argvs(command: str) -> tuple[set[tuple[str, ...]], set[str], set[str]]:
    """Argument vectors of the literal parts nerv allowed, every program it saw,
    and the programs of parts with words only known at run time."""
    argvs: set[tuple[str, ...]] = set()
    programs: set[str] = set()
    opaque: set[str] = set()
    for part in parse(command):
        words = part.words
        for k in stages(words, for_allow=False):
            inner = [t for t in words[k:]]
            values: list[str] = []
            skip = False
            literal = True
            for tok in inner:
                if skip:
                    skip = False
                elif tok.op:
                    skip = True
                else:
                    literal = literal and _literal(tok.raw)
                    values.append(tok.value)
            if values:
                programs.add(values[0])
                if literal:
                    argvs.add(tuple(values))
                else:
                    opaque.add(values[0])
    return argvs, programs, opaque


def _run(scratch: Path, command: str) -> tuple[list[tuple[str, ...]], list[str]]:
    work = scratch / "work"
    if work.exists():
        shutil.rmtree(work)
    (work / "sub").mkdir(parents=True)
    log = scratch / f"stub-{next(_RUNS)}.log"
    log.write_text("")
    env = {"PATH": str(scratch / "bin"), "HOME": str(scratch / "home"), "NERV_STUB_LOG": str(log),
           "LANG": "C"}
    # Pipes, not /dev/null: communicate() returns when every process holding
    # them has exited, background jobs ('x & y', coproc) included.
    with subprocess.Popen([BASH or "bash", "--norc", "--noprofile", "-c", command], cwd=work, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a generated loop that never ends
            proc.kill()
            proc.communicate()
    runs = [tuple(entry.split(SEP)[:-1]) for entry in log.read_text().split(END) if entry]
    files = sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.name != "sub")
    return runs, files


def _check(scratch: Path, rules: CompiledRules, command: str) -> bool:
    """Run ``command`` under bash if nerv allows it; fail on anything nerv did not see. True if it ran."""
    work = scratch / "work"
    ctx = MatchContext(cwd=str(work), project_root=str(work), home=str(scratch / "home"))
    decision = rules.evaluate("Bash", {"command": command}, ctx)
    if decision.action != "allow":
        return False
    try:
        argvs, programs, opaque = _allowed_argvs(command)
    except ParseError:  # pragma: no cover - nerv allowed what it could not parse
        pytest.fail(f"allowed but unparsable: {command!r}")
    runs, files = _run(scratch, command)
    for run in runs:
        assert run[0] not in ("touch", "evil", "rm", "marker", "sudo", "curl", "sh"), (command, run)
        assert run[0] in programs, (command, run, programs)
        literal = {a for a in argvs if a[0] == run[0]}
        if run[0] not in opaque:
            # Bash ran a program nerv saw; when every part naming it is literal,
            # the arguments must be those of one part nerv checked.
            assert run in literal, (command, run, literal)
    assert set(files) <= set(WRITABLE), (command, files)
    return True


def _literal(raw: str) -> bool:
    return not any(c in raw for c in "$`*?[{~") and not raw.startswith(("<(", ">("))


def test_issue_examples_under_bash(scratch: Path) -> None:
    rules = CompiledRules([*default_rules(), *RULES])
    ran = 0
    for form in ISSUE_FORMS:
        for text in PAYLOADS:
            command = form.replace("{P}", text).replace("{{", "{").replace("}}", "}")
            ran += _check(scratch, rules, command)
    for command in ALLOWED:
        assert _check(scratch, rules, command), command
        ran += 1
    assert ran >= len(ALLOWED)


def test_generated_commands_under_bash(scratch: Path) -> None:
    rng = random.Random(int(os.environ.get("NERV_DIFF_SEED", "8")))
    rules = CompiledRules([*default_rules(), *RULES])
    count = int(os.environ.get("NERV_DIFF_CASES", "2000"))
    ran = 0
    for _ in range(count):
        ran += _check(scratch, rules, _variants(rng))
    # Enough of them are allowed for the comparison to mean something.
    assert ran > count // 10
