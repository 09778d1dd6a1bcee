"""What nerv knows about particular programs: wrappers, shells, interpreters, downloaders.

A wrapper such as ``timeout 30 npm test`` runs another command; rules are
matched against both the command as written and the command it wraps.  Allow
rules only look through wrappers that do not change what the inner command can
do; deny and ask rules also look through ``sudo``, ``xargs``, ``exec``... so a
deny on ``rm -rf /`` also catches ``sudo rm -rf /``.
"""

from __future__ import annotations

import re

from nerv.permissions.shell import Token

# Variables that may precede a command that an allow rule matches (the rule
# ``Bash(npm test:*)`` allows ``NODE_ENV=test npm test``).  They change output
# formatting or test modes, not which code runs; variables such as PATH,
# LD_PRELOAD or NODE_OPTIONS can load arbitrary code and are not on the list.
HARMLESS_ENV = frozenset({
    "CI", "COLUMNS", "DEBUG", "FORCE_COLOR", "LANG", "LC_ALL", "NODE_ENV", "NO_COLOR",
    "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "RUST_BACKTRACE", "RUST_LOG", "TERM", "TZ",
})

ASSIGNMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")


class Wrapper:
    """How to find the wrapped command in a wrapper's arguments."""

    __slots__ = ("flags", "numeric", "positional", "stop", "with_arg")

    def __init__(self, with_arg: str = "", flags: str = "", positional: int = 0,
                 stop: str = "", numeric: bool = False) -> None:
        self.with_arg = frozenset(with_arg.split())  # options that take a value
        self.flags = frozenset(flags.split())  # options that take none
        self.positional = positional  # arguments before the command (timeout's duration)
        self.stop = frozenset(stop.split())  # options meaning "no command follows"
        self.numeric = numeric  # accepts '-10' style options (nice)


# Wrappers allow rules look through: they run the command unchanged apart from
# time limits, priority, buffering or environment (checked separately).
ALLOW_WRAPPERS: dict[str, Wrapper] = {
    "timeout": Wrapper("-s --signal -k --kill-after", "--preserve-status --foreground -v --verbose", 1),
    # '-o FILE' writes a file: an allow never looks through it (nor through 'env -C DIR').
    "time": Wrapper("-f --format", "-p -v --verbose -q --quiet --portability"),
    "nice": Wrapper("-n --adjustment", "", numeric=True),
    "nohup": Wrapper(),
    # 'command git status' skips shell functions; '-v' / '-V' only look the name up.
    "command": Wrapper("", "-p", stop="-v -V"),
    "stdbuf": Wrapper("-i -o -e --input --output --error"),
    "env": Wrapper("-u --unset", "-i --ignore-environment -0 --null -", stop="-S --split-string"),
}
# Wrappers only deny and ask rules look through.
DENY_WRAPPERS: dict[str, Wrapper] = {
    **ALLOW_WRAPPERS,
    "sudo": Wrapper("-u --user -g --group -C --close-from -D --chdir -h --host -p --prompt -r --role "
                    "-t --type -T --command-timeout -U --other-user",
                    "-A -b -E -H -i -k -K -n -P -S -s --askpass --background --preserve-env "
                    "--set-home --login --reset-timestamp --non-interactive --stdin --shell",
                    stop="-l --list -v --validate -e --edit"),
    "doas": Wrapper("-u -C", "-n -s"),
    "time": Wrapper("-f --format -o --output", "-p -v --verbose -a --append -q --quiet --portability"),
    "env": Wrapper("-u --unset -C --chdir", "-i --ignore-environment -0 --null -", stop="-S --split-string"),
    "builtin": Wrapper(),
    "exec": Wrapper("-a", "-c -l"),
    "xargs": Wrapper("-a --arg-file -d --delimiter -E -e --eof -I -i --replace -L -l --max-lines "
                     "-n --max-args -P --max-procs -s --max-chars --process-slot-var",
                     "-0 --null -o --open-tty -p --interactive -r --no-run-if-empty -t --verbose "
                     "-x --exit"),
    "ionice": Wrapper("-c --class -n --classdata", "-t --ignore"),
    "chrt": Wrapper("", "-a -b -d -f -i -o -r -R -v --all-tasks --batch --deadline --fifo --idle "
                    "--other --rr --reset-on-fork --verbose", 1),
    "watch": Wrapper("-n --interval -d --differences", "-t --no-title -b --beep -e --errexit -g "
                     "--chgexit -x --exec -p --precise"),
    "setsid": Wrapper("", "-c --ctty -f --fork -w --wait"),
    "flock": Wrapper("-w --wait --timeout -E --conflict-exit-code",
                     "-s --shared -x -e --exclusive -u --unlock -n --nb --nonblock -o --close -F --no-fork "
                     "--verbose", 1, stop="-c --command"),
    "taskset": Wrapper("", "-a --all-tasks -c --cpu-list", 1, stop="-p --pid"),
    "unbuffer": Wrapper("", "-p"),
    "busybox": Wrapper(),
    "strace": Wrapper("-o --output -e -p --attach -s --string-limit -u --user -E --env -P --trace-path "
                      "-a --columns -b --detach-on -I --interruptible -O -S --summary-sort-by -X "
                      "--const-print-style -U --summary-columns --trace --signal --status --quiet "
                      "--decode-fds",
                      "-f -ff -c -C -d -D -DD -DDD -h -i -k -q -qq -r -t -tt -ttt -T -v -V -w -x -xx -y -yy "
                      "-z -Z --follow-forks --output-separately --summary-only --summary"),
    "ltrace": Wrapper("-o --output -e -p -s -u -a -n -l --library",
                      "-f -c -C -d -h -i -r -S -t -tt -ttt -T -V"),
    "pkexec": Wrapper("-u --user", "--keep-cwd --disable-internal-agent"),
    "runuser": Wrapper("-u --user -g --group -G --supp-group -s --shell -w --whitelist-environment",
                       "-l --login -m -p --preserve-environment", stop="-c --command"),
    "run0": Wrapper("-u --user -g --group -D --chdir --setenv --nice --unit --property --description "
                    "--slice --background", "--no-ask-password --machine"),
    "chroot": Wrapper("--userspec --groups", "--skip-chdir", 1),
    "unshare": Wrapper("-S --setuid -G --setgid -R --root -w --wd --propagation",
                       "-m -u -i -n -p -U -C -T -f --fork -r --map-root-user --mount --uts --ipc --net --pid "
                       "--user --cgroup --time --mount-proc --kill-child"),
    "nsenter": Wrapper("-t --target -S --setuid -G --setgid -r --root -w --wd",
                       "-a --all -m -u -i -n -p -U -C -T -F --no-fork --preserve-credentials"),
}

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "busybox"})
# Program-text options of interpreters other than shells ('-m' names a module,
# which is not program text but does mean stdin is not the program).
_CODE_OPTIONS = {
    "python": ("-c", "-m"), "perl": ("-e", "-E"), "ruby": ("-e",), "node": ("-e", "-p", "--eval", "--print"),
    "php": ("-r",), "bun": ("-e", "--eval"),
}
_OPTION_ARGS = frozenset({"-o", "+o", "-O", "+O", "-W", "-X", "-r", "--rcfile", "--init-file", "-I"})
FETCHERS = frozenset({"curl", "wget", "fetch", "http", "https", "xh", "aria2c"})


def basename(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def interpreter_kind(name: str) -> str | None:
    """'shell', a key of _CODE_OPTIONS, or None for anything else."""
    if name in SHELLS:
        return "shell"
    stem = re.sub(r"[0-9.]+$", "", name)  # python3.11 -> python
    return stem if stem in _CODE_OPTIONS else None


def skip_assignments(words: list[Token], k: int) -> tuple[int, list[str]]:
    """Skip leading ``NAME=value`` words; return the next index and the names."""
    names: list[str] = []
    while k < len(words) and not words[k].op:
        m = ASSIGNMENT.match(words[k].raw)
        if not m:
            break
        names.append(m.group(1))
        k += 1
    return k, names


def unwrap(words: list[Token], k: int, *, for_allow: bool) -> int | None:
    """Index of the command that the wrapper at ``words[k]`` runs, or None."""
    table = ALLOW_WRAPPERS if for_allow else DENY_WRAPPERS
    if words[k].op:
        return None
    name = basename(words[k].value)
    spec = table.get(name)
    if spec is None:
        return None
    j = k + 1
    while j < len(words):
        w = words[j]
        if w.op:
            return None  # a redirection among the wrapper's options: too unusual to guess
        v = w.value
        if v == "--":
            j += 1
            break
        assignment = ASSIGNMENT.match(w.raw) if name == "env" else None
        if assignment is not None:
            if for_allow and assignment.group(1) not in HARMLESS_ENV:
                return None
            j += 1
            continue
        if not v.startswith("-") or (v == "-" and name != "env"):
            break
        if spec.numeric and re.fullmatch(r"-[+-]?\d+", v):
            j += 1
            continue
        opt, eq, _ = v.partition("=")
        if opt in spec.stop or (opt[:2] in spec.stop and not opt.startswith("--")):
            return None
        if opt in spec.with_arg:
            j += 1 if eq else 2
        elif opt in spec.flags or (not opt.startswith("--") and len(opt) > 2 and opt[:2] in spec.with_arg):
            j += 1  # '-oL', '-n10': the value is attached
        elif not opt.startswith("--") and len(opt) > 2 and all("-" + c in spec.flags for c in opt[1:]):
            j += 1  # combined short flags such as '-iE'
        elif for_allow:
            return None  # an option we do not know might change what runs
        else:
            j += 1  # deny side: assume an unknown option is a flag and keep looking
    for _ in range(spec.positional):
        if j >= len(words) or words[j].op:
            return None
        j += 1
    return j if j < len(words) else None


def stages(words: list[Token], *, for_allow: bool) -> list[int]:
    """Start indices of the command as written and of each command it wraps.

    ``LD_PRELOAD=x.so timeout 5 npm test`` gives the indices of ``LD_PRELOAD``,
    ``timeout`` and ``npm`` for deny rules, but only ``LD_PRELOAD`` for allow
    rules, because LD_PRELOAD is not a harmless variable.
    """
    out = [0]
    k = 0
    for _ in range(16):  # bounded: 'nice nice nice ...' cannot loop forever
        j, names = skip_assignments(words, k)
        if j > k:
            if for_allow and not all(name in HARMLESS_ENV for name in names):
                break
        else:
            nxt = unwrap(words, k, for_allow=for_allow)
            if nxt is None:
                break
            j = nxt
        if j >= len(words):
            break
        k = j
        out.append(k)
    return out


def _arguments(words: list[Token]) -> list[tuple[int, Token]]:
    """(index, token) of each argument after the program, skipping redirections."""
    out: list[tuple[int, Token]] = []
    skip = False
    for idx, tok in enumerate(words[1:], 1):
        if skip:
            skip = False
        elif tok.op:
            skip = True
        else:
            out.append((idx, tok))
    return out


def interpreter_mode(words: list[Token]) -> tuple[str, int] | None:
    """How an interpreter invocation gets its program.

    Returns ('inline', index of the code argument), ('file', index of the script
    argument), ('stdin', -1), ('module', -1), or None if ``words`` does not run
    an interpreter.
    """
    if not words or words[0].op:
        return None
    kind = interpreter_kind(basename(words[0].value))
    if kind is None:
        return None
    args = _arguments(words)
    if kind == "shell" and basename(words[0].value) == "busybox":
        if not args or args[0][1].value not in ("sh", "ash"):
            return None
        args = args[1:]
    code_opts = _CODE_OPTIONS.get(kind, ())
    inline = False
    stdin = False
    pos = 0
    while pos < len(args):
        idx, tok = args[pos]
        v = tok.value
        if v in ("--", "-"):
            stdin = stdin or v == "-"
            pos += 1
            break
        if v in code_opts or (v[:2] in code_opts and len(v) > 2):
            if v.startswith("-m"):
                return ("module", -1)
            if v not in code_opts:
                return ("inline", idx)  # '-cprint(1)': the code is attached
            return ("inline", args[pos + 1][0]) if pos + 1 < len(args) else ("stdin", -1)
        if kind == "shell" and len(v) > 1 and v[0] in "-+" and not v.startswith("--"):
            if v in _OPTION_ARGS:
                pos += 2
                continue
            if v[0] == "-" and "c" in v[1:]:
                inline = True
            if v[0] == "-" and "s" in v[1:]:
                stdin = True
            pos += 1
            continue
        if v in _OPTION_ARGS:
            pos += 2
            continue
        if v.startswith("-") and len(v) > 1:
            pos += 1
            continue
        break
    if inline:
        return ("inline", args[pos][0]) if pos < len(args) else ("stdin", -1)
    if stdin or pos >= len(args):
        return ("stdin", -1)
    return ("file", args[pos][0])


def argument_values(words: list[Token]) -> list[str]:
    return [tok.value for _, tok in _arguments(words)]
