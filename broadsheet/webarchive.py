"""Web archives and saved HTML pages -> Article: the one module that knows WARC, ARC and WACZ.

A WARC (or ARC, read as WARC by warcio) is streamed record by record: request, metadata and
revisit records, redirects, error statuses, non-HTML responses, robots files and sitemaps are
skipped and counted by reason; each HTML response is decoded (charset from the HTTP header,
then the page's meta tag, then detection) and its text and metadata are read by trafilatura.
A WACZ is a zip of WARCs whose `pages/pages.jsonl` says which URLs are pages.

Captures of one URL with the same text within an archive become one article (the latest
capture, every capture time of that text); a changed text is another article of the same URL,
which ingest folds across archives (`ingest.merge_captures`: the latest text is published and
each earlier one becomes a version of it).
A page laid out as Al-Alam printed its pages (dateline, signature, the related `var_dump`)
is read by the dump parser itself (`dumps.parse_dump`), so dates, signatures and related
entries follow the same rules as for text dumps.

Like `dumps.parse_dump`, the readers here never raise on bad input: a record or file that
cannot be read is a `Rejection` naming the archive and the record's offset.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import zipfile
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timezone as _tz
from functools import lru_cache
from importlib.metadata import version as _version
from pathlib import PurePosixPath
from typing import IO, Any, Iterator
from urllib.parse import urlsplit

import lxml.etree
import lxml.html

from broadsheet import engine
from broadsheet.article import Article, Source
from broadsheet.dumps import DATELINE, SIGNATURE, Rejection, localize, newline_style, parse_dump, zone
from broadsheet.related import VAR_DUMP

#: What an archive's outcome depends on besides its bytes and this code (ingest's cache key).
LIBRARIES = " ".join(f"{name} {_version(name)}" for name in ("warcio", "trafilatura", "charset-normalizer"))
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wacz")
PAGE_SUFFIXES = (".html", ".htm")

#: Why a record gave no article; `Skipped.reason` is one of these keys.
SKIP_REASONS = {
    "request": "request records",
    "metadata": "metadata and warcinfo records",
    "revisit": "revisit records (the same payload as an earlier capture)",
    "redirect": "redirects (3xx)",
    "error-status": "error and other non-2xx statuses",
    "not-html": "not HTML (stylesheets, images, scripts, ...)",
    "robots-or-sitemap": "robots.txt and sitemaps",
    "not-a-page": "HTML the WACZ does not list as a page (pages/pages.jsonl)",
    "no-article-body": "pages without an article body (section fronts, tag pages)",
}
#: Fewer characters of text than this is no article body (trafilatura's MIN_OUTPUT_SIZE).
MIN_ARTICLE_CHARACTERS = 50

_HTML_TYPES = ("text/html", "application/xhtml+xml")
#: WHATWG's encoding labels where Python's codec differs (browsers read Latin-1 as 1252).
_WHATWG = {"iso-8859-1": "windows-1252", "latin1": "windows-1252", "latin-1": "windows-1252",
           "us-ascii": "windows-1252", "ascii": "windows-1252", "utf8": "utf-8"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
#: The HTML standard's prescan reads 1024 bytes; pages with long heads put it later.
_PRESCAN = 4096
_SAVED_FROM = re.compile(rb"<!-- saved from url=\(\d+\)(\S+?) ?-->")
#: The bytes a WARC writer leaves after the last record (two CRLFs).
_TRAILER = 4


@dataclass(frozen=True)
class Skipped:
    """Records of one archive that gave no article, for one reason: counted, never published."""

    source: str
    reason: str  # a key of SKIP_REASONS
    count: int


@dataclass(frozen=True)
class Revisit:
    """A revisit record whose payload is not in its own archive (a deduplicating recrawl): the
    capture time of a page another archive holds, which ingest adds to that page's captures."""

    source: str
    url: str
    captured: str
    payload_digest: str | None


class PageError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def is_web_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def is_saved_page(name: str) -> bool:
    return name.lower().endswith(PAGE_SUFFIXES)


def is_web_input(name: str) -> bool:
    """Whether ingest reads this file with this module (an archive or a saved page)."""
    return is_web_archive(name) or is_saved_page(name)


def read_web_input(path: str, rel: str, timezone: str, run: engine.Engine | None = None,
                   ) -> list[Article | Rejection | Skipped | Revisit]:
    """Every outcome of one archive or saved page (`rel`: its name in the report); an archive's
    pages are extracted on `run` (see `read_archive`)."""
    try:
        if is_saved_page(rel):
            with open(path, "rb") as f:
                return read_saved_page(f.read(), rel, timezone)
        return read_archive(path, rel, timezone, run)
    except OSError as exc:
        return [Rejection(rel, "unreadable", str(exc))]


# -- one page: bytes -> text -> article fields --------------------------------------------

@dataclass
class Page:
    """What one HTML payload gave: the Article's fields, without where it came from."""

    title: str
    date: datetime | None  # None when neither the page nor its layout dates it
    paragraphs: list[str]
    encoding: str
    newlines: str
    web: dict[str, Any]
    warnings: list[str]
    signature: str | None = None
    related_json: str | None = None
    related_status: str = "absent"

    @property
    def text_key(self) -> tuple:
        return (self.title, tuple(self.paragraphs))


def decode_html(payload: bytes, header_charset: str | None) -> tuple[str, str, list[str]]:
    """(text, encoding, warnings): the charset of the HTTP header, else of the page's meta
    tag, else detected; a declared charset the bytes do not fit is noted and passed over."""
    warnings: list[str] = []
    declared = [("HTTP header", header_charset)]
    if payload.startswith(codecs.BOM_UTF8):
        declared.insert(0, ("byte-order mark", "utf-8"))
    meta = _META_CHARSET.search(payload[:_PRESCAN])
    declared.append(("meta tag", meta.group(1).decode("ascii") if meta else None))
    for where, label in declared:
        if not label:
            continue
        encoding = _codec(label)
        if encoding is None:
            warnings.append(f"the {where} names an unknown charset {label!r}; passed over")
            continue
        try:
            return payload.decode(encoding).removeprefix("\ufeff"), encoding, warnings
        except UnicodeDecodeError as exc:
            warnings.append(f"the {where} says {label} but byte {exc.start} is not {label}; passed over")
    import charset_normalizer  # here, as trafilatura and warcio are: ingest imports this module for every run

    best = charset_normalizer.from_bytes(payload).best()
    if best is not None:
        encoding = _codec(best.encoding) or "utf-8"
        text = payload.decode(encoding, errors="replace")
        return text, encoding, warnings + ([] if best.encoding in ("utf_8", "ascii") else
                                           [f"no charset declared; detected {encoding}"])
    warnings.append("no charset declared and none detected; read as UTF-8, undecodable bytes replaced")
    return payload.decode("utf-8", errors="replace"), "utf-8", warnings


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    label = _WHATWG.get(label, label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    return {"cp1252": "windows-1252", "cp1256": "windows-1256"}.get(name, name)


def extract_page(payload: bytes, header_charset: str | None, url: str | None, name: str,
                 timezone: str) -> Page | None:
    """The article in one HTML payload, None when it has no article body (a section front),
    or PageError. `name` is how a dump-structured page's rejection is named."""
    text, encoding, warnings = decode_html(payload, header_charset)
    try:
        tree = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise PageError("unparsable-html", f"lxml could not read the markup ({exc})") from None
    import trafilatura

    language = tree.get("lang") or None
    layout = _dump_layout(tree)  # before trafilatura, which prunes the tree it is given
    # Precision first: with it trafilatura leaves a section front's link lists out, which
    # is how a page without an article body shows (its default falls back to any text).
    doc = trafilatura.bare_extraction(tree, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False, favor_precision=True, config=_config())
    paragraphs = [p.strip() for p in (doc.text or "").split("\n") if p.strip()] if doc else []
    if paragraphs and doc.title and paragraphs[0] == doc.title.strip():
        paragraphs = paragraphs[1:]  # the heading, which the page shows as its title
    if not paragraphs:
        return None
    web = {"author": doc.author, "site_name": doc.sitename, "language": doc.language or language,
           "description": doc.description}
    web = {k: v for k, v in web.items() if v}
    page = Page(title=(doc.title or "").strip(), date=None, paragraphs=paragraphs, encoding=encoding,
                newlines=newline_style(text), web=web, warnings=warnings)
    if layout is not None:
        return _read_as_dump(page, layout, name, timezone)
    if not page.title:
        raise PageError("no-title", "trafilatura found no title (no <title>, <h1> or og:title)")
    if doc.date:
        try:
            page.date, date_warnings = localize(datetime.fromisoformat(doc.date), timezone)
            page.warnings += date_warnings
        except ValueError:
            page.warnings.append(f"trafilatura read the date {doc.date!r}, which is not a date; passed over")
    return page


@lru_cache(maxsize=1)
def _config():
    """trafilatura's settings, with a floor under what counts as an article's text: a front
    page's stray link words ("more news") are not an article."""
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_OUTPUT_SIZE", str(MIN_ARTICLE_CHARACTERS))
    return config


@dataclass
class _Layout:
    """The pieces of a page printed as Al-Alam printed them, as text nodes of its HTML."""

    dateline: str
    signature: str | None
    blob: str  # from `string(N) "` to the end of its text node


def _dump_layout(tree) -> _Layout | None:
    """The dateline, signature and related `var_dump` when the page has all but the signature."""
    dateline = blob = signature = None
    last = None
    for node in tree.xpath("//body//text()[not(ancestor::script) and not(ancestor::style)]"):
        text = str(node).strip()
        if not text:
            continue
        if dateline is None and DATELINE.fullmatch(text):
            dateline = text
        elif dateline is not None and VAR_DUMP.match(text):
            blob, signature = text, last if last and SIGNATURE.fullmatch(last) else None
        last = text
    if dateline is None or blob is None:
        return None
    return _Layout(dateline, signature, blob)


def _read_as_dump(page: Page, layout: _Layout, name: str, timezone: str) -> Page:
    """Read a dump-structured page with the dump parser: the page's title and dateline, the
    body trafilatura found, the signature, and the blob, laid out as a dump."""
    body = [p for p in page.paragraphs if p != layout.dateline and not VAR_DUMP.match(p)]
    if layout.signature and (not body or body[-1] != layout.signature):
        body.append(layout.signature)  # trafilatura drops a lone short line as boilerplate
    dump = "\n\n".join([f"{page.title}\n{layout.dateline}", *body, layout.blob])
    outcome = parse_dump(dump.encode("utf-8"), name, timezone)
    if isinstance(outcome, Rejection):
        raise PageError(outcome.reason, outcome.detail)
    page.title, page.date, page.paragraphs = outcome.title, outcome.date, outcome.paragraphs
    page.signature, page.related_json = outcome.signature, outcome.related_json
    page.related_status = outcome.related_status
    page.warnings += outcome.warnings
    return page


# -- saved pages ---------------------------------------------------------------------------

def read_saved_page(raw: bytes, rel: str, timezone: str) -> list[Article | Rejection | Skipped]:
    """A page saved from a browser: one article, a skip (no article body) or a rejection.
    Its URL is the one the browser noted (`<!-- saved from url=... -->`) or the canonical link."""
    saved_from = _SAVED_FROM.search(raw[:_PRESCAN])
    url = saved_from.group(1).decode("ascii", "replace") if saved_from else None
    try:
        page = extract_page(raw, None, url, rel, timezone)
    except PageError as exc:
        return [Rejection(rel, exc.reason, exc.detail)]
    except Exception as exc:  # a library bug must not stop a run of thousands of files
        return [Rejection(rel, "parser-error", f"{type(exc).__name__}: {exc}")]
    if page is None:
        return [Skipped(rel, "no-article-body", 1)]
    if page.date is None:
        return [Rejection(rel, "no-date", "the page holds no publication date trafilatura can read, "
                                          "and a saved page has no capture time to fall back on")]
    provenance = {"url": url or _canonical(raw), "archive": rel, "content_type": "text/html"}
    source = Source(file=rel, sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw),
                    encoding=page.encoding, newlines=page.newlines)
    return [_article(page, source, {k: v for k, v in provenance.items() if v})]


def _canonical(raw: bytes) -> str | None:
    try:
        tree = lxml.html.document_fromstring(raw[:65536])
    except (lxml.etree.ParserError, ValueError):
        return None
    links = tree.xpath("//link[@rel='canonical']/@href | //meta[@property='og:url']/@content")
    return str(links[0]) if links else None


def _article(page: Page, source: Source, provenance: dict[str, Any]) -> Article:
    return Article(title=page.title, date=page.date, paragraphs=page.paragraphs, source=source,
                   signature=page.signature, related_json=page.related_json,
                   related_status=page.related_status, warnings=list(page.warnings),
                   provenance=provenance, web=page.web or None)


# -- archives -------------------------------------------------------------------------------

@dataclass
class Capture:
    """One HTML response record: where it is and what the crawler saw."""

    url: str
    captured: str  # WARC-Date in UTC, ISO 8601
    archive: str
    member: str | None
    offset: int
    record_id: str | None
    payload_digest: str | None
    status: int | None
    content_type: str | None
    sha256: str = ""
    size: int = 0

    @property
    def ref(self) -> str:
        """How the report and Source name the record (a fragment of the archive's name)."""
        return f"{self.archive}#{self.record}"

    @property
    def record(self) -> str:
        return (f"member={self.member}&" if self.member else "") + f"offset={self.offset}"

    def provenance(self) -> dict[str, Any]:
        d = {"url": self.url, "captured": self.captured, "archive": self.archive, "member": self.member,
             "offset": self.offset, "record_id": self.record_id, "payload_digest": self.payload_digest,
             "status": self.status, "content_type": self.content_type}
        return {k: v for k, v in d.items() if v is not None}


#: Pages extracted per task: a task then costs the scheduler little beside the work (about 10 ms
#: a page), and the pages waiting for their task stay few.
_BATCH = 8
#: Extracting the pages of an archive takes about this long per byte of the archive on one core
#: (1.1 s per MiB of the bench's gzipped WARC of news pages): what decides whether a local
#: cluster pays for its start (`engine.pays_for_a_local_cluster`).
SECONDS_PER_BYTE = 1.1 / (1 << 20)


def read_archive(path: str, rel: str, timezone: str, run: engine.Engine | None = None,
                 ) -> list[Article | Rejection | Skipped | Revisit]:
    """Every article of a WARC, ARC or WACZ file (one per URL and text), then its rejections,
    its skips by reason, and its revisit records whose payload is in another archive.
    Records are streamed here; their pages are extracted on `run`'s workers, in batches. Without
    `run`: on a local cluster of this machine's cores when the archive is large enough to pay for
    one (and this is not a worker already), else in this process."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        return [Rejection(rel, "unreadable", str(exc))]
    if run is None:
        in_process = engine.in_a_worker() or not engine.pays_for_a_local_cluster(1, size * SECONDS_PER_BYTE)
        with engine.connect(in_process=in_process) as run:
            return read_archive(path, rel, timezone, run)
    reader = _ArchiveReader(rel, timezone)
    # Extracting a page holds this process (where a local cluster's scheduler runs) for longer than
    # a starting cluster can wait: the pages wait for the cluster rather than start here meanwhile.
    run.wait_until_started()
    for outcome in run.map(_extract_outcome, reader.pages_to_extract(path, size), 0, name="extract",
                           batch_size=_BATCH):
        reader.extracted(outcome)
    return reader.outcomes()


def _extract_outcome(job: tuple[bytes, str | None, str, str, str]) -> tuple:
    """`extract_page` as a value a worker can send back: ("page", Page or None) or
    ("error", reason, detail)."""
    payload, charset, url, ref, timezone = job
    try:
        return ("page", extract_page(payload, charset, url, ref, timezone))
    except PageError as exc:
        return ("error", exc.reason, exc.detail)
    except Exception as exc:  # a library bug must not stop the rest of the archive
        return ("error", "parser-error", f"{type(exc).__name__}: {exc}")


class _ArchiveReader:
    """Reads the records of one archive file and folds the captures of each URL and text."""

    def __init__(self, rel: str, timezone: str):
        self.rel, self.timezone = rel, timezone
        self.arc = rel.lower().endswith((".arc", ".arc.gz"))
        self.skipped: Counter[str] = Counter()
        self.rejected: list[Rejection] = []
        self.pages: dict[str, list[tuple[Capture, Page]]] = {}  # URL -> its captures, in order met
        self.revisits: dict[str, list[tuple[str, str | None]]] = {}  # URL -> (time, digest)
        self.page_urls: set[str] | None = None  # a WACZ's pages; None: every HTML page is one
        # Each payload is extracted once (the same page captured again is not), its captures
        # handled in record order as the extractions come back. Keys: payload sha256 and the
        # header's charset.
        self._results: dict[str, tuple] = {}
        self._queued: deque[str] = deque()  # the keys sent to extraction, in the order sent
        self._waiting: deque[tuple[Capture, str]] = deque()

    def pages_to_extract(self, path: str, size: int) -> Iterator[tuple[bytes, str | None, str, str, str]]:
        """The archive's records read in order: the extraction job of each new HTML payload is
        yielded, every other record is noted as it is read."""
        try:
            if self.rel.lower().endswith(".wacz"):
                yield from self.read_wacz(path)
            else:
                with open(path, "rb") as f:
                    yield from self.read_warc(f, size, None)
        except OSError as exc:
            self.rejected.append(Rejection(self.rel, "unreadable", str(exc)))

    def extracted(self, outcome: tuple) -> None:
        """The extraction of the oldest payload sent: the captures waiting for it are handled."""
        self._results[self._queued.popleft()] = outcome
        self._drain()

    def read_wacz(self, path: str) -> Iterator[tuple]:
        try:
            with zipfile.ZipFile(path) as wacz:
                names = wacz.namelist()
                for listing in ("pages/pages.jsonl", "pages/extraPages.jsonl"):
                    if listing in names:
                        self.page_urls = (self.page_urls or set()) | _page_urls(wacz.read(listing), f"{self.rel}#member={listing}",
                                                     self.rejected)
                warcs = sorted(n for n in names if n.startswith("archive/") and is_web_archive(n))
                if not warcs:
                    self.rejected.append(Rejection(self.rel, "no-warc", "the WACZ holds no archive/*.warc.gz"))
                for member in warcs:
                    with wacz.open(member) as f:
                        yield from self.read_warc(f, wacz.getinfo(member).file_size, member)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as exc:
            self.rejected.append(Rejection(self.rel, "bad-wacz", f"not a readable zip file ({exc})"))

    def read_warc(self, stream: IO[bytes], size: int, member: str | None) -> Iterator[tuple]:
        """Stream the records, yielding the extraction jobs; a record or file cut short is a
        rejection, the rest goes on."""
        from warcio.archiveiterator import ArchiveIterator

        where = (f"{self.rel}#member={member}&" if member else f"{self.rel}#")
        records = ArchiveIterator(stream, arc2warc=True)
        end = 0
        try:
            for record in records:
                offset = records.offset  # get_record_offset() would read the record past us
                try:
                    job = self._record(record, offset, member, where)
                except Exception as exc:  # one malformed record (a status line, a header) only
                    self.rejected.append(Rejection(f"{where}offset={offset}", "bad-record",
                                                   f"{type(exc).__name__}: {exc}; the other records were read"))
                else:
                    if job is not None:
                        yield job
                records.read_to_end(record)
                end = offset + records.get_record_length()
        except Exception as exc:  # warcio's ArchiveLoadFailed, zlib and EOF errors, ...
            self.rejected.append(Rejection(f"{where}offset={end}", "unreadable-record",
                                           f"{type(exc).__name__}: {exc}; the records before it were read"))
            return
        if size - end > _TRAILER:
            self.rejected.append(Rejection(
                f"{where}offset={end}", "truncated-archive",
                f"the file ends inside a record (a gzip member or record cut short): {size - end} bytes "
                f"after the last whole record could not be read; the records before it were read"))

    def _record(self, record, offset: int, member: str | None, where: str) -> tuple | None:
        """Note one record; the extraction job of its payload when that is to be extracted."""
        kind = record.rec_type
        if kind in ("request", "metadata", "warcinfo"):
            self.skipped["request" if kind == "request" else "metadata"] += 1
            return
        headers = record.rec_headers
        url = (headers.get_header("WARC-Target-URI") or "").strip("<>")
        captured = _utc(headers.get_header("WARC-Date"))
        if kind == "revisit":
            self.skipped["revisit"] += 1
            self.revisits.setdefault(url, []).append((captured, headers.get_header("WARC-Payload-Digest")))
            return
        if kind not in ("response", "resource"):
            self.skipped["metadata"] += 1
            return
        if _is_robots_or_sitemap(url):
            self.skipped["robots-or-sitemap"] += 1
            return
        http = record.http_headers
        status = int(http.get_statuscode() or 0) if http is not None else None
        if status is not None and 300 <= status < 400:
            self.skipped["redirect"] += 1
            return
        if status is not None and not 200 <= status < 300:
            self.skipped["error-status"] += 1
            return
        content_type = (http.get_header("Content-Type") if http is not None else None) or \
            headers.get_header("Content-Type")
        mime, charset = _media_type(content_type)
        payload = record.content_stream().read()
        if mime not in _HTML_TYPES and not (mime is None and _looks_like_html(payload)):
            self.skipped["not-html"] += 1
            return
        if self.page_urls is not None and url not in self.page_urls:
            self.skipped["not-a-page"] += 1
            return
        capture = Capture(url=url, captured=captured, archive=self.rel, member=member, offset=offset,
                          # ARC has no record ids: warcio makes up a random one when it converts
                          record_id=None if self.arc else headers.get_header("WARC-Record-ID"),
                          payload_digest=headers.get_header("WARC-Payload-Digest"), status=status,
                          content_type=content_type, sha256=hashlib.sha256(payload).hexdigest(),
                          size=len(payload))
        if record.raw_stream.limit > 0:
            self.rejected.append(Rejection(capture.ref, "truncated-record",
                                           f"{url}: the record declares {record.length} bytes but the file "
                                           f"ends {record.raw_stream.limit} bytes short; not published"))
            return
        key = capture.sha256 + (charset or "")
        self._waiting.append((capture, key))
        if key in self._results or key in self._queued:
            self._drain()
            return None
        self._queued.append(key)
        return payload, charset, url, capture.ref, self.timezone

    def _drain(self) -> None:
        """Handle the waiting captures whose pages are extracted, in record order."""
        while self._waiting and self._waiting[0][1] in self._results:
            capture, key = self._waiting.popleft()
            self._take(capture, self._results[key])

    def _take(self, capture: Capture, outcome: tuple) -> None:
        if outcome[0] == "error":
            self.rejected.append(Rejection(capture.ref, outcome[1], f"{capture.url}: {outcome[2]}"))
        elif outcome[1] is None:
            self.skipped["no-article-body"] += 1
        else:
            page = outcome[1]
            page = Page(**{**page.__dict__, "warnings": list(page.warnings)})  # its own, for _article
            self.pages.setdefault(capture.url, []).append((capture, page))

    def outcomes(self) -> list[Article | Rejection | Skipped | Revisit]:
        self._drain()
        articles = [self._article(url, same) for url, captures in self.pages.items()
                    for same in _by_text(captures)]
        skips = [Skipped(self.rel, reason, n) for reason, n in sorted(self.skipped.items())]
        elsewhere = [Revisit(self.rel, url, captured, digest) for url, revisits in self.revisits.items()
                     for captured, digest in revisits
                     if digest not in {c.payload_digest for c, _ in self.pages.get(url, ())}]
        return [*articles, *self.rejected, *skips, *elsewhere]

    def _article(self, url: str, captures: list[tuple[Capture, Page]]) -> Article:
        """One article for the captures of `url` that have the same text: the latest capture,
        and every capture time of that text (revisit records of its payload included)."""
        latest, page = captures[-1]
        digests = {c.payload_digest for c, _ in captures}
        times = [c.captured for c, _ in captures]
        times += [t for t, digest in self.revisits.get(url, []) if digest in digests]
        provenance = latest.provenance()
        provenance["captures"] = sorted(set(times))
        if page.date is None:
            page.date = datetime.fromisoformat(latest.captured).astimezone(zone(self.timezone))
            page.warnings.append("the page holds no publication date; dated by its capture")
        source = Source(file=self.rel, sha256=latest.sha256, bytes=latest.size, encoding=page.encoding,
                        newlines=page.newlines, record=latest.record)
        return _article(page, source, provenance)


def _by_text(captures: list[tuple[Capture, Page]]) -> list[list[tuple[Capture, Page]]]:
    """The captures of one URL grouped by text, each group in capture order, the groups in the
    order of their first capture."""
    groups: dict[tuple, list[tuple[Capture, Page]]] = {}
    for capture, page in sorted(captures, key=lambda cp: capture_order(cp[0].provenance())):
        groups.setdefault(page.text_key, []).append((capture, page))
    return list(groups.values())


def capture_order(provenance: dict[str, Any]) -> list:
    """Where a capture (its `provenance`) sorts among the captures of its URL: by capture time
    (a saved page, which has none, first), then archive name, WACZ member and offset."""
    return [provenance.get("captured") or "", provenance.get("archive") or "", provenance.get("member") or "",
            provenance.get("offset") or 0]


def _page_urls(data: bytes, name: str, rejected: list[Rejection]) -> set[str]:
    """The URLs a WACZ's pages listing names (its first line is a format header)."""
    urls = set()
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            rejected.append(Rejection(name, "bad-pages-line", f"line {number} is not JSON; passed over"))
            continue
        if isinstance(entry, dict) and entry.get("url"):
            urls.add(str(entry["url"]))
    return urls


def _utc(warc_date: str | None) -> str:
    """WARC-Date (or an ARC's 14-digit date, as warcio converts it) in UTC, ISO 8601."""
    if not warc_date:
        return ""
    try:
        moment = datetime.fromisoformat(warc_date.replace("Z", "+00:00"))
    except ValueError:
        return warc_date
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_tz.utc)
    return moment.astimezone(_tz.utc).isoformat().replace("+00:00", "Z")


def _media_type(content_type: str | None) -> tuple[str | None, str | None]:
    """(`text/html`, charset or None) from a Content-Type header."""
    if not content_type:
        return None, None
    mime, _, params = content_type.partition(";")
    match = re.search(r"charset\s*=\s*[\"']?([^\"';\s]+)", params, re.IGNORECASE)
    return mime.strip().lower() or None, match.group(1) if match else None


def _looks_like_html(payload: bytes) -> bool:
    head = payload[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<html" in head


def _is_robots_or_sitemap(url: str) -> bool:
    name = PurePosixPath(urlsplit(url).path).name.lower()
    return name == "robots.txt" or name.startswith("sitemap")
