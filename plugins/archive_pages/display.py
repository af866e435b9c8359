"""What an article page shows, decided in Python: script direction, local date, provenance, paths."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup

from broadsheet.links import as_browser_reads, is_allowed_url, url_scheme

#: Letters (not digits or punctuation) in the Unicode blocks of the Arabic script: Arabic,
#: Supplement, Extended-A, Presentation Forms A and B.
_ARABIC_LETTER = re.compile("(?=[^\\W\\d_])[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LETTER = re.compile(r"[^\W\d_]")
#: Letters Persian uses and Arabic does not: pe, che, zhe, gaf, keheh, Farsi yeh.
_PERSIAN_LETTER = re.compile("[پچژگکی]")


@dataclass(frozen=True)
class Script:
    lang: str  # BCP 47 code for the `lang` attribute
    dir: str  # "ltr" or "rtl"


def detect_script(text: str, default_lang: str) -> Script:
    """Arabic-script text (most letters in that script) is `ar`, or `fa` if it uses Persian letters."""
    letters = len(_LETTER.findall(text))
    if letters and len(_ARABIC_LETTER.findall(text)) * 2 > letters:
        return Script("fa" if _PERSIAN_LETTER.search(text) else "ar", "rtl")
    return Script(default_lang, "ltr")


@dataclass(frozen=True)
class LocalDate:
    iso: str  # for <time datetime>: 2016-03-20T21:30:46+03:30
    text: str  # Sun 20 Mar 2016 21:30:46
    zone: str  # Asia/Tehran, UTC+03:30


def local_date(value: datetime, timezone: str, date_format: str) -> LocalDate:
    local = value.astimezone(ZoneInfo(timezone))
    offset = local.strftime("%z")
    return LocalDate(
        iso=local.isoformat(),
        text=local.strftime(date_format),
        zone=f"{timezone}, UTC{offset[:3]}:{offset[3:]}",
    )


@dataclass(frozen=True)
class Link:
    """Another page as a page shows it: where it is and its title."""

    url: str
    title: str


@dataclass
class ArticleDisplay:
    """Everything article.html shows beyond Pelican's own fields (attached as `article.display`)."""

    #: broadsheet.article.Article, paragraphs included. Left out of the repr, which page keys
    #: digest (broadsheet.reuse): it is the content file's, which a page's key covers already.
    record: Any = field(repr=False)
    script: Script
    date: LocalDate
    signature_url: str | None = None
    provenance: list[tuple[str, Any]] = field(default_factory=list)
    related: list[Any] = field(default_factory=list)  # RelatedEntry, shown when no graph partial
    earlier: Link | None = None  # the article just before in time
    later: Link | None = None
    citation: Any = None  # citations.Citation
    citation_meta: list[tuple[str, str]] = field(default_factory=list)
    json_ld: Markup = Markup("")
    reference: str = ""
    downloads: list[tuple[str, str, str]] = field(default_factory=list)  # label, URL, media type
    #: Web-archive input: the page's original URL, when it is one a link may point to.
    original_url: str | None = None
    captured: str | None = None  # when that page was captured (UTC, ISO 8601)


#: provenance keys (broadsheet.article.PROVENANCE_KEYS) -> panel labels, in reading order.
_CAPTURE_LABELS = (
    ("url", "Original URL"), ("captured", "Captured (UTC)"), ("archive", "Web archive"),
    ("member", "WARC in the WACZ"), ("offset", "Record offset (bytes)"), ("record_id", "WARC-Record-ID"),
    ("payload_digest", "Payload digest"), ("status", "HTTP status"), ("content_type", "Content type"),
)


def capture_of(record) -> dict[str, Any]:
    """The article's `provenance` (web-archive input), or {}: also when an edit left it something
    other than a mapping, which the page then does not show."""
    prov = record.provenance
    return prov if isinstance(prov, dict) else {}


def capture_rows(prov: dict[str, Any]) -> list[tuple[str, Any]]:
    """The capture an article's text comes from and every capture time of that text (the texts
    earlier captures had are the article's versions, which plugins/versions shows)."""
    rows: list[tuple[str, Any]] = [(label, str(prov[key])) for key, label in _CAPTURE_LABELS
                                   if prov.get(key) is not None]
    if isinstance(prov.get("captures"), list):
        rows.append(("Captures of this text (UTC)", [str(t) for t in prov["captures"]]))
    return rows


def linkable_url(url: Any) -> str | None:
    """`url` when a page may link to it as an address elsewhere: an absolute http(s) URL by the
    one allow-list (broadsheet.links); anything else is shown as text only."""
    if is_allowed_url(url) and url_scheme(url) is not None:
        return as_browser_reads(url)
    return None


def capture_time(prov: dict[str, Any]) -> datetime | None:
    """When the text was captured (the access date of a citation), from `provenance.captured`."""
    try:
        return datetime.fromisoformat(str(prov.get("captured")).replace("Z", "+00:00"))
    except ValueError:
        return None


def provenance(record, content_file: str) -> list[tuple[str, Any]]:
    """The provenance panel, in reading order; list values are shown as lists."""
    src = record.source
    rows: list[tuple[str, Any]] = [
        ("Source file", src.file),
        ("SHA-256", src.sha256),
        ("Size", f"{src.bytes:,} bytes"),
        ("Encoding", src.encoding),
        ("Line endings", src.newlines),
    ]
    if src.row is not None:
        rows.append(("Table row", str(src.row)))
    if record.source_id:
        rows.append(("Outlet id", record.source_id))
    if record.outlet:
        rows.append(("Outlet", record.outlet))
    rows += capture_rows(capture_of(record))
    rows.append(("Related-articles blob", record.related_status))
    rows.append(("Ingest warnings", list(record.warnings) or "none"))
    rows.append(("Content file", content_file))
    return rows
