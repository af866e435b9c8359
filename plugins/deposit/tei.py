"""One article as a TEI P5 document (`<slug>.tei.xml` beside its page), for text scholars.

The header says what the text is and where it came from (title, archive, date with `@when` in
ISO 8601, the dump file and its digest or the table row and its dataset, or for a web-archive
capture the original URL and the capture: its time, archive file and WARC-Record-ID; the
rights); the body
holds the scraped paragraphs as `<p>`, the editor's code as `<signed>`, and the outlet's
related list as a `<listBibl>`. Pure: plain values in, bytes out.

XML 1.0 cannot hold most C0 control characters at all; the few scraped texts that carry one
get U+FFFD in its place here (the JSON Lines export keeps them exactly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

TEI_NS = "http://www.tei-c.org/ns/1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
MEDIA_TYPE = "application/tei+xml"
#: What XML 1.0 forbids in text (tab, line feed and carriage return are allowed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: Language names for the header's `<langUsage>`.
LANGUAGES = {"en": "English", "ar": "Arabic", "fa": "Persian"}


@dataclass(frozen=True)
class RelatedItem:
    title: str
    target: str | None  # link to the archive page (relative to the TEI file, or absolute)
    when: str | None  # ISO 8601 date or date-time


@dataclass(frozen=True)
class WebCapture:
    """The web-archive capture (or saved page) an article's text comes from."""

    url: str | None  # the original URL, as captured
    link: str | None  # the same when it may be a link (http or https; see broadsheet.links)
    captured: str | None  # WARC-Date in UTC, ISO 8601 (a saved page has none)
    when: str | None  # the same, when it reads as a date-time (an edit may have made it prose)
    archive: str  # the archive file (or saved page) under the source folder
    member: str | None = None  # the WARC inside a WACZ
    offset: int | None = None  # the record's byte offset
    record_id: str | None = None  # WARC-Record-ID (ARC records have none)


@dataclass(frozen=True)
class TeiArticle:
    """What a TEI file says about one article."""

    title: str
    when: str  # ISO 8601 with offset, in the source's local time
    date_text: str  # as the site prints it
    lang: str  # BCP 47
    paragraphs: tuple[str, ...]
    signature: str | None
    publisher: str  # the outlet
    archive: str  # the site's name
    identifier: str  # the archive page: absolute URL (hosted) or path from the site root
    page: str  # the page, as a link from the TEI file
    source_file: str
    source_sha256: str
    source_row: int | None
    rights: str
    dataset: dict | None = None  # the published dataset a table row comes from
    related: tuple[RelatedItem, ...] = field(default_factory=tuple)
    capture: WebCapture | None = None


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _add(parent, tag: str, text: str | None = None, **attrs: str):
    element = etree.SubElement(parent, f"{{{TEI_NS}}}{tag}", {k: _text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _text(text)
    return element


def _add_capture(source, c: WebCapture) -> None:
    """The original URL, and the capture as a note: when, in which archive file, which record."""
    if c.url:
        _add(source, "idno", c.url, type="URI")
    if c.link:
        _add(source, "ptr", target=c.link, type="original")
    note = _add(source, "note", type="capture")
    if c.captured:
        _add(note, "date", c.captured, **({"when": c.when} if c.when else {}), type="capture")
    _add(note, "idno", c.archive, type="archive-file")
    if c.member:
        _add(note, "idno", c.member, type="archive-member")
    if c.offset is not None:
        _add(note, "idno", str(c.offset), type="record-offset")
    if c.record_id:
        _add(note, "idno", c.record_id, type="WARC-Record-ID")


def tei_document(a: TeiArticle) -> bytes:
    """The TEI file's bytes (UTF-8, with an XML declaration)."""
    root = etree.Element(f"{{{TEI_NS}}}TEI", nsmap={None: TEI_NS})
    root.set(XML_LANG, a.lang)
    header = _add(root, "teiHeader")
    file_desc = _add(header, "fileDesc")
    title_stmt = _add(file_desc, "titleStmt")
    _add(title_stmt, "title", a.title)
    publication = _add(file_desc, "publicationStmt")
    _add(publication, "publisher", a.archive)
    _add(publication, "idno", a.identifier, type="URI")
    _add(publication, "ptr", target=a.page, type="archive-page")
    availability = _add(publication, "availability")
    _add(_add(availability, "licence"), "p", a.rights)
    source = _add(_add(file_desc, "sourceDesc"), "bibl")
    _add(source, "title", a.title, level="a")
    _add(source, "publisher", a.publisher)
    _add(source, "date", a.date_text, when=a.when)
    _add(source, "idno", a.source_file if a.source_row is None else f"{a.source_file}#row={a.source_row}",
         type="source-file")
    _add(source, "idno", a.source_sha256, type="sha256")
    if a.capture:
        _add_capture(source, a.capture)
    if a.dataset:
        dataset = _add(source, "relatedItem", type="dataset")
        bibl = _add(dataset, "bibl")
        _add(bibl, "title", str(a.dataset.get("title") or ""), level="m")
        for author in a.dataset.get("authors") or []:
            _add(bibl, "author", str(author))
        if a.dataset.get("doi"):
            _add(bibl, "idno", str(a.dataset["doi"]), type="DOI")
        if a.dataset.get("licence"):
            _add(bibl, "note", str(a.dataset["licence"]), type="licence")
    languages = _add(_add(header, "profileDesc"), "langUsage")
    _add(languages, "language", LANGUAGES.get(a.lang.split("-")[0], a.lang), ident=a.lang)

    text = _add(root, "text")
    text.set(XML_LANG, a.lang)
    body = _add(text, "body")
    article = _add(body, "div", type="article")
    _add(article, "head", a.title)
    for paragraph in a.paragraphs:
        _add(article, "p", paragraph)
    if not a.paragraphs:
        _add(article, "p")
    if a.signature:
        _add(article, "signed", a.signature)
    if a.related:
        related = _add(body, "div", type="related")
        _add(related, "head", "Related articles, as the outlet listed them")
        items = _add(related, "listBibl")
        for item in a.related:
            bibl = _add(items, "bibl")
            _add(bibl, "title", item.title)
            if item.when:
                _add(bibl, "date", when=item.when)
            if item.target:
                _add(bibl, "ptr", target=item.target)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
