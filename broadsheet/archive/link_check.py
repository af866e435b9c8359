"""The links of a built site, checked the way a browser reads them from disk: every internal
link and asset resolves to a file inside the site, no root-relative (`/...`) link, no link to a
folder (from disk it opens a file listing), no external asset.

(broadsheet/links.py is another job: which URLs from input may become a link at all.)
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import lxml.etree
import lxml.html

from broadsheet.cache import changed_keys
from broadsheet.reuse import keep_map, load_kept_map

_SKIP_SCHEMES = ("mailto:", "tel:", "javascript:", "data:", "blob:", "about:")
_ASSET_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest",
                    "apple-touch-icon", "prefetch"}
_CSS_URL = re.compile(r"""url\(\s*(?P<q>["']?)(?P<url>[^"')]+)(?P=q)\s*\)|@import\s+(?P<q2>["'])(?P<imp>[^"']+)(?P=q2)""")


#: Every attribute that can point at another file, and the text of <style> elements, selected in C.
_LINK_XPATH = lxml.etree.XPath("//@href|//@src|//@poster|//@data-src|//@srcset|//@style|//style/text()")


def page_links(data: bytes) -> list[tuple[int, str, str, bool]]:
    """(line, where, url, is_asset) for every link in one HTML document, parsed by lxml (libxml2's
    HTML parser: many times faster than the standard library's on a site of thousands of pages)."""
    try:
        doc = lxml.html.document_fromstring(data)
    except (lxml.etree.ParserError, ValueError):
        return []  # an empty document has no links
    links = []
    for value in _LINK_XPATH(doc):
        el = value.getparent()
        line, tag = el.sourceline or 0, str(el.tag)
        if not value.is_attribute:  # the text of a <style> element
            links += [(line, "style", u, True) for u in css_urls(str(value))]
            continue
        name = value.attrname
        if name == "srcset":
            links += [(line, f"{tag} srcset", c.split()[0], True) for c in str(value).split(",") if c.strip()]
        elif name == "style":
            links += [(line, f"{tag} style", u, True) for u in css_urls(str(value))]
        else:
            rel = set((el.get("rel") or "").lower().split())
            is_asset = name != "href" or (tag == "link" and bool(rel & _ASSET_LINK_RELS))
            links.append((line, f"{tag} {name}", str(value), is_asset))
    return links


def css_urls(css: str) -> list[str]:
    """The URLs of a style sheet's (or a style attribute's) `url(...)` and `@import`."""
    return [(m.group("url") or m.group("imp")).strip() for m in _CSS_URL.finditer(css)]


class LinkChecker:
    """Checks that links in a built site resolve to files inside it, the way a browser reads them from disk."""

    def __init__(self, site_dir: Path, siteurl: str | None = None, allow_folder_links: bool = False):
        self.root = Path(site_dir).resolve()
        self.siteurl = (siteurl or "").rstrip("/")
        self.allow_folder_links = allow_folder_links
        self.errors: list[str] = []
        self.checked = 0
        self._resolved: dict[tuple[str, bool], tuple[int, str | None, str | None]] = {}
        self._resolved_in: str | None = None

    def check_all(self, cache_file: Path | None = None) -> int:
        """Check every .html and .css file; returns the number of HTML files read.

        `cache_file`: what each page links to, by the digest of its bytes, kept from the last
        check, so that a page whose bytes did not change is not parsed again (its targets are
        still looked up in this site's files)."""
        # One walk gives every file and folder; links are then resolved as strings, which on a
        # site of thousands of pages is many times faster than asking the file system each time.
        self.files: set[str] = set()
        self.dirs: set[str] = {"."}
        for folder, dirnames, filenames in os.walk(self.root):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            self.dirs.update(posixpath.normpath(f"{rel}/{d}") for d in dirnames)
            self.files.update(posixpath.normpath(f"{rel}/{f}") for f in filenames)
        cache = load_kept_map(cache_file)
        kept: dict[str, PageLinks] = {}
        html_files = 0
        for rel in sorted(self.files):
            if rel.endswith((".html", ".htm")):
                html_files += 1
                data = (self.root / rel).read_bytes()
                digest = hashlib.blake2b(data, digest_size=16).digest()
                facts = cache.get(rel)
                if facts is None or facts.digest != digest:
                    facts = self._page_links(rel, digest, page_links(data))
                kept[rel] = facts
                self._apply(rel, facts, data)
            elif rel.endswith(".css"):
                text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
                for url in css_urls(text):
                    self.check(rel, 0, "css url()", url, True)
        if cache_file is not None:
            keep_map(cache_file, kept, changed_keys(cache, kept))
        return html_files

    def _page_links(self, page_rel: str, digest: bytes, links) -> PageLinks:
        """What a page's links come to, whatever files the site holds: errors that need no
        lookup, and the paths its links resolve to."""
        count, static, targets = 0, [], set()
        for line, where, url, is_asset in links:
            counted, error, resolved = self._resolve(page_rel, line, where, url, is_asset)
            count += counted
            if error:
                static.append(error)
            elif resolved is not None:
                targets.add(resolved)
        return PageLinks(digest, count, tuple(static), tuple(sorted(targets)))

    def _apply(self, page_rel: str, facts: PageLinks, data: bytes) -> None:
        if all(self._target_problem(t) is None for t in facts.targets):
            self.checked += facts.count
            self.errors += facts.static_errors
        else:  # a target is missing: read the page again for the line and attribute of each
            for line, where, url, is_asset in page_links(data):
                self.check(page_rel, line, where, url, is_asset)

    def check(self, page_rel: str, line: int, where: str, url: str, is_asset: bool) -> None:
        """`page_rel`: the page's path inside the site, with `/`."""
        counted, error, resolved = self._resolve(page_rel, line, where, url, is_asset)
        self.checked += counted
        if error:
            self.errors.append(error)
        elif resolved is not None:
            problem = self._target_problem(resolved)
            if problem:
                self._error(f"{page_rel}:{line}" if line else page_rel, where, url, problem)

    def _resolve(self, page_rel: str, line: int, where: str, url: str,
                 is_asset: bool) -> tuple[int, str | None, str | None]:
        """(1 if the link counts as checked, an error that needs no file lookup, the path inside
        the site the link resolves to)."""
        folder = page_rel.rpartition("/")[0]
        if folder != self._resolved_in:
            # Pages are checked folder by folder (sorted), and the pages of a folder share most
            # links (navigation, theme, neighbours): a link is resolved once per folder.
            self._resolved.clear()
            self._resolved_in = folder
        key = (url, is_asset)
        known = self._resolved.get(key)
        if known is None:
            known = self._resolved[key] = self._resolve_from(folder, url, is_asset)
        counted, why, resolved = known
        if why is None:
            return counted, None, resolved
        return counted, _message(f"{page_rel}:{line}" if line else page_rel, where, url, why), None

    def _resolve_from(self, folder: str, url: str, is_asset: bool) -> tuple[int, str | None, str | None]:
        """_resolve for a page in `folder`, the error as its reason alone."""
        url = url.strip()
        if not url or url.startswith("#") or url.lower().startswith(_SKIP_SCHEMES):
            return 0, None, None
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.scheme or url.startswith("//"):
            if self.siteurl and url.startswith(self.siteurl + "/"):
                target = unquote(urlsplit(url[len(self.siteurl):]).path).lstrip("/") or "."
            elif self.siteurl and url == self.siteurl:
                target = "."
            else:
                if is_asset:
                    return 1, "external asset: the offline site must not need the network", None
                return 1, None, None
        elif url.startswith("/"):
            return 1, "root-relative link: from disk it points at the file system's root", None
        else:
            if not path:
                return 1, None, None  # `?query` alone: the page itself
            target = posixpath.join(folder, path)
        resolved = posixpath.normpath(target)
        if resolved == ".." or resolved.startswith("../"):
            return 1, "points outside the site", None
        return 1, None, resolved

    def _target_problem(self, resolved: str) -> str | None:
        if resolved in self.dirs:
            if not self.allow_folder_links:
                return "links to a folder: from disk that opens a file listing; spell out index.html"
            if posixpath.normpath(f"{resolved}/index.html") not in self.files:
                return "folder has no index.html"
            return None
        if resolved not in self.files:
            return f"missing: {resolved} is not in the site"
        return None

    def _error(self, here: str, where: str, url: str, why: str) -> None:
        self.errors.append(_message(here, where, url, why))


def _message(here: str, where: str, url: str, why: str) -> str:
    return f"{here}: {where}={url!r}: {why}"


@dataclass(frozen=True)
class PageLinks:
    """One page's links, as LinkChecker keeps them between checks (see check_all)."""

    digest: bytes
    count: int
    static_errors: tuple[str, ...]
    targets: tuple[str, ...]
