"""WebFetch rule specifiers.

``domain:example.com`` matches URLs whose host is exactly ``example.com``.
``domain:*.example.com`` matches any subdomain (``api.example.com``,
``a.b.example.com``) but not the apex ``example.com`` itself: ``*`` matches
characters and the pattern requires the dot, as with TLS wildcard names, so
allow both forms to cover both.  ``domain:*`` matches every host.  Hosts are
compared case-insensitively without one trailing dot; a rule naming an IPv4
address in any form (``domain:0x7f.1``) names the address (``127.0.0.1``).
Any other specifier is a glob (``*`` = any characters) over the URL: an allow
glob must start with ``scheme://`` and its host part is matched against the
host alone, so ``https://*.python.org/*`` cannot be met by
``https://evil.com/?.python.org/``.

The host is the one a WHATWG URL parser finds (see :mod:`nerv.permissions.urls`).
Allow rules match only URLs whose host that module resolves with certainty
(http or https, no international name it cannot map exactly); deny and ask
rules match any host the URL could plausibly have, and deny / ask globs also
match the URL exactly as written.
"""

from __future__ import annotations

import re
from functools import lru_cache

from nerv.permissions.urls import ParsedURL, parse_host, parse_url, url_host

__all__ = ["WebPattern", "compile_glob", "rule_hosts", "split_url_glob", "url_host", "url_hosts"]


def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """A glob where ``*`` matches any characters and ``?`` one character (use with ``fullmatch``).

    The pieces between stars are placed at their leftmost position in atomic
    groups - always a valid placement, as each piece has a fixed length - so
    matching stays linear: text the agent chose cannot make ``*a*b*c*`` backtrack
    for ever.
    """
    pieces = ["".join("." if c == "?" else re.escape(c) for c in piece) for piece in pattern.split("*")]
    if len(pieces) == 1:
        regex = pieces[0]
    else:
        middle = "".join(f"(?>.*?{piece})" for piece in pieces[1:-1] if piece)
        regex = f"{pieces[0]}{middle}.*{pieces[-1]}"
    return re.compile(regex, re.S | (re.I if ignore_case else 0))


@lru_cache(maxsize=32)
def parsed(url: str) -> ParsedURL | None:
    return parse_url(url)


def comparable(host: str) -> str:
    """A host as rules compare it: without one trailing dot (``example.com.`` is ``example.com``)."""
    return host[:-1] if host.endswith(".") and len(host) > 1 else host


def rule_hosts(spec: str, action: str = "allow") -> tuple[str, ...]:
    """The names an exact domain rule stands for (its index keys); () for wildcards and URL globs.

    ``domain:Example.COM.`` -> ``("example.com",)``; ``domain:0x7f.1`` -> ``("127.0.0.1",)``.  A deny
    or ask rule also keeps its text as written and drops every trailing dot, so ``domain:0x7f.``
    still meets the host ``0x7f..`` (not an address: its last label is empty).
    """
    if not spec.startswith("domain:"):
        return ()
    text = spec[len("domain:"):].strip().lower()
    if "*" in text or "?" in text:
        return ()
    found = parse_host(text)
    host = comparable(found[0] if found is not None and found[1] else text)
    if action == "allow":
        return (host,)
    return tuple(dict.fromkeys(h for h in (host.rstrip("."), text.rstrip(".")) if h))


def url_hosts(url: str, *, for_allow: bool) -> tuple[str, ...]:
    """The hosts (comparable form) rules of one kind must consider for ``url``."""
    found = parsed(url)
    if found is None or (for_allow and not found.certain):
        return ()
    if for_allow:
        return (comparable(found.host),)
    # Deny and ask: every plausible host, also without all its trailing dots ('x.com..').
    hosts = [comparable(h) for h in found.hosts] + [h.rstrip(".") for h in found.hosts if h.rstrip(".")]
    return tuple(dict.fromkeys(hosts))


class WebPattern:
    """A WebFetch specifier; ``strict`` (allow rules) matches only certainly-resolved URLs."""

    __slots__ = ("domain", "path", "regex", "scheme", "strict", "whole")

    def __init__(self, spec: str, *, strict: bool = False) -> None:
        self.strict = strict
        self.domain = spec.startswith("domain:")
        self.scheme: re.Pattern[str] | None = None
        self.path: re.Pattern[str] | None = None
        self.whole: re.Pattern[str] | None = None
        if self.domain:
            names = rule_hosts(spec, "allow" if strict else "deny")
            if names:
                self.regex = re.compile("|".join(map(re.escape, names)), re.I)
            else:
                text = comparable(spec[len("domain:"):].strip().lower())
                if not strict:
                    text = text.rstrip(".")  # deny and ask: 'x.com', 'x.com.' and 'x.com..' are one name
                self.regex = compile_glob(text, ignore_case=True)
            return
        whole = self.whole = compile_glob(spec)
        self.regex = whole
        split = split_url_glob(spec)
        if split is not None:
            scheme, authority, path = split
            self.scheme = compile_glob(scheme.lower())
            self.regex = compile_glob(authority.lower())
            self.path = compile_glob(path or "/")

    def matches(self, url: str) -> bool:
        if self.domain:
            hosts = url_hosts(url, for_allow=self.strict)
            if not self.strict:
                hosts = tuple(h.rstrip(".") for h in hosts)
            return any(self.regex.fullmatch(h) for h in hosts)
        found = parsed(url)
        if self.scheme is not None and self.path is not None and found is not None:
            port = "" if found.port is None else f":{found.port}"
            structured = (self.scheme.fullmatch(found.scheme) is not None
                          and self.path.fullmatch(found.path) is not None
                          and any(self.regex.fullmatch(comparable(h) + port) for h in
                                  ((found.host,) if self.strict else found.hosts)))
            if self.strict:
                return found.certain and structured
            if structured:
                return True
        if self.strict:
            return False
        # Deny and ask globs: the URL as written, or as it will be fetched.
        whole = self.whole
        return whole is not None and (whole.fullmatch(url) is not None or (
            found is not None and whole.fullmatch(found.href) is not None))


def split_url_glob(spec: str) -> tuple[str, str, str] | None:
    """``https://*.x.org/a/*`` -> ``("https", "*.x.org", "/a/*")``; None without ``scheme://``."""
    m = re.match(r"([A-Za-z][A-Za-z0-9+.\-*]*)://([^/?#\\]*)(.*)\Z", spec, re.S)
    if m is None:
        return None
    return m.group(1), m.group(2), m.group(3)
