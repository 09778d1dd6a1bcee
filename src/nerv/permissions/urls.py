"""Where a URL really goes: its host, read the way a WHATWG URL parser reads it.

Claude Code's WebFetch hands the URL to Node, whose ``URL`` class follows the
WHATWG URL Standard, so ``https:evil.com``, ``https:/\\evil.com``,
``https://good.com@evil.com``, ``http://0x7f.1/`` or ``https://ｅｖｉｌ。com``
all fetch from a host other than the one a naive split would see.  This module
parses an absolute URL as that standard does for the schemes WebFetch can
fetch, and says whether the result is *certain*:

* certain - the scheme is http or https and every step used only rules this
  module implements exactly (ASCII hosts, IPv4 in any of the standard's number
  forms, IPv6, percent-escapes, and the Unicode characters whose IDNA mapping
  is fixed: fullwidth ASCII, the ideographic and fullwidth full stops, and the
  code points IDNA ignores such as the soft hyphen and zero-width space);
* uncertain - anything else (other international names, other schemes).

Only certain hosts can be allowed.  Deny and ask rules are tried on every
host an uncertain URL could plausibly have (:attr:`ParsedURL.hosts`), so an
odd spelling cannot slip past them either.  Standard library only; the
expensive modules (``ipaddress``, ``unicodedata``, ``encodings.idna``) load
only for the rare URLs that need them.
"""

from __future__ import annotations

import contextlib
import re

SPECIAL_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
FETCHABLE = ("http", "https")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_TAB_NEWLINE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_ESCAPE_RUN = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")
# The WHATWG "forbidden domain code points" (a host holding one is a failure).
_FORBIDDEN_DOMAIN = re.compile(r"[\x00-\x20#/:<>?@\[\\\]^|%\x7f]")
# Code points with a fixed IDNA (UTS #46) mapping: ignored ones vanish, these stops become '.'.
_IGNORED = frozenset(
    [0x00AD, 0x034F, 0x180B, 0x180C, 0x180D, 0x180F, 0x200B, 0x2060, 0x2064, 0xFEFF,
     *range(0xFE00, 0xFE10), *range(0x1BCA0, 0x1BCA4), *range(0xE0100, 0xE01F0)]
)
_STOPS = frozenset("\u3002\uff0e\uff61")
# str.translate table for those mappings, fullwidth ASCII (its NFKC form) and ASCII lower case.
_FIXED: dict[int, str | None] = {
    **{code: None for code in _IGNORED}, **{ord(c): "." for c in _STOPS},
    **{code: chr(code - 0xFEE0).lower() for code in range(0xFF01, 0xFF5F)},
    **{code: chr(code).lower() for code in range(ord("A"), ord("Z") + 1)},
}
# Longer hosts cannot be looked up in DNS (253 characters); beyond this, skip the costly guesses.
_LONGEST_GUESSED = 1024
# Characters no fetch can go through: bidi controls and other format characters
# are disallowed by IDNA; stripping them gives deny rules the name a reader sees.
_FORMAT = re.compile("[\u200c-\u200f\u202a-\u202e\u2061-\u2063\u2066-\u206f]")
# Path and query characters the standard percent-encodes (beyond non-ASCII).
_PATH_ENCODE = frozenset(' "<>`{}' + "".join(map(chr, range(0x20))) + "\x7f")
_QUERY_ENCODE = frozenset(" \"#<>'" + "".join(map(chr, range(0x20))) + "\x7f")
_DOT = frozenset({".", "%2e", "%2E"})
_DOTDOT = frozenset({"..", ".%2e", ".%2E", "%2e.", "%2E.", "%2e%2e", "%2E%2E", "%2e%2E", "%2E%2e"})


class ParsedURL:
    """An absolute URL, parsed; ``host`` is serialised (``127.0.0.1``, ``[::1]``, ``example.com.``)."""

    __slots__ = ("_path", "_tail", "certain", "host", "hosts", "port", "scheme")

    def __init__(self, scheme: str, host: str, port: int | None, tail: str, certain: bool,
                 hosts: tuple[str, ...]) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port  # None for the scheme's default port
        self._tail = tail  # the text after the authority, as written
        self._path: str | None = None
        self.certain = certain
        self.hosts = hosts  # every host the URL could have, for deny and ask rules

    @property
    def path(self) -> str:
        """Path and query, serialised (``/a/b?q``); the fragment is never sent.  Computed on first use:
        domain rules never need it."""
        if self._path is None:
            self._path = _path_and_query(self._tail, self.scheme in SPECIAL_PORTS)
        return self._path

    @property
    def origin(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}"

    @property
    def href(self) -> str:
        """The URL as fetched: origin, path and query (no user info, no fragment)."""
        return self.origin + self.path


def parse_url(url: str) -> ParsedURL | None:
    """``url`` parsed as an absolute URL, or None when a WHATWG parser would fail or find no host."""
    text = _TAB_NEWLINE.sub("", url).strip(_C0_AND_SPACE)
    m = _SCHEME.match(text)
    if m is None:
        return None  # relative: WebFetch has no base URL to resolve it against
    scheme = m.group()[:-1].lower()
    rest = text[m.end():]
    special = scheme in SPECIAL_PORTS
    if special:
        rest = rest.lstrip("/\\")  # the standard ignores any run of slashes and backslashes here
        ends = "/\\?#"
    elif rest.startswith("//"):
        rest = rest[2:]
        ends = "/?#"
    else:
        return None  # mailto:, data:, file:... have no host to fetch from
    cut = min((i for i in (rest.find(c) for c in ends) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]  # user info: everything up to the last '@'
    hostport = _split_port(authority, scheme)
    if hostport is None:
        return None
    raw_host, port = hostport
    if not raw_host:
        return None
    if not special:
        # An opaque host: kept as written (lower-cased for comparison only).
        host = raw_host.lower()
        return ParsedURL(scheme, host, port, tail, False, (host,))
    parsed = parse_host(raw_host)
    if parsed is None:
        return None
    host, certain, hosts = parsed
    return ParsedURL(scheme, host, port, tail, certain and scheme in FETCHABLE,
                     hosts)


def _split_port(authority: str, scheme: str) -> tuple[str, int | None] | None:
    if "[" not in authority and "]" not in authority:
        host, sep, digits = authority.partition(":")
        return _port(host, digits, scheme) if sep else (host, None)
    if len(authority) > 64 + 6:
        return None  # brackets hold only an IPv6 address (at most 45 characters), then ':port'
    inside = False
    for i, c in enumerate(authority):
        if c == "[":
            inside = True
        elif c == "]":
            inside = False
        elif c == ":" and not inside:
            return _port(authority[:i], authority[i + 1:], scheme)
    return authority, None


def _port(host: str, digits: str, scheme: str) -> tuple[str, int | None] | None:
    if digits and not (digits.isascii() and digits.isdigit()):
        return None
    digits = digits.lstrip("0") or ("0" if digits else "")
    if len(digits) > 5:
        return None  # beyond 65535 (and int() refuses very long digit strings)
    port = int(digits) if digits else None
    if port is not None and port > 65535:
        return None
    if port == SPECIAL_PORTS.get(scheme):
        port = None
    return host, port


def parse_host(raw: str) -> tuple[str, bool, tuple[str, ...]] | None:
    """``(host, certain, hosts)`` for the host text of a special URL, or None on failure."""
    if raw.startswith("["):
        if not raw.endswith("]"):
            return None
        ipv6 = _ipv6(raw[1:-1])
        if ipv6 is None:
            return None
        # An IPv4-mapped address ([::ffff:7f00:1]) connects to that IPv4 address: deny rules see it too.
        groups = ipv6[1:-1].rsplit(":", 2)
        if ipv6.startswith("[::ffff:") and len(groups) == 3 and ipv6.count(":") == 4:
            high, low = int(groups[1], 16), int(groups[2], 16)
            mapped = f"{high >> 8}.{high & 0xFF}.{low >> 8}.{low & 0xFF}"
            return ipv6, True, (ipv6, mapped)
        return ipv6, True, (ipv6,)
    data = _percent_decode(raw.encode("utf-8", "surrogatepass"))
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the standard decodes to U+FFFD, which IDNA refuses
    certain = True
    if decoded.isascii():
        domain = decoded.lower()
    else:
        domain = _fixed_mappings(decoded)
        # A name that only became ASCII through mapping is checked by IDNA as a whole: its
        # 'xn--' labels must then be valid Punycode, which this module does not verify.
        if not domain.isascii() or any(label.startswith("xn--") for label in domain.split(".")):
            certain = False
    hosts = [domain]
    if not certain and len(decoded) <= _LONGEST_GUESSED:
        hosts += _approximations(decoded)
    out: list[str] = []
    for candidate in hosts:
        if not candidate or _FORBIDDEN_DOMAIN.search(candidate):
            if candidate is domain and certain:
                return None
            continue
        number = _ends_in_number(candidate)
        if number:
            ipv4 = _ipv4(candidate)
            if ipv4 is None:
                if candidate is domain and certain:
                    return None
                continue
            candidate = ipv4
        out.append(candidate)
    if not out:
        return None
    return out[0], certain and out[0] == _number_or_same(domain), tuple(dict.fromkeys(out))


def _number_or_same(domain: str) -> str:
    return (_ipv4(domain) or domain) if _ends_in_number(domain) else domain


def _fixed_mappings(text: str) -> str:
    """Apply the IDNA mappings this module knows exactly; anything else stays as written."""
    return text.translate(_FIXED)


def _percent_decode(data: bytes) -> bytes:
    """``%XX`` -> the byte; a ``%`` not followed by two hex digits stays as it is.  Whole runs of
    escapes are decoded at once (one call per run, not per byte)."""
    if b"%" not in data:
        return data
    return _ESCAPE_RUN.sub(lambda run: bytes.fromhex(run[0].replace(b"%", b"").decode("ascii")), data)


def _approximations(text: str) -> list[str]:
    """Hosts an international name could map to, for deny and ask rules: NFKC with lower-casing
    or full case folding, with and without format characters, as written and IDNA-encoded."""
    import unicodedata

    mapped = unicodedata.normalize("NFKC", _fixed_mappings(text))
    forms = [mapped.lower(), unicodedata.normalize("NFKC", mapped.casefold())]
    forms += [_FORMAT.sub("", form) for form in forms]
    out = list(forms)
    for form in dict.fromkeys(forms):
        out.append(".".join(_punycode_label(label) for label in form.split(".")))
        with contextlib.suppress(UnicodeError):
            out.append(".".join(_idna_label(label) for label in form.split(".")))
    return list(dict.fromkeys(out))


def _punycode_label(label: str) -> str:
    return label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")


def _idna_label(label: str) -> str:
    if label.isascii():
        return label
    import encodings.idna

    return encodings.idna.ToASCII(label).decode("ascii").lower()


def _ends_in_number(domain: str) -> bool:
    labels = domain.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    if last and last.isascii() and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def _ipv4_number(part: str) -> int | None:
    if not part or not part.isascii():
        return None
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        part, base = part[1:], 8
    if part == "":
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[base]
    if any(c not in digits for c in part):
        return None
    return int(part, base)


def _ipv4(domain: str) -> str | None:
    """The WHATWG IPv4 parser: 1 to 4 parts in decimal, octal (``0``) or hex (``0x``)."""
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4 or any(p == "" for p in parts):
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    address = values[-1]
    for i, n in enumerate(values[:-1]):
        address += n * 256 ** (3 - i)
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _ipv6(text: str) -> str | None:
    if not text or len(text) > 64 or "%" in text or not text.isascii():
        return None
    import ipaddress

    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    groups = [int(address.exploded[i:i + 4], 16) for i in range(0, 39, 5)]
    # Compress the first longest run of two or more zero groups, as the standard does.
    best_start, best_len, start = -1, 1, None
    for i, g in enumerate([*groups, 1]):
        if g == 0 and start is None:
            start = i
        elif g != 0 and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    hexes = [f"{g:x}" for g in groups]
    if best_start < 0:
        return "[" + ":".join(hexes) + "]"
    head = ":".join(hexes[:best_start])
    tail = ":".join(hexes[best_start + best_len:])
    return f"[{head}::{tail}]"


def _path_and_query(tail: str, special: bool) -> str:
    """The serialised path and query of ``tail`` (the URL after its authority); the fragment is dropped."""
    tail = tail.split("#", 1)[0]
    path, sep, query = tail.partition("?")
    segments = (path.replace("\\", "/") if special else path).split("/")[1:] if path else [""]
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment in _DOTDOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif segment in _DOT:
            if last:
                out.append("")
        else:
            out.append(_encode(segment, _PATH_ENCODE))
    serial = "/" + "/".join(out)
    return serial + (sep + _encode(query, _QUERY_ENCODE if special else _QUERY_ENCODE - {"'"}) if sep else "")


_UNSAFE: dict[frozenset[str], tuple[re.Pattern[str], list[str]]] = {}


def _encode(text: str, unsafe: frozenset[str]) -> str:
    """Percent-encode the ``unsafe`` characters and everything beyond ASCII (as UTF-8 bytes)."""
    found = _UNSAFE.get(unsafe)
    if found is None:
        regex = re.compile("[" + "".join(map(re.escape, sorted(unsafe))) + "]")
        table = [chr(b) if b < 0x80 and chr(b) not in unsafe else f"%{b:02X}" for b in range(256)]
        found = _UNSAFE[unsafe] = (regex, table)
    regex, table = found
    if text.isascii() and not regex.search(text):
        return text
    return "".join([table[b] for b in text.encode("utf-8", "surrogatepass")])


def url_host(url: str) -> str | None:
    """The serialised host of ``url`` (lower case), or None when it has none."""
    parsed = parse_url(url)
    return None if parsed is None else parsed.host
