"""A small bash-syntax reader that finds every simple command in a command line.

It is not a shell: it only needs to know where one command ends and the next
begins, and which text runs as a command of its own (``$( )``, backticks,
``<( )``, subshells, here-documents with expansions).  Anything it does not
understand raises :class:`ParseError`, because a permission check that guessed
wrong about command boundaries could be tricked into allowing a hidden command.

``lenient`` mode is for deny checks on commands that failed to parse: it
recovers from errors as best it can so deny rules still see most commands.
"""

from __future__ import annotations

import re

# Characters that end an unquoted word.
_WORD_END = frozenset(" \t\n;&|()<>")
# Redirection operators, longest first so the scan takes the longest match.
_REDIRECTS = ("&>>", "&>", "<<<", "<<-", "<<", "<>", "<&", ">>", ">|", ">&", "<", ">")
# Nesting of $( ), subshells and backticks; deeper input is rejected rather than
# risking Python's recursion limit.
_MAX_DEPTH = 40
# Simple commands read before giving up: bounds the work on hostile input (a
# line of 'sh|sh|sh|...') while leaving far more than any real command needs.
MAX_COMMANDS = 1000
# Reserved words that may open a command and are not themselves a program.
_OPENERS = frozenset({"!", "{", "if", "then", "else", "elif", "do", "while", "until"})
_CLOSERS = frozenset({"}", "fi", "done", "esac"})
_UNSUPPORTED = frozenset({"case", "function", "coproc", "select"})
_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b",
                 "E": "\x1b", "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}
_ANSI_NUMERIC = re.compile(r"\\(?:x([0-9A-Fa-f]{1,2})|u([0-9A-Fa-f]{1,4})|U([0-9A-Fa-f]{1,8})|([0-7]{1,3}))")
_FD_PREFIX = re.compile(r"\d+|\{[A-Za-z_][A-Za-z0-9_]*\}")
_PLAIN_RUN = re.compile(r"[^ \t\n;&|()<>\\'\"`$]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# One-character special parameters: '$$' is the process id, so '$${' is not '${'.
_SPECIAL_PARAMS = frozenset("$?#!-@*0123456789")
# Arithmetic is understood only when it is literal: numbers (with bases) and
# operators that assign nothing.  A name, '$x' or '$( )' inside it is evaluated
# again as an expression, and 'a[$(cmd)]' in such a value runs cmd.
_ARITH_TOKEN = re.compile(
    r"\s+|[0-9]+#[0-9A-Za-z@_]+|0[xX][0-9A-Fa-f]+|[0-9]+"
    r"|\*\*|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%<>&|^~!?:,()]")
# ${...}: what may follow the name.  Assignments (':=', '='), substrings and
# subscripts (arithmetic), indirection ('!') and transformations ('@P' runs
# prompt expansion) are not understood.
_BRACE_HEAD = re.compile(r"#?(?:[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[$?#!*@-])")
_BRACE_OPS = (":-", ":+", ":?", "##", "%%", "//", "/#", "/%", "^^", ",,",
              "-", "+", "?", "#", "%", "/", "^", ",")
# Loop variables and standalone assignments that change how later commands run.
SENSITIVE_NAMES = frozenset({
    "PATH", "HOME", "IFS", "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "CDPATH",
    "GLOBIGNORE", "BASH_XTRACEFD", "PWD", "OLDPWD", "TMPDIR", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT",
    "PYTHONPATH", "PYTHONSTARTUP", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT", "GIT_DIR", "GIT_WORK_TREE",
    "EDITOR", "VISUAL", "PAGER", "GIT_PAGER", "BASH_LOADABLES_PATH", "http_proxy", "https_proxy",
    "all_proxy", "no_proxy", "ftp_proxy", "LC_ALL", "LANG",
})


class ParseError(ValueError):
    """The command uses syntax this reader does not handle, or is malformed."""


class TooManyCommands(ParseError):
    """More than MAX_COMMANDS simple commands: lenient mode keeps those read so far.

    ``partial`` holds them in strict mode too: up to that point the text parsed
    strictly, so they are exactly what a lenient reading would give.
    """

    partial: tuple[list[Part], list[tuple[Token, Token]]] | None = None


class Token:
    """One word or redirection operator of a simple command."""

    __slots__ = ("heredoc", "op", "plain", "raw", "space", "value")

    def __init__(self, raw: str, value: str, space: bool, *, op: bool = False, plain: bool = True) -> None:
        self.raw = raw  # source text, line continuations removed
        self.value = value  # after quote removal; expansions are left as written
        self.space = space  # whitespace separated it from the previous token
        self.op = op  # a redirection operator such as '>' or '2>&'
        self.plain = plain  # no quoting, escaping or expansion: may be a reserved word
        self.heredoc: str | None = None  # the body, for '<<' operators

    def __repr__(self) -> str:
        return f"Token({self.raw!r})"


class Part:
    """A simple command found in the input, with where it came from."""

    __slots__ = ("id", "parent", "parent_token", "pipeline", "stage", "start", "tokens", "via")

    def __init__(self, tokens: list[Token], start: int, ident: int, parent: tuple[int, int] | None,
                 via: str, pipeline: int, stage: int) -> None:
        self.tokens = tokens  # every token, including leading reserved words
        self.start = start  # index of the first token that belongs to the command
        self.id = ident  # allocated when the command starts, so ids follow source order
        # (id, token index) of the command whose word contains this one, for $( ) etc.
        self.parent = parent[0] if parent else None
        self.parent_token = parent[1] if parent else -1
        self.via = via  # '' top level, '$(', '`', '<(', '>(', '(' or '<<' (here-document)
        self.pipeline = pipeline
        self.stage = stage  # position within its pipeline

    @property
    def words(self) -> list[Token]:
        return self.tokens[self.start:]

    @property
    def text(self) -> str:
        return join_raw(self.words)


def join_raw(tokens: list[Token]) -> str:
    """Tokens as written, with each run of blanks between them made one space.

    A redirection always gets a space before it, so ``npm test>log`` reads as
    ``npm test >log`` and still meets ``Bash(npm test:*)``.
    """
    return "".join((" " if k and (t.space or t.op) else "") + t.raw for k, t in enumerate(tokens))


def join_values(tokens: list[Token]) -> str:
    """Tokens after quote removal, spaced like :func:`join_raw`."""
    return "".join((" " if k and (t.space or t.op) else "") + t.value for k, t in enumerate(tokens))


def _ansi_c(body: str) -> str:
    def numeric(m: re.Match[str]) -> str:
        digits = next(g for g in m.groups() if g is not None)
        code = int(digits, 8 if m.group(4) is not None else 16)
        return chr(min(code, 0x10FFFF))

    body = _ANSI_NUMERIC.sub(numeric, body)
    return re.sub(r"\\(.)", lambda m: _ANSI_ESCAPES.get(m.group(1), "\\" + m.group(1)), body, flags=re.S)


class _Frame:
    """The command currently being read; nested commands record it as parent."""

    __slots__ = ("fixed", "ident", "tokens")

    def __init__(self, ident: int, tokens: list[Token], fixed: int | None = None) -> None:
        self.ident = ident
        self.tokens = tokens
        self.fixed = fixed  # token index for here-document bodies read after the command

    def position(self) -> tuple[int, int]:
        return self.ident, len(self.tokens) if self.fixed is None else self.fixed


class _Parser:
    def __init__(self, src: str, lenient: bool) -> None:
        self.s = src
        self.n = len(src)
        self.i = 0
        self.lenient = lenient
        self.parts: list[Part] = []
        # Every redirection (operator, target), also those on subshells, groups and loops.
        self.redirects: list[tuple[Token, Token]] = []
        self.frames: list[_Frame] = []
        # pending here-documents: (operator token, delimiter, strip tabs, expands, owner)
        self.heredocs: list[tuple[Token, str, bool, bool, tuple[int, int]]] = []
        self.ids = 0
        self.pipelines = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------
    def error(self, message: str) -> None:
        """Strict mode stops here; lenient mode returns so the caller can recover."""
        if not self.lenient:
            raise ParseError(message)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.s[j] if j < self.n else ""

    def skip_blanks(self) -> bool:
        start = self.i
        while self.i < self.n:
            c = self.s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and self.peek(1) == "\n":
                self.i += 2
            else:
                break
        return self.i > start

    def sub(self, source: str, run: str) -> None:
        """Read ``source`` in this parser's state: as commands (``run="list"``, backtick
        text) or only for the ``$( )`` and backticks it expands (arithmetic, here-documents)."""
        saved = (self.s, self.n, self.i, self.heredocs)
        self.s, self.n, self.i, self.heredocs = source, len(source), 0, []
        try:
            if run == "list":
                self.command_list(None, "`")
            else:
                # A here-document body is not in double quotes: '\"' inside its
                # backticks stays a backslash and a quote, as outside quotes.
                self.double_quoted(closing=False, quoted=run != "heredoc")
            if self.heredocs:
                self.error(f"unterminated here-document (missing {self.heredocs[0][1]!r})")
        finally:
            self.s, self.n, self.i, self.heredocs = saved

    # -- command lists -----------------------------------------------------
    def command_list(self, closer: str | None, via: str) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ParseError("commands nested too deeply")
        parent = self.frames[-1].position() if self.frames else None
        pipeline, stage = self.pipelines, 0
        self.pipelines += 1
        pending: str | None = None  # an operator that still needs a command after it
        try:
            while True:
                tokens: list[Token] = []
                ident = self.ids
                self.ids += 1
                if ident >= MAX_COMMANDS:
                    raise TooManyCommands(f"more than {MAX_COMMANDS} commands")
                self.frames.append(_Frame(ident, tokens))
                try:
                    term, grouped = self.command(tokens, closer)
                finally:
                    self.frames.pop()
                if tokens or grouped:
                    self.check_redirects(tokens)
                    if grouped:
                        if any(not t.op for t in words_only(tokens)):
                            self.error("unexpected word after a subshell")
                    else:
                        self.emit(tokens, ident, parent, via, pipeline, stage)
                elif term in (";", "&", "&&", "||", "|", "|&"):
                    self.error(f"syntax error near {term!r}")
                elif pending:
                    self.error(f"missing command after {pending!r}")
                pending = term if term in ("&&", "||", "|", "|&") else None
                if term in ("|", "|&"):
                    stage += 1
                else:
                    pipeline, stage = self.pipelines, 0
                    self.pipelines += 1
                if term == ")":
                    return
                if term == "":
                    if closer is not None:
                        self.error(f"unterminated {via!r}")
                    return
        finally:
            self.depth -= 1

    def check_redirects(self, tokens: list[Token]) -> None:
        for k, tok in enumerate(tokens):
            if tok.op and (k + 1 >= len(tokens) or tokens[k + 1].op):
                self.error(f"missing target after redirection {tok.raw!r}")
            elif tok.op:
                self.redirects.append((tok, tokens[k + 1]))

    def emit(self, tokens: list[Token], ident: int, parent: tuple[int, int] | None,
             via: str, pipeline: int, stage: int) -> None:
        start = 0
        while start < len(tokens) and _is_word(tokens[start], _OPENERS):
            start += 1
        if start == len(tokens):
            return  # 'then' or 'do' alone on a line
        first = tokens[start]
        if _is_word(first, _CLOSERS):
            # 'done < file' or '} > out': only redirections may follow a closer.
            if any(not t.op for t in words_only(tokens[start + 1:])):
                self.error(f"unexpected word after {first.raw!r}")
            return
        if _is_word(first, _UNSUPPORTED):
            self.error(f"{first.raw!r} blocks are not supported")
            return
        if _is_word(first, {"for"}):
            # The loop header's words are data (substitutions in it were already
            # read), but the loop assigns its variable: 'for PATH in /x' changes
            # which program every command in the body runs.
            name = tokens[start + 1].value if start + 1 < len(tokens) else ""
            if not _LOOP_NAME.fullmatch(name) or name in SENSITIVE_NAMES:
                self.error(f"for-loop variable {name!r} is not a plain lower-case name")
            return
        if _is_word(first, {"[["}):
            # Inside [[ ]] '<', '&&' and '(' are not operators, and '-eq' evaluates
            # its operands as arithmetic (which can run commands).
            self.error("'[[ ]]' conditionals are not supported")
        for tok in tokens[start:]:
            if tok.op:
                break
            assigned = _ASSIGNED.match(tok.raw)
            if assigned is None:
                break
            sensitive = assigned.group(1) in SENSITIVE_NAMES and _only_assignments(tokens, start)
            if "[" in assigned.group() or sensitive:
                self.error(f"assignment to {assigned.group(1)!r} is not supported")
        self.parts.append(Part(tokens, start, ident, parent, via, pipeline, stage))

    def command(self, tokens: list[Token], closer: str | None) -> tuple[str, bool]:
        """Read one simple command; return the operator that ended it and whether it was a group."""
        grouped = False
        while True:
            space = self.skip_blanks()
            if self.i >= self.n:
                return "", grouped
            c = self.s[self.i]
            if c == "#":
                if not space and self.i > 0 and self.s[self.i - 1] not in "\n;&|(":
                    # bash starts a comment only at the start of a word: after
                    # '<(x)' the '#' continues the word, after '>' it is an error.
                    self.error("'#' directly after an operator or substitution")
                    tokens.append(self.word(space))  # lenient: read it as bash does, as text
                    continue
                end = self.s.find("\n", self.i)
                self.i = self.n if end < 0 else end
                continue
            if c == "\n":
                self.i += 1
                self.read_heredocs()
                if tokens or grouped:
                    return "\n", grouped
                continue
            if c == ";":
                self.i += 1
                if self.peek() == ";":
                    self.error("';;' (case) is not supported")
                    self.i += 1
                return ";", grouped
            if c == "&":
                nxt = self.peek(1)
                if nxt == "&":
                    self.i += 2
                    return "&&", grouped
                if nxt == ">":
                    self.redirect(tokens, space)
                    continue
                self.i += 1
                return "&", grouped
            if c == "|":
                nxt = self.peek(1)
                if nxt in "|&" and nxt:
                    self.i += 2
                    return "|" + nxt, grouped
                self.i += 1
                return "|", grouped
            if c == ")":
                self.i += 1
                if closer == ")":
                    return ")", grouped
                self.error("unexpected ')'")
                return ";", grouped  # lenient: 'case' patterns end here, so treat it as a break
            if c == "(":
                if tokens or grouped:
                    # 'name() { ...; }' or 'arr=(...)': definitions we do not model
                    self.error("unexpected '(' (functions and arrays are not supported)")
                self.group()
                grouped = True
                continue
            if c in "<>" and self.peek(1) == "(":
                start = self.i
                self.i += 2
                self.nested_list(c + "(")
                raw = self.s[start:self.i]
                tokens.append(Token(raw, raw, space, plain=False))
                if self.i < self.n and self.s[self.i] not in _WORD_END:
                    self.error("text joined to a process substitution")
                continue
            if c in "<>":
                self.redirect(tokens, space)
                continue
            tokens.append(self.word(space))

    def group(self) -> None:
        """A '(' at command start: a subshell, or an arithmetic '(( ))' command."""
        if self.peek(1) == "(":
            self.i = self.arithmetic(self.i + 2)
            return
        self.i += 1
        # Commands in a subshell are not arguments of an enclosing command.
        frame = self.frames.pop()
        try:
            self.nested_list("(")
        finally:
            self.frames.append(frame)

    def nested_list(self, via: str) -> None:
        """Commands up to a ')'.  A here-document started inside must also end
        inside: bash 5.2 ends one at 'EOF)' on the same line, older versions do not."""
        queued = len(self.heredocs)
        self.command_list(")", via)
        if len(self.heredocs) > queued:
            self.error("here-document not finished inside its parentheses")

    def redirect(self, tokens: list[Token], space: bool) -> None:
        op = next(o for o in _REDIRECTS if self.s.startswith(o, self.i))
        self.i += len(op)
        raw = op
        prev = tokens[-1] if tokens else None
        if prev is not None and not space and not prev.op and prev.plain and _FD_PREFIX.fullmatch(prev.raw):
            tokens.pop()
            raw, space = prev.raw + op, prev.space
        tok = Token(raw, raw, space, op=True, plain=False)
        tokens.append(tok)
        if op in ("<<", "<<-"):
            gap = self.skip_blanks()
            if self.i >= self.n or self.s[self.i] in _WORD_END:
                self.error("missing here-document delimiter")
                return
            delim = self.word(gap)
            if any(c in delim.raw for c in "$`"):
                self.error("here-document delimiter with an expansion")
            tokens.append(delim)
            owner = self.frames[-1].ident if self.frames else -1
            quoted = any(q in delim.raw for q in "'\"\\")
            self.heredocs.append((tok, delim.value, op == "<<-", not quoted, (owner, len(tokens) - 2)))

    def read_heredocs(self) -> None:
        pending, self.heredocs = self.heredocs, []
        for tok, delim, strip_tabs, expands, owner in pending:
            lines: list[str] = []
            while True:
                if self.i >= self.n:
                    self.error(f"unterminated here-document (missing {delim!r})")
                    break
                end = self.s.find("\n", self.i)
                end = self.n if end < 0 else end
                line = self.s[self.i:end]
                self.i = min(end + 1, self.n)
                bare = line.lstrip("\t") if strip_tabs else line
                if bare == delim:
                    break
                if bare.startswith(delim + ")"):
                    # 'EOF)' ends the body inside $( ) in bash 5.2; other versions differ.
                    self.error(f"here-document line starting with its delimiter {delim!r}")
                if expands and line.endswith("\\"):
                    # Unquoted delimiter: backslash-newline joins lines before the
                    # delimiter is looked for ('E\' + newline + 'OF' ends the body).
                    self.error("backslash at the end of a here-document line")
                lines.append(line)
            tok.heredoc = "\n".join(lines)
            if expands and tok.heredoc:
                # Unquoted delimiter: $( ) and backticks in the body run.
                self.frames.append(_Frame(owner[0], [], owner[1]))
                try:
                    self.sub(tok.heredoc, "heredoc")
                finally:
                    self.frames.pop()

    # -- words ---------------------------------------------------------------
    def word(self, space: bool) -> Token:
        start = self.i
        out: list[str] = []
        plain = True
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c in _WORD_END:
                break
            if c == "\\":
                nxt = self.peek(1)
                if nxt == "\n":
                    self.i += 2
                    continue
                if not nxt:
                    self.error("trailing backslash")
                    out.append("\\")
                    self.i += 1
                    continue
                out.append(nxt)
                plain = False
                self.i += 2
            elif c == "'":
                plain = False
                end = s.find("'", self.i + 1)
                if end < 0:
                    self.error("unterminated single quote")
                    end = self.n
                out.append(s[self.i + 1:end])
                self.i = end + 1
            elif c == '"':
                plain = False
                self.i += 1
                out.append(self.double_quoted(closing=True))
            elif c == "`":
                plain = False
                out.append(self.backtick(in_quotes=False))
            elif c == "$":
                nxt = self.peek(1)
                if nxt == "'":
                    plain = False
                    out.append(self.ansi_c())
                elif nxt == '"':
                    plain = False
                    self.i += 1  # $"..." is a translated string: quote it like "..."
                else:
                    expansion = self.dollar()
                    plain = plain and expansion == "$"
                    out.append(expansion)
            else:
                run = _PLAIN_RUN.match(s, self.i)  # fast path: a stretch of ordinary characters
                end = run.end() if run else self.i + 1
                out.append(s[self.i:end])
                self.i = end
        raw = s[start:self.i].replace("\\\n", "")
        return Token(raw, "".join(out), space, plain=plain)

    def double_quoted(self, *, closing: bool, quoted: bool = True) -> str:
        """Read up to the closing '"' (or the end, for here-document bodies)."""
        out: list[str] = []
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == '"' and closing:
                self.i += 1
                return "".join(out)
            if c == "\\":
                nxt = self.peek(1)
                if nxt == "\n":
                    self.i += 2
                    continue
                if nxt and nxt in '$`"\\':
                    out.append(nxt)
                    self.i += 2
                    continue
                out.append("\\")
                self.i += 1
            elif c == "`":
                out.append(self.backtick(in_quotes=quoted))
            elif c == "$":
                out.append(self.dollar())
            else:
                out.append(c)
                self.i += 1
        if closing:
            self.error("unterminated double quote")
        return "".join(out)

    def ansi_c(self) -> str:
        j = self.i + 2
        while j < self.n and self.s[j] != "'":
            j += 2 if self.s[j] == "\\" else 1
        if j >= self.n:
            self.error("unterminated $'...' string")
        body = self.s[self.i + 2:min(j, self.n)]
        self.i = min(j + 1, self.n)
        return _ansi_c(body)

    def backtick(self, *, in_quotes: bool) -> str:
        start = self.i
        j = self.i + 1
        inner: list[str] = []
        escaped = "$`\\\"" if in_quotes else "$`\\"
        while j < self.n and self.s[j] != "`":
            c = self.s[j]
            if c == "\\" and j + 1 < self.n:
                nxt = self.s[j + 1]
                # Inside backticks a backslash only escapes $, ` and \ (and " in double quotes).
                inner.append(nxt if nxt in escaped else c + nxt)
                j += 2
                continue
            inner.append(c)
            j += 1
        if j >= self.n:
            self.error("unterminated backtick")
        self.i = min(j + 1, self.n)
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise ParseError("commands nested too deeply")
            self.sub("".join(inner), "list")
        finally:
            self.depth -= 1
        return self.s[start:self.i]

    def dollar(self) -> str:
        """An expansion starting at '$' (not '$\'' or '$"'); returns its text."""
        start = self.i
        nxt = self.peek(1)
        if nxt == "(":
            return self.dollar_paren()
        if nxt == "{":
            return self.dollar_brace()
        if nxt == "[":
            # Legacy arithmetic: '<<' inside it is a shift, not a here-document.
            self.error("'$[ ]' arithmetic is not supported")
            end = self.s.find("]", self.i)
            self.i = self.n if end < 0 else end + 1
            return self.s[start:self.i]
        if nxt == "_" and not _NAME.match(self.s, self.i + 2) and not self.s[self.i + 2:self.i + 3].isdigit():
            self.error("'$_' (the last argument of the previous command) is not supported")
        name = _NAME.match(self.s, self.i + 1)
        if name:
            self.i = name.end()
        elif nxt and nxt in _SPECIAL_PARAMS:
            self.i += 2  # '$$' is one parameter: '$${' does not open '${'
        else:
            self.i += 1  # a lone '$' is literal
        return self.s[start:self.i]

    def dollar_paren(self) -> str:
        start = self.i
        if self.s.startswith("$((", self.i):
            self.i = self.arithmetic(self.i + 3)
            return self.s[start:self.i]
        self.i += 2
        self.nested_list("$(")
        return self.s[start:self.i]

    def arithmetic(self, j: int) -> int:
        """Check the arithmetic body starting at ``j`` (after '((' ); return the index after '))'."""
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise ParseError("expansions nested too deeply")
            return self._arithmetic(j)
        finally:
            self.depth -= 1

    def _arithmetic(self, j: int) -> int:
        depth = 0
        k = j
        while k < self.n:
            c = self.s[k]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            k += 1
        body = self.s[j:k]
        if k >= self.n or not self.s.startswith("))", k):
            self.error("arithmetic '((' without its '))'")
            self.sub(body, "expand")  # lenient: still find the $( ) inside
            return min(k + 2, self.n)
        pos = 0
        while pos < len(body):
            m = _ARITH_TOKEN.match(body, pos)
            if m is None:
                self.error("arithmetic with names, expansions or assignments is not supported")
                self.sub(body, "expand")
                break
            pos = m.end()
        return k + 2

    def dollar_brace(self) -> str:
        self.depth += 1
        try:
            if self.depth > _MAX_DEPTH:
                raise ParseError("expansions nested too deeply")
            return self._dollar_brace()
        finally:
            self.depth -= 1

    def _dollar_brace(self) -> str:
        start = self.i
        self.i += 2
        head = _BRACE_HEAD.match(self.s, self.i)
        if head is None or (head.group() == "_" and self.peek(head.end() - self.i) == "}"):
            self.error("unsupported '${...}' form (indirection, '$_' or a bad name)")
        else:
            self.i = head.end()
            if self.peek() != "}" and not any(self.s.startswith(op, self.i) for op in _BRACE_OPS):
                self.error("unsupported '${...}' operator (assignment, substring, subscript or transform)")
        while self.i < self.n:
            c = self.s[self.i]
            if c == "}":
                self.i += 1
                return self.s[start:self.i]
            if c == "\\":
                self.i += 2
            elif c in "'\"":
                # Quoting rules inside ${ } differ between bash versions and quoting
                # contexts; refusing is safer than guessing where the word ends.
                self.error("quotes inside '${...}' are not supported")
                self.i += 1
            elif c == "`":
                self.backtick(in_quotes=False)
            elif c == "$":
                self.dollar()
            else:
                self.i += 1
        self.error("unterminated '${'")
        return self.s[start:self.i]


_LOOP_NAME = re.compile(r"[a-z][a-z0-9_]*|_[a-z0-9_]+")
_ASSIGNED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[^\]]*\])?\+?=")


def _only_assignments(tokens: list[Token], start: int) -> bool:
    """Whether the command is assignments only (they then stay in force for later commands)."""
    return all(tok.op or _ASSIGNED.match(tok.raw) for tok in words_only(tokens[start:]))


def _is_word(tok: Token, words: frozenset[str] | set[str]) -> bool:
    return tok.plain and not tok.op and tok.raw in words


def words_only(tokens: list[Token]) -> list[Token]:
    """Tokens that are neither a redirection operator nor its target."""
    out: list[Token] = []
    skip = False
    for tok in tokens:
        if skip:
            skip = False
        elif tok.op:
            skip = True
        else:
            out.append(tok)
    return out


def parse(command: str, *, lenient: bool = False) -> list[Part]:
    """Every simple command in ``command``, in source order.

    Raises :class:`ParseError` for syntax this reader does not handle, unless
    ``lenient`` (which still raises for absurd nesting).
    """
    return parse_with_redirects(command, lenient=lenient)[0]


def parse_with_redirects(command: str, *,
                         lenient: bool = False) -> tuple[list[Part], list[tuple[Token, Token]]]:
    """:func:`parse`, plus every (operator, target) redirection in the command,
    including those on subshells, ``{ }`` groups and loops, which no part holds."""
    parser = _Parser(command, lenient)
    try:
        parser.command_list(None, "")
        if parser.heredocs:
            parser.error(f"unterminated here-document (missing {parser.heredocs[0][1]!r})")
    except TooManyCommands as exc:
        if not lenient:
            parser.parts.sort(key=lambda p: p.id)
            exc.partial = (parser.parts, parser.redirects)
            raise
    parser.parts.sort(key=lambda p: p.id)
    return parser.parts, parser.redirects


def split_command(command: str) -> list[str] | None:
    """The simple commands a shell would run for ``command``, or None if it cannot be parsed.

    Compound commands are split at ``&&``, ``||``, ``;``, ``|``, ``|&``, ``&`` and
    newlines; commands inside ``$( )``, backticks, ``<( )``/``>( )``, subshells and
    ``{ ...; }`` groups are listed on their own (after the command that holds them,
    in source order).  Redirections stay in the command's text.  The contents of
    ``bash -c '...'`` are an argument here; the matcher looks inside them separately.
    """
    try:
        return [part.text for part in parse(command)]
    except ParseError:
        return None
