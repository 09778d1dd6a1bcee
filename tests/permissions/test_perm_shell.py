"""split_command: where one command ends and the next begins."""

from __future__ import annotations

import pytest

from nerv.permissions import split_command


@pytest.mark.parametrize(
    ("command", "parts"),
    [
        ("npm test", ["npm test"]),
        ("  npm   test  ", ["npm test"]),
        ("npm test && rm -rf /", ["npm test", "rm -rf /"]),
        ("a || b", ["a", "b"]),
        ("a; b;", ["a", "b"]),
        ("a | b", ["a", "b"]),
        ("a |& b", ["a", "b"]),
        ("a & b &", ["a", "b"]),
        ("a\nb\n\nc", ["a", "b", "c"]),
        ("a &&\n  b", ["a", "b"]),
        ("a \\\n  --flag", ["a --flag"]),
        ("npm test $(sudo x)", ["npm test $(sudo x)", "sudo x"]),
        ("npm test `sudo x`", ["npm test `sudo x`", "sudo x"]),
        ('echo "$(rm -rf /)"', ['echo "$(rm -rf /)"', "rm -rf /"]),
        ('echo "`rm -rf /`"', ['echo "`rm -rf /`"', "rm -rf /"]),
        ("echo '$(rm -rf /)'", ["echo '$(rm -rf /)'"]),
        ("echo 'a && b; c | d'", ["echo 'a && b; c | d'"]),
        ('echo "a && b; c | d"', ['echo "a && b; c | d"']),
        ("echo a\\;b", ["echo a\\;b"]),
        ("diff <(sort a) >(tee b)", ["diff <(sort a) >(tee b)", "sort a", "tee b"]),
        ("(cd x && make) > log", ["cd x", "make"]),
        ("{ a; b; } 2>/dev/null", ["a", "b"]),
        ("if a; then b; elif c; then d; else e; fi", ["a", "b", "c", "d", "e"]),
        ("while read l; do echo $l; done < f", ["read l", "echo $l"]),
        ("for f in $(ls); do rm $f; done", ["ls", "rm $f"]),
        ("! grep -q x f", ["grep -q x f"]),
        ("a 2>&1 > out.txt", ["a 2>&1 > out.txt"]),
        ("a>out 2>&1", ["a >out 2>&1"]),
        ("npm test&>log;cat log", ["npm test &>log", "cat log"]),
        ("echo --x=<(date)", ["echo --x=<(date)", "date"]),
        ("a &>/dev/null && b", ["a &>/dev/null", "b"]),
        ("a >&2", ["a >&2"]),
        ("cat <<< 'x; y'", ["cat <<< 'x; y'"]),
        ("echo a # && rm -rf /", ["echo a"]),
        ("echo a#b", ["echo a#b"]),
        ("echo $((1 + 2)) && b", ["echo $((1 + 2))", "b"]),
        ("echo $(( $(id -u) + 1 ))", None),  # the output would be evaluated as an expression again
        ("echo $( (a; b) )", ["echo $( (a; b) )", "a", "b"]),
        ("echo ${x:-$(rm -rf /)}", ["echo ${x:-$(rm -rf /)}", "rm -rf /"]),
        ("echo $(echo $(echo deep))", ["echo $(echo $(echo deep))", "echo $(echo deep)", "echo deep"]),
        ("x=$(y) z", ["x=$(y) z", "y"]),
        ("echo `echo \\`id\\``", ["echo `echo \\`id\\``", "echo `id`", "id"]),
        ("cat <<EOF\n$(evil)\nEOF", ["cat <<EOF", "evil"]),
        ("cat <<'EOF'\n$(not run)\nEOF", ["cat <<'EOF'"]),
        ("cat <<-EOF && b\n\tx\n\tEOF", ["cat <<-EOF", "b"]),
        ('git commit -m "$(cat <<\'EOF\'\nmsg; rm\nEOF\n)"',
         ['git commit -m "$(cat <<\'EOF\'\nmsg; rm\nEOF\n)"', "cat <<'EOF'"]),
        ("((i++))", None),  # assigns: arithmetic must be literal
        ("((16#1 + 2))", []),
        ("", []),
        ("# only a comment", []),
        ("echo $'a\\'; rm'", ["echo $'a\\'; rm'"]),
    ],
)
def test_split(command: str, parts: list[str] | None) -> None:
    assert split_command(command) == parts


@pytest.mark.parametrize(
    "command",
    [
        "echo 'unterminated",
        'echo "unterminated',
        "echo `unterminated",
        "echo $(unterminated",
        "echo $'unterminated",
        "a &&",
        "a ||",
        "a |",
        "; a",
        "a ; ; b",
        "a && && b",
        "a )",
        "(a",
        "echo \\",
        "cat <<EOF\nno end",
        "cat <<",
        "a >",
        "a > > b",
        "case x in a) b;; esac",
        "f() { rm -rf /; }; f",
        "function f { x; }",
        "arr=(a b)",
        "echo ${x:-'}'}; rm -rf /",
        "echo " + "$(" * 60 + ")" * 60,
    ],
)
def test_unparsable(command: str) -> None:
    assert split_command(command) is None


def test_deep_nesting_is_rejected_not_crashed() -> None:
    assert split_command("( " * 500 + "a" + " )" * 500) is None
    assert split_command("$(" * 500 + "a" + ")" * 500) is None
    assert split_command("{ " * 500 + "a;" + " };" * 500) == ["a"]  # groups need no nesting in the reader


def test_arithmetic_command_runs_no_program() -> None:
    assert split_command("((" * 10 + "1" + "))" * 10) == []
