"""Which URLs from input may become a link or a `src`: http, https and same-site relative ones.

A URL an archive page links to may come from input: a mapping's `dataset.url`, an archivist's
front matter, a web capture. A browser runs `javascript:` (and `vbscript:`, `data:` ...) URLs,
and it reads an `href` after decoding entities, dropping tabs and newlines anywhere and
trimming control characters and spaces at either end (WHATWG URL), so `JaVaScRiPt:`,
` \x01javascript:` and `java&#x09;script:` (in an attribute) are all `javascript:`. This module reads a URL the
way a browser would and allows only the schemes in ALLOWED_SCHEMES, or a relative URL that
stays on the site (not `//host`, which is another site). Plugins call `checked_url` in Python
before a URL reaches a template; a rejected URL is shown as text, never as a link.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

ALLOWED_SCHEMES = ("http", "https")

#: WHATWG URL: leading and trailing C0 controls and spaces are trimmed; tab, LF and CR are
#: removed wherever they are.
_TRIM = "".join(chr(c) for c in range(0x21))
_REMOVED = re.compile("[\t\n\r]")
#: A scheme: a letter, then letters, digits, `+`, `-` or `.`, then `:` (RFC 3986, WHATWG).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
#: `//host` and, as browsers read backslashes in http(s) URLs, `\\host` and `/\host`.
_OTHER_HOST = re.compile(r"[/\\]{2}")


def as_browser_reads(url: str) -> str:
    """`url` as a browser reads an `href` holding it: tabs and newlines removed, controls and
    spaces trimmed at either end."""
    return _REMOVED.sub("", url).strip(_TRIM)


def url_scheme(url: str) -> str | None:
    """The scheme as a browser would read it (lower case), or None for a relative URL."""
    m = _SCHEME.match(as_browser_reads(url))
    return m.group(1).lower() if m else None


def _allowed(url: str, relative_only: bool) -> bool:
    read = as_browser_reads(url)
    if not read or "\x00" in read:
        return False
    scheme = url_scheme(read)
    if scheme is None:
        return not _OTHER_HOST.match(read)
    return not relative_only and scheme in ALLOWED_SCHEMES


def is_allowed_url(url: object, relative_only: bool = False) -> bool:
    """True for an http(s) URL (unless `relative_only`) or a relative URL on this site.

    The URL is checked as written and with its HTML entities decoded: templates escape it, so
    a browser sees it as written, but a URL that only looks harmless while encoded
    (`&#106;avascript:`) is no URL an archive should link to either way.
    """
    if not isinstance(url, str):
        return False
    return _allowed(url, relative_only) and _allowed(html.unescape(url), relative_only)


@dataclass(frozen=True)
class CheckedUrl:
    """A URL from input as a page shows it: `href` when it may be a link, else only `text`."""

    text: str
    href: str | None
    problem: str | None = None  # why it is not a link, for the build's warning


def checked_url(url: object, relative_only: bool = False) -> CheckedUrl | None:
    """None for no URL (None or empty); else the URL with `href` set only when it is allowed."""
    if url is None or (isinstance(url, str) and not url.strip()):
        return None
    if not isinstance(url, str):
        return CheckedUrl(str(url), None, f"expected a URL (text), got {type(url).__name__}")
    if is_allowed_url(url, relative_only):
        return CheckedUrl(url, url.strip(_TRIM))
    allowed = "a relative URL" if relative_only else "an http, https or relative URL"
    return CheckedUrl(url, None, f"{url!r} is not {allowed}; shown as text, not as a link")
