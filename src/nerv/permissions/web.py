"""WebFetch rule specifiers.

``domain:example.com`` matches URLs whose host is exactly ``example.com``.
``domain:*.example.com`` matches any subdomain (``api.example.com``,
``a.b.example.com``) but not the apex ``example.com`` itself: ``*`` matches
characters and the pattern requires the dot, as with TLS wildcard names, so
allow both forms to cover both.  ``domain:*`` matches every host.  Hosts are
compared case-insensitively without a trailing dot.  Any other specifier is a
glob (``*`` = any characters) matched against the whole URL.

The host is read the way WHATWG URL parsers (Node's, which Claude Code uses)
read it: tabs and newlines are dropped, ``\\`` ends the authority like ``/``,
user info before the last ``@`` is ignored and percent-escapes are decoded,
so ``https://good.com\\@evil.com`` is a fetch from ``good.com`` and
``https://good.com@evil.com`` one from ``evil.com``.  International names are
compared as written (no IDNA conversion).
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_AUTHORITY_END = re.compile(r"[/\\?#]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))


def url_host(url: str) -> str | None:
    """The lower-case host of ``url``, or None when it has none."""
    u = re.sub(r"[\t\n\r]", "", url).strip(_C0_AND_SPACE)
    m = _SCHEME.match(u)
    rest = u[m.end():] if m else u
    if m:
        if not rest.startswith(("//", "\\\\", "/\\", "\\/")):
            return None  # mailto:, data:... have no host
        rest = rest[2:]
    authority = _AUTHORITY_END.split(rest, 1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]")
        host = host[1:end] if end > 0 else ""
    else:
        host = host.split(":", 1)[0]
    host = _PERCENT.sub(lambda g: chr(int(g.group(1), 16)), host).lower().rstrip(".")
    return host or None


def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A glob where ``*`` matches any characters and ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, re.S | (re.I if ignore_case else 0))


class WebPattern:
    __slots__ = ("domain", "regex")

    def __init__(self, spec: str) -> None:
        self.domain = spec.startswith("domain:")
        text = spec[len("domain:"):].strip().lower().rstrip(".") if self.domain else spec
        self.regex = compile_glob(text, ignore_case=self.domain)

    def matches(self, url: str) -> bool:
        if not self.domain:
            return self.regex.fullmatch(url) is not None
        host = url_host(url)
        return host is not None and self.regex.fullmatch(host) is not None
