"""Web archives in: WARC (written by warcio and by wget), ARC, WACZ and saved HTML pages."""

from __future__ import annotations

import functools
import gzip
import html
import http.server
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from broadsheet import engine, versions, webarchive
from broadsheet.article import Article, read_markdown_file
from broadsheet.dumps import Rejection, parse_dump
from broadsheet.ingest import ingest
from broadsheet.webarchive import Skipped, decode_html, read_archive, read_web_input
from conftest import ROOT, SEED, build_site

TZ = "Asia/Tehran"
SEED_ARTICLE = parse_dump(SEED.read_bytes(), SEED.name, TZ)
SEED_TEXT = SEED.read_text(encoding="utf-8")
SEED_BLOB = SEED_TEXT[SEED_TEXT.index('string('):].rstrip()
#: Titles the seed's related list gives (entries 1 and 2), dated from their pictures' ticks.
LISTED = SEED_ARTICLE.related_entries(TZ)
WGET = "/usr/bin/wget"

LOREM = [
    "Government forces pushed into the eastern districts on Tuesday after a week of heavy fighting, "
    "officials said, as residents described shortages of bread and fuel across the city.",
    "The ministry said engineers had begun clearing roads and restoring water to neighbourhoods "
    "that had been cut off since the start of the month, and that schools would reopen soon.",
    "Aid agencies warned that the number of people needing help had doubled since January and "
    "called for safe passage for convoys carrying medicine, flour and blankets to the area.",
    "Local councils published lists of families returning to their homes, while engineers surveyed "
    "damaged bridges on the main road linking the province with the coast.",
]


# -- pages ------------------------------------------------------------------------------------

def _chrome(body: str, title: str, lang: str = "en", head: str = "", dir_: str = "ltr") -> str:
    """A news site's page around `body`: navigation, a sidebar and a footer for trafilatura to drop."""
    nav = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(10))
    side = "".join(f'<li><a href="/news/{900 + i}">Most read story number {i}</a></li>' for i in range(6))
    return (f'<!DOCTYPE html><html lang="{lang}" dir="{dir_}"><head>{head}<title>{html.escape(title)} | The Courier'
            f'</title></head><body><header><nav><ul>{nav}</ul></nav></header><main>{body}</main>'
            f'<aside><h3>Most read</h3><ul>{side}</ul></aside><footer><p>Copyright The Courier. All rights '
            f'reserved.</p><a href="/about">About</a> <a href="/contact">Contact</a></footer></body></html>')


def news_page(title: str, paragraphs: list[str], date: str = "2016-03-20", lang: str = "en",
              head: str = '<meta charset="utf-8">', dir_: str = "ltr") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    meta = f'<meta property="article:published_time" content="{date}T10:00:00+00:00">'
    return _chrome(f'<article><h1>{html.escape(title)}</h1><p class="byline">By Staff Writer</p>{body}</article>',
                   title, lang, head + meta, dir_)


def section_front() -> str:
    """A section front: headlines and links only, no article body."""
    items = "".join(f'<li><a href="/news/{i}">Headline number {i} about the war</a></li>' for i in range(30))
    return _chrome(f"<h1>World news</h1><ul>{items}</ul>", "World news")


def alalam_page(title: str, dateline: str, paragraphs: list[str], signature: str | None, blob: str) -> str:
    """A page laid out as Al-Alam's were: title, dateline, body, signature, and the var_dump."""
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    sig = f'<p class="sig">{html.escape(signature)}</p>' if signature else ""
    return _chrome(f'<h1>{html.escape(title)}</h1><div class="date">{dateline}</div>'
                   f'<div class="story">{body}{sig}</div><div class="related">{html.escape(blob)}</div>', title)


def seed_page() -> str:
    a = SEED_ARTICLE
    return alalam_page(a.title, "Sun Mar 20, 2016 21:30:46", a.paragraphs, a.signature, SEED_BLOB)


# -- archives -------------------------------------------------------------------------------

class Warc:
    """A WARC file written record by record with warcio."""

    def __init__(self, path: Path, gzip: bool = True):
        self.path = path
        self._file = open(path, "wb")
        self.writer = WARCWriter(self._file, gzip=gzip)
        self.writer.write_record(self.writer.create_warcinfo_record(path.name, {"software": "test"}))

    def response(self, url: str, payload: bytes | str, content_type: str = "text/html; charset=utf-8",
                 status: str = "200 OK", date: str = "2016-03-21T08:00:00Z", extra=()) -> None:
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        headers = StatusAndHeaders(status, [("Content-Type", content_type), *extra], protocol="HTTP/1.1")
        self.writer.write_record(self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(data), http_headers=headers, warc_headers_dict={"WARC-Date": date}))

    def request(self, url: str) -> None:
        headers = StatusAndHeaders(f"GET {url} HTTP/1.1", [("Host", "example.org")], is_http_request=True)
        self.writer.write_record(self.writer.create_warc_record(url, "request", http_headers=headers))

    def metadata(self, url: str) -> None:
        self.writer.write_record(self.writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(b"via: http://example.org/\n"), warc_content_type="application/warc-fields"))

    def revisit(self, url: str, date: str, digest: str) -> None:
        record = self.writer.create_revisit_record(url, digest, url, "2016-03-21T08:00:00Z")
        record.rec_headers.replace_header("WARC-Date", date)
        self.writer.write_record(record)

    def close(self) -> Path:
        self._file.close()
        return self.path


def one_page_warc(path: Path, title: str, paragraphs, date: str) -> Path:
    """A WARC holding one capture of the news page at URL, as a crawl of it writes one."""
    warc = Warc(path)
    warc.response(URL, news_page(title, paragraphs), date=date)
    return warc.close()


def outcomes_by_kind(outcomes):
    articles = [o for o in outcomes if isinstance(o, Article)]
    rejected = [o for o in outcomes if isinstance(o, Rejection)]
    skipped = {o.reason: o.count for o in outcomes if isinstance(o, Skipped)}
    return articles, rejected, skipped


def record_at(path: Path, offset: int):
    """The WARC-Record-ID of the record starting at `offset`, read by seeking there."""
    with open(path, "rb") as f:
        f.seek(offset)
        record = next(iter(ArchiveIterator(f)))
        return record.rec_headers.get_header("WARC-Record-ID"), record.rec_headers.get_header("WARC-Target-URI")


# -- records and skips ----------------------------------------------------------------------

def test_every_skip_reason_is_counted_and_articles_carry_their_provenance(tmp_path):
    warc = Warc(tmp_path / "crawl.warc.gz")
    article_url = "http://courier.example/news/1"
    warc.request(article_url)
    warc.response(article_url, news_page("Engineers Restore Water to Eastern Districts", LOREM))
    warc.metadata(article_url)
    warc.response("http://courier.example/style.css", "body { color: black }", "text/css")
    warc.response("http://courier.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "image/png")
    warc.response("http://courier.example/app.js", "console.log(1)", "application/javascript")
    warc.response("http://courier.example/old", "", status="301 Moved Permanently",
                  extra=[("Location", article_url)])
    warc.response("http://courier.example/missing", _chrome("<p>Not found</p>", "Not found"), status="404 Not Found")
    warc.response("http://courier.example/broken", _chrome("<p>Server error</p>", "Error"),
                  status="500 Internal Server Error")
    warc.response("http://courier.example/world", section_front())
    warc.response("http://courier.example/robots.txt", "User-agent: *\nDisallow:\n", "text/plain")
    warc.response("http://courier.example/sitemap.xml", "<urlset></urlset>", "application/xml")
    warc.revisit("http://courier.example/news/7", "2016-03-22T08:00:00Z", "sha1:AAAA")
    path = warc.close()

    outcomes = read_archive(str(path), "crawl.warc.gz", TZ)
    articles, rejected, skipped = outcomes_by_kind(outcomes)
    assert rejected == []
    assert skipped == {"request": 1, "metadata": 2, "not-html": 3, "redirect": 1, "error-status": 2,
                       "no-article-body": 1, "robots-or-sitemap": 2, "revisit": 1}
    assert set(skipped) == set(webarchive.SKIP_REASONS) - {"not-a-page"}  # the WACZ test has that one
    assert [o for o in outcomes if isinstance(o, webarchive.Revisit)] == [  # its payload is elsewhere
        webarchive.Revisit("crawl.warc.gz", "http://courier.example/news/7", "2016-03-22T08:00:00Z", "sha1:AAAA")]
    (article,) = articles
    assert article.title == "Engineers Restore Water to Eastern Districts"
    assert article.paragraphs[-4:] == LOREM
    assert article.date.isoformat() == "2016-03-20T00:00:00+03:30"
    prov = article.provenance
    assert prov["url"] == article_url and prov["captured"] == "2016-03-21T08:00:00Z"
    assert prov["archive"] == "crawl.warc.gz" and prov["status"] == 200
    assert prov["content_type"] == "text/html; charset=utf-8"
    assert prov["payload_digest"].startswith("sha1:") and prov["captures"] == ["2016-03-21T08:00:00Z"]
    assert record_at(path, prov["offset"]) == (prov["record_id"], article_url)
    assert article.source.ref == f"crawl.warc.gz#offset={prov['offset']}"
    assert article.web["language"] == "en"


def test_ingest_reports_skips_by_reason_and_publishes_only_articles(tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    warc = Warc(source / "crawl.warc")  # uncompressed, beside a dump
    warc.response("http://courier.example/news/1", news_page("Engineers Restore Water", LOREM))
    warc.response("http://courier.example/a.css", "p {}", "text/css")
    warc.close()
    shutil.copy(SEED, source / SEED.name)
    report = ingest(source, tmp_path / "content", TZ)
    assert report.summary()["accepted"] == 2 and report.rejected == [] and report.exit_status == 0
    assert report.skipped == {"metadata": 1, "not-html": 1}
    assert "web-archive records skipped: 1 metadata, 1 not-html" in "\n".join(report.summary_lines())
    written = sorted(p.name for p in (tmp_path / "content").rglob("*.md"))
    assert written == ["engineers-restore-water.md", SEED_ARTICLE.title.lower().replace(" ", "-")
                       .replace(",", "") + ".md"]


# -- captures of one URL --------------------------------------------------------------------

def test_the_same_page_captured_three_times_is_one_article_with_every_capture_time(tmp_path):
    warc = Warc(tmp_path / "crawl.warc.gz")
    url = "http://courier.example/news/1"
    page = news_page("Engineers Restore Water", LOREM)
    for day in ("23", "21", "22"):
        warc.response(url, page, date=f"2016-03-{day}T08:00:00Z")
    path = warc.close()
    digest = next(r.rec_headers.get_header("WARC-Payload-Digest")
                  for r in ArchiveIterator(open(path, "rb")) if r.rec_type == "response")
    with open(path, "ab") as f:  # a later crawl found the same payload and wrote a revisit record
        writer = WARCWriter(f, gzip=True)
        record = writer.create_revisit_record(url, digest, url, "2016-03-21T08:00:00Z")
        record.rec_headers.replace_header("WARC-Date", "2016-03-24T08:00:00Z")
        writer.write_record(record)
    articles, rejected, skipped = outcomes_by_kind(read_archive(str(path), "crawl.warc.gz", TZ))
    (article,) = articles
    assert article.provenance["captures"] == [f"2016-03-{d}T08:00:00Z" for d in ("21", "22", "23", "24")]
    assert article.provenance["captured"] == "2016-03-23T08:00:00Z"  # the latest response
    assert "earlier_versions" not in article.provenance and skipped["revisit"] == 1


URL = "http://courier.example/news/1"
CORRECTED = LOREM[:2] + ["Correction: an earlier version of this article misstated the date of the convoy."]


def articles_in(content: Path) -> list[Path]:
    return sorted(p for p in content.rglob("*.md") if not versions.is_version_path(p.relative_to(content)))


def test_a_changed_recapture_shows_the_latest_text_and_keeps_the_earlier_one_as_a_version(tmp_path):
    warc = Warc(tmp_path / "crawl.warc.gz")
    warc.response(URL, news_page("Engineers Restore Water", CORRECTED), date="2016-03-25T08:00:00Z")
    warc.response(URL, news_page("Engineers Restore Water", LOREM), date="2016-03-21T08:00:00Z")
    warc.response(URL, news_page("Engineers Restore Water", LOREM), date="2016-03-22T08:00:00Z")
    path = warc.close()
    # the archive gives one article per text; ingest folds them into one
    texts = outcomes_by_kind(read_archive(str(path), "crawl.warc.gz", TZ))[0]
    assert [a.provenance["captures"] for a in texts] == [["2016-03-21T08:00:00Z", "2016-03-22T08:00:00Z"],
                                                         ["2016-03-25T08:00:00Z"]]
    content = tmp_path / "content"
    report = ingest(path, content, TZ)
    assert report.summary()["accepted"] == 1 and report.summary()["duplicates"] == 1
    assert report.duplicates[0]["earlier_text"] is True
    (md,) = articles_in(content)
    article = read_markdown_file(md.read_text(encoding="utf-8"))
    assert article.paragraphs[-1].startswith("Correction:") and md.name == "engineers-restore-water.md"
    assert article.provenance["captures"] == ["2016-03-25T08:00:00Z"]
    assert "earlier_versions" not in article.provenance
    assert any("changed between captures" in w for w in article.warnings)
    (earlier,), problems = versions.read_versions(md)
    assert problems == [] and earlier.paragraphs[-4:] == LOREM and earlier.title == "Engineers Restore Water"
    assert (earlier.seen, earlier.replaced, earlier.changed) == ("2016-03-21T08:00:00Z", "2016-03-25T08:00:00Z",
                                                                 ["body"])
    # the same archive again: the same bytes, no second version, and the archive is not read
    before = {p: p.read_bytes() for p in content.rglob("*.md")}
    os.utime(path, (1_600_000_000, 1_600_000_000))
    ingest(path, content, TZ)  # its stamp is now one to trust
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(webarchive, "read_archive", _no_reading)
        again = ingest(path, content, TZ)
    assert {p: p.read_bytes() for p in content.rglob("*.md")} == before and again.summary()["written"] == 0


def _no_reading(*args):
    raise AssertionError("an unchanged archive was read again")


def test_captures_of_one_url_in_several_archives_are_one_article(tmp_path):
    """A crawl split into two WARCs and a saved copy of the page: one article, every capture time."""
    source = tmp_path / "raw"
    source.mkdir()
    page = news_page("Engineers Restore Water", LOREM)
    first = Warc(source / "crawl-00001.warc.gz")
    first.response(URL, page, date="2016-03-22T08:00:00Z")
    first.close()
    second = Warc(source / "crawl-00000.warc.gz")  # named first, captured later
    second.response(URL, page, date="2016-03-23T08:00:00Z")
    second.response(URL, page, date="2016-03-21T08:00:00Z")
    second.close()
    (source / "water.html").write_text(f"<!-- saved from url=(0030){URL} -->\n" + page, encoding="utf-8")
    report = ingest(source, tmp_path / "content", TZ)
    assert report.summary()["accepted"] == 1 and report.summary()["duplicates"] == 2
    (md,) = articles_in(tmp_path / "content")
    assert md.name == "engineers-restore-water.md"  # no hash-suffixed second article
    prov = read_markdown_file(md.read_text(encoding="utf-8")).provenance
    assert prov["captures"] == [f"2016-03-{d}T08:00:00Z" for d in ("21", "22", "23")]
    assert (prov["archive"], prov["captured"]) == ("crawl-00000.warc.gz", "2016-03-23T08:00:00Z")
    assert versions.read_versions(md) == ([], [])
    # unchanged archives are not read again, though the article is none of theirs alone
    for path in source.iterdir():
        os.utime(path, (1_600_000_000, 1_600_000_000))
    before = md.read_bytes()
    ingest(source, tmp_path / "content", TZ)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(webarchive, "read_archive", _no_reading)
        patched.setattr(webarchive, "read_saved_page", _no_reading)
        again = ingest(source, tmp_path / "content", TZ)
    assert md.read_bytes() == before and again.summary()["unchanged"] == 1


def test_a_revisit_record_in_a_later_archive_adds_its_time_to_the_page_it_names(tmp_path):
    """A deduplicating recrawl writes a revisit record, not the payload, when the page is unchanged."""
    source = tmp_path / "raw"
    source.mkdir()
    first = one_page_warc(source / "march.warc.gz", "Engineers Restore Water", LOREM, "2016-03-21T08:00:00Z")
    digest = next(r.rec_headers.get_header("WARC-Payload-Digest")
                  for r in ArchiveIterator(open(first, "rb")) if r.rec_type == "response")
    later = Warc(source / "april.warc.gz")
    later.revisit(URL, "2016-04-02T08:00:00Z", digest)
    later.revisit("http://courier.example/news/2", "2016-04-02T08:01:00Z", "sha1:NOTHINGHERE")
    later.close()
    report = ingest(source, tmp_path / "content", TZ)
    assert report.summary()["accepted"] == 1 and report.skipped["revisit"] == 2 and report.summary()["read"] == 1
    (md,) = articles_in(tmp_path / "content")
    prov = read_markdown_file(md.read_text(encoding="utf-8")).provenance
    assert prov["captures"] == ["2016-03-21T08:00:00Z", "2016-04-02T08:00:00Z"]
    assert prov["archive"] == "march.warc.gz"
    for path in source.iterdir():  # unchanged archives: not read again, the same article
        os.utime(path, (1_600_000_000, 1_600_000_000))
    before = md.read_bytes()
    ingest(source, tmp_path / "content", TZ)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(webarchive, "read_archive", _no_reading)
        ingest(source, tmp_path / "content", TZ)
    assert md.read_bytes() == before


def test_which_capture_is_the_article_does_not_depend_on_the_order_files_are_read(tmp_path):
    from broadsheet.ingest import _prepare, merge_captures

    def capture(name: str, date: str, paragraphs: list[str]) -> None:
        warc = Warc(tmp_path / name)
        warc.response(URL, news_page("Engineers Restore Water", paragraphs), date=date)
        warc.close()

    capture("b.warc.gz", "2016-03-21T08:00:00Z", LOREM)
    capture("a.warc.gz", "2016-03-22T08:00:00Z", LOREM[1:])
    capture("c.warc.gz", "2016-03-22T08:00:00Z", CORRECTED)  # the same second: the archive name decides
    capture("d.warc.gz", "2016-03-20T08:00:00Z", LOREM)

    def merged(names):
        records = [_prepare(a) for name in names
                   for a in outcomes_by_kind(read_archive(str(tmp_path / name), name, TZ))[0]]
        _, (folded,) = merge_captures(records)
        return (folded.latest.ref, folded.latest.captures, [r.ref for r in folded.earlier_texts],
                [r.captures for r in folded.earlier_texts])

    names = ["a.warc.gz", "b.warc.gz", "c.warc.gz", "d.warc.gz"]
    results = {repr(merged(order)) for order in itertools.permutations(names)}
    assert len(results) == 1
    latest, captures, earlier, earlier_captures = merged(names)
    assert latest.startswith("c.warc.gz#") and captures == ["2016-03-22T08:00:00Z"]
    assert [ref.partition("#")[0] for ref in earlier] == ["b.warc.gz", "a.warc.gz"]
    assert earlier_captures == [["2016-03-20T08:00:00Z", "2016-03-21T08:00:00Z"], ["2016-03-22T08:00:00Z"]]


def test_a_new_warc_with_a_changed_recapture_makes_the_old_text_a_version(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    source.mkdir()
    one_page_warc(source / "2016-03-crawl.warc.gz", "Engineers Restore Water", LOREM, "2016-03-21T08:00:00Z")
    ingest(source, content, TZ)
    (md,) = articles_in(content)
    assert read_markdown_file(md.read_text(encoding="utf-8")).paragraphs[-4:] == LOREM

    one_page_warc(source / "2016-04-recrawl.warc.gz", "Engineers Restore Water", CORRECTED, "2016-04-02T08:00:00Z")
    report = ingest(source, content, TZ)
    assert report.conflicts == [] and report.removed == [] and report.summary()["accepted"] == 1
    assert articles_in(content) == [md]
    article = read_markdown_file(md.read_text(encoding="utf-8"))
    assert article.paragraphs[-1].startswith("Correction:")
    assert article.provenance["archive"] == "2016-04-recrawl.warc.gz"
    (one,), _ = versions.read_versions(md)
    assert one.paragraphs[-4:] == LOREM and one.source_sha256 and one.changed == ["body"]
    assert (one.seen, one.replaced) == ("2016-03-21T08:00:00Z", "2016-04-02T08:00:00Z")
    kept_bytes = one.path.read_bytes()

    # a third crawl retitles the page: the article moves, its versions with it, none rewritten
    one_page_warc(source / "2016-05-recrawl.warc.gz", "Water Restored to Eastern Districts", CORRECTED,
                  "2016-05-02T08:00:00Z")
    report = ingest(source, content, TZ)
    assert report.conflicts == [] and report.summary()["accepted"] == 1
    (moved,) = articles_in(content)
    assert moved.name == "water-restored-to-eastern-districts.md" and not md.exists()
    found, _ = versions.read_versions(moved)
    assert [v.title for v in found] == ["Engineers Restore Water"] * 2
    assert found[0].path.read_bytes() == kept_bytes and found[1].paragraphs[-1].startswith("Correction:")
    assert [v.changed for v in found] == [["body"], ["title"]]
    before = {p: p.read_bytes() for p in content.rglob("*.md")}
    ingest(source, content, TZ)
    assert {p: p.read_bytes() for p in content.rglob("*.md")} == before


def test_a_recrawl_that_replaces_the_old_warc_keeps_the_old_text_as_a_version(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    source.mkdir()
    one_page_warc(source / "crawl.warc.gz", "Engineers Restore Water", LOREM, "2016-03-21T08:00:00Z")
    ingest(source, content, TZ)
    (source / "crawl.warc.gz").unlink()
    one_page_warc(source / "recrawl.warc.gz", "Engineers Restore Water", CORRECTED, "2016-04-02T08:00:00Z")
    report = ingest(source, content, TZ)
    assert report.conflicts == [] and report.removed == []
    (md,) = articles_in(content)
    assert read_markdown_file(md.read_text(encoding="utf-8")).paragraphs[-1].startswith("Correction:")
    (one,), _ = versions.read_versions(md)
    assert one.paragraphs[-4:] == LOREM and one.changed == ["body"]
    assert (one.seen, one.replaced) == ("2016-03-21T08:00:00Z", "2016-04-02T08:00:00Z")
    before = {p: p.read_bytes() for p in content.rglob("*.md")}
    ingest(source, content, TZ)
    assert {p: p.read_bytes() for p in content.rglob("*.md")} == before


# -- formats -------------------------------------------------------------------------------

def arc_file(records: list[tuple[str, str, str, bytes]]) -> bytes:
    """An ARC (version 1) file, one gzip member per record, as the Internet Archive wrote them."""
    version = b"1 0 Broadsheet\nURL IP-address Archive-date Content-type Archive-length\n"
    blocks = [b"filedesc://test.arc 0.0.0.0 20160321080000 text/plain %d\n" % len(version) + version + b"\n"]
    for url, date, content_type, payload in records:
        response = (b"HTTP/1.0 200 OK\r\nContent-Type: " + content_type.encode() +
                    b"\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        blocks.append(f"{url} 127.0.0.1 {date} {content_type} {len(response)}\n".encode() + response + b"\n")
    return b"".join(gzip.compress(b, mtime=0) for b in blocks)


def test_an_arc_file_is_read_as_warc(tmp_path):
    path = tmp_path / "old-crawl.arc.gz"
    path.write_bytes(arc_file([
        ("http://courier.example/news/1", "20160321080000", "text/html",
         news_page("Engineers Restore Water", LOREM).encode()),
        ("http://courier.example/a.css", "20160321080001", "text/css", b"p {}"),
    ]))
    articles, rejected, skipped = outcomes_by_kind(read_archive(str(path), path.name, TZ))
    (article,) = articles
    assert rejected == [] and skipped == {"metadata": 1, "not-html": 1}
    assert article.provenance["captured"] == "2016-03-21T08:00:00Z"
    assert "record_id" not in article.provenance  # ARC records have none; warcio's would be random
    again = outcomes_by_kind(read_archive(str(path), path.name, TZ))[0][0]
    assert again.provenance == article.provenance  # deterministic


def test_a_truncated_warc_gz_keeps_the_whole_records_and_names_the_cut(tmp_path):
    warc = Warc(tmp_path / "whole.warc.gz")
    for n in range(3):
        warc.response(f"http://courier.example/news/{n}", news_page(f"Story {n} of the Week", LOREM))
    whole = warc.close().read_bytes()
    ends = [m for m in _member_ends(whole)]
    # cut inside the last record's gzip member: the member ends early
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole[: ends[-2] + (ends[-1] - ends[-2]) // 2])
    articles, rejected, _ = outcomes_by_kind(read_archive(str(cut), cut.name, TZ))
    assert [a.title for a in articles] == ["Story 0 of the Week", "Story 1 of the Week"]
    (problem,) = rejected
    assert problem.reason in ("truncated-record", "truncated-archive")
    assert problem.source.startswith("cut.warc.gz#offset=")
    # cut a few bytes into a member: the member holds no whole line yet
    short = tmp_path / "short.warc.gz"
    short.write_bytes(whole[: ends[-2] + 20])
    articles, rejected, _ = outcomes_by_kind(read_archive(str(short), short.name, TZ))
    assert len(articles) == 2 and len(rejected) == 1
    # in an ingest, the run goes on and the report names the cut
    source = tmp_path / "raw"
    source.mkdir()
    shutil.move(cut, source / "cut.warc.gz")
    report = ingest(source, tmp_path / "content", TZ)
    assert report.summary()["accepted"] == 2 and report.exit_status == 3
    assert report.rejected[0]["source"].startswith("cut.warc.gz#offset=")


def _member_ends(data: bytes) -> list[int]:
    """Where each gzip member of `data` ends."""
    ends, at = [], 0
    while at < len(data):
        d = __import__("zlib").decompressobj(31)
        d.decompress(data[at:])
        at = len(data) - len(d.unused_data)
        ends.append(at)
    return ends


def test_garbage_and_broken_markup_are_named_never_a_crash(tmp_path):
    warc = Warc(tmp_path / "crawl.warc.gz")
    warc.response("http://courier.example/a", "<html><body><p>unclosed <div><table><tr><td>" + LOREM[0] * 3)
    warc.response("http://courier.example/b", bytes(range(256)) * 20, "text/html")
    warc.response("http://courier.example/c", "", "text/html")
    warc.response("http://courier.example/e", news_page("Odd Status", LOREM), status="OK FINE")
    warc.response("http://courier.example/d", news_page("Fine Story About Water", LOREM))
    path = warc.close()
    articles, rejected, skipped = outcomes_by_kind(read_archive(str(path), path.name, TZ))
    assert "Fine Story About Water" in [a.title for a in articles]
    assert len(articles) + len(rejected) + skipped.get("no-article-body", 0) + skipped.get("error-status", 0) == 5
    not_a_warc = tmp_path / "notes.warc"
    not_a_warc.write_bytes(b"PK\x03\x04" + bytes(range(256)))  # a zip file, misnamed
    (problem,) = read_archive(str(not_a_warc), "notes.warc", TZ)
    assert problem.reason == "unreadable-record" and "ArchiveLoadFailed" in problem.detail


# -- encodings and scripts --------------------------------------------------------------------

ARABIC_TITLE = "الجيش السوري يستعيد السيطرة على مناطق في ريف اللاذقية"
ARABIC = [
    "أعلن الجيش السوري اليوم الأحد أنه استعاد السيطرة على عدة نقاط استراتيجية في ريف اللاذقية الشمالي "
    "بعد معارك عنيفة مع المسلحين استمرت عدة أيام.",
    "وقال مصدر عسكري إن وحدات الجيش بالتعاون مع قوات الدفاع الشعبي تمكنت من تأمين الطرق الرئيسية "
    "المؤدية إلى القرى المجاورة وإعادة فتحها أمام المدنيين.",
    "وأضاف المصدر أن فرق الهندسة بدأت بإزالة الألغام والعبوات الناسفة التي زرعها المسلحون في المنطقة "
    "قبل انسحابهم منها باتجاه الحدود.",
]


def test_windows_1256_declared_only_in_the_meta_tag(tmp_path):
    head = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">'
    payload = news_page(ARABIC_TITLE, ARABIC, lang="ar", head=head, dir_="rtl").encode("windows-1256")
    with pytest.raises(UnicodeDecodeError):
        payload.decode("utf-8")
    warc = Warc(tmp_path / "ar.warc.gz")
    warc.response("http://alalam.example/ar/news/1", payload, "text/html")  # no charset in the header
    path = warc.close()
    (article,) = outcomes_by_kind(read_archive(str(path), path.name, TZ))[0]
    assert article.title == ARABIC_TITLE and article.paragraphs[-3:] == ARABIC
    assert article.source.encoding == "windows-1256" and article.warnings == []
    # the same bytes saved from a browser
    saved = tmp_path / "saved.html"
    saved.write_bytes(payload)
    (page,) = read_web_input(str(saved), "saved.html", TZ)
    assert page.paragraphs[-3:] == ARABIC and page.source.encoding == "windows-1256"


def test_encoding_comes_from_the_header_then_the_meta_tag_then_detection():
    text = "<html><head><meta charset='utf-8'></head><body><p>" + " ".join(ARABIC) + "</p></body></html>"
    cp1256 = text.encode("windows-1256")
    assert decode_html(cp1256, "windows-1256")[:2] == (text, "windows-1256")  # header over meta
    decoded, encoding, warnings = decode_html(cp1256, None)  # meta says utf-8: wrong, passed over
    assert encoding == "windows-1256" and decoded == text
    assert any("meta tag says utf-8" in w for w in warnings)
    assert decode_html(text.encode("utf-8"), "iso-8859-1")[1] == "utf-8"  # a header the bytes do not fit
    assert decode_html(b"<p>caf\xe9</p>", "latin1")[:2] == ("<p>café</p>", "windows-1252")  # WHATWG labels


def test_an_arabic_page_is_published_right_to_left(tmp_path):
    (tmp_path / "raw").mkdir()
    warc = Warc(tmp_path / "raw" / "ar.warc.gz")
    warc.response("http://alalam.example/ar/news/1", news_page(ARABIC_TITLE, ARABIC, lang="ar", dir_="rtl"))
    warc.close()
    ingest(tmp_path / "raw", tmp_path / "content", TZ)
    build_site(tmp_path / "content", tmp_path / "output")
    (page,) = (tmp_path / "output" / "2016" / "03").glob("*.html")
    text = page.read_text(encoding="utf-8")
    assert '<article class="article" lang="ar" dir="rtl"' in text
    assert html.escape(ARABIC[0], quote=False) in text


# -- saved pages ------------------------------------------------------------------------------

def test_a_folder_of_saved_pages(tmp_path):
    source = tmp_path / "saved" / "courier"
    source.mkdir(parents=True)
    (source / "water.html").write_text(
        "<!-- saved from url=(0030)http://courier.example/news/1 -->\n" + news_page("Engineers Restore Water", LOREM),
        encoding="utf-8")
    (source / "convoy.htm").write_text(news_page("Aid Convoy Reaches the City", LOREM[1:], date="2016-03-22"),
                                       encoding="utf-8")
    (source / "world.html").write_text(section_front(), encoding="utf-8")
    (source / "undated.html").write_text(_chrome("<article><h1>Undated</h1>" + "".join(
        f"<p>{p}</p>" for p in LOREM) + "</article>", "Undated"), encoding="utf-8")
    report = ingest(tmp_path / "saved", tmp_path / "content", TZ)
    assert sorted(a["source"] for a in report.accepted) == ["courier/convoy.htm", "courier/water.html"]
    assert report.skipped == {"no-article-body": 1}
    assert [(r["source"], r["reason"]) for r in report.rejected] == [("courier/undated.html", "no-date")]
    water = read_markdown_file(next((tmp_path / "content").rglob("engineers-restore-water.md")).read_text())
    assert water.provenance == {"url": "http://courier.example/news/1", "archive": "courier/water.html",
                                "content_type": "text/html"}


# -- Al-Alam pages: the dump parser reads them --------------------------------------------------

def test_an_alalam_page_reads_as_its_dump_does(tmp_path):
    warc = Warc(tmp_path / "alalam.warc.gz")
    warc.response("http://en.alalam.ir/news/1800694", seed_page())
    path = warc.close()
    (article,) = outcomes_by_kind(read_archive(str(path), path.name, TZ))[0]
    seed = SEED_ARTICLE
    assert (article.title, article.date, article.signature) == (seed.title, seed.date, seed.signature)
    assert article.paragraphs == seed.paragraphs
    assert (article.related_json, article.related_status) == (seed.related_json, seed.related_status) == \
        (seed.related_json, "ok")
    assert article.date.isoformat() == "2016-03-20T21:30:46+03:30"


def alalam_corpus(source: Path) -> Path:
    """The seed's page and the two pages its related list names first, all in one WARC: the
    second lists the seed back by title, so the graph links pages in both directions."""
    warc = Warc(source / "alalam.warc.gz")
    warc.response("http://en.alalam.ir/news/1800694", seed_page(), date="2016-03-21T08:00:00Z")
    back = json.dumps([{"id": "1800694", "sort": "1", "contenttypeid": "21",
                        "pic": "/2016/03/20/alalam_635941098460240970_25f_4x3.jpg", "title": SEED_ARTICLE.title}],
                      separators=(",", ":"))
    for n, entry in enumerate(LISTED[:2]):
        when = entry.published.strftime("%a %b %-d, %Y %H:%M:%S")
        blob = f'string({len(back.encode())}) "{back}"' if n == 0 else 'string(2) "[]"'
        warc.response(f"http://en.alalam.ir/news/{entry.id}",
                      alalam_page(entry.title, when, SEED_ARTICLE.paragraphs[n * 3: n * 3 + 4], "S/SH", blob),
                      date="2016-03-21T08:05:00Z")
    return warc.close()


def test_alalam_pages_in_a_warc_give_the_related_graph(tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    alalam_corpus(source)
    report = ingest(source, tmp_path / "content", TZ)
    assert report.summary()["accepted"] == 3 and report.rejected == []
    build_site(tmp_path / "content", tmp_path / "output", RELATED_GRAPH_REPORT=str(tmp_path / "graph.json"))
    graph = json.loads((tmp_path / "output" / "data" / "graph.json").read_text(encoding="utf-8"))
    resolved = sorted(e["resolved_by"] for e in graph["edges"] if e["resolved_by"] != "unresolved")
    assert resolved == ["title", "title", "title"]  # seed -> both listed pages, and one back


# -- a real crawler: wget against a loopback server --------------------------------------------

@pytest.fixture(scope="module")
def site_to_crawl(tmp_path_factory):
    """A small news site served on 127.0.0.1 while the module's tests run."""
    root = tmp_path_factory.mktemp("site")
    (root / "news").mkdir()
    links = []
    for n, title in enumerate(["Engineers Restore Water", "Aid Convoy Reaches the City", "Schools Reopen"]):
        (root / "news" / f"{n}.html").write_text(news_page(title, LOREM[n:] + LOREM[:n]), encoding="utf-8")
        links.append(f'<a href="news/{n}.html">{title}</a>')
    (root / "style.css").write_text("p { margin: 0 }")
    (root / "index.html").write_text(
        _chrome("<ul>" + "".join(f"<li>{link}</li>" for link in links) + '</ul><a href="gone.html">gone</a>'
                '<a href="news">all news</a>', "Front page", head='<link rel="stylesheet" href="style.css">'),
        encoding="utf-8")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def wget_crawl(site_to_crawl, tmp_path_factory):
    """crawl.warc.gz, written by wget crawling the loopback site."""
    if not Path(WGET).exists():
        pytest.fail(f"wget is required at {WGET} (apt-get install wget)")
    work = tmp_path_factory.mktemp("crawl")
    done = subprocess.run([WGET, "--recursive", "--level=2", "--page-requisites", "--no-verbose", "--tries=1",
                           "--timeout=10", "--no-http-keep-alive", "--warc-file=crawl", "--no-warc-keep-log", "--no-directories", "--delete-after",
                           site_to_crawl], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 8), done.stderr  # 8: a page answered 404, as gone.html does
    return work / "crawl.warc.gz"


def test_a_wget_crawl(wget_crawl, site_to_crawl):
    articles, rejected, skipped = outcomes_by_kind(read_archive(str(wget_crawl), "crawl.warc.gz", TZ))
    assert rejected == []
    assert sorted(a.title for a in articles) == ["Aid Convoy Reaches the City", "Engineers Restore Water",
                                                 "Schools Reopen"]
    assert skipped["request"] >= 6 and skipped["error-status"] >= 1 and skipped["not-html"] >= 1
    assert skipped["robots-or-sitemap"] == 1 and skipped["redirect"] == 1  # robots.txt; `news` -> `news/`
    assert skipped["no-article-body"] >= 1  # the front page (and the folder listing)
    for article in articles:
        assert article.provenance["url"].startswith(site_to_crawl + "news/")
        assert record_at(wget_crawl, article.provenance["offset"])[0] == article.provenance["record_id"]


def test_a_wacz_made_from_the_crawl(wget_crawl, tmp_path):
    wacz = tmp_path / "crawl.wacz"
    pages = tmp_path / "pages.jsonl"
    captured = sorted((a.provenance["url"], a.provenance["captured"]) for a in outcomes_by_kind(
        read_archive(str(wget_crawl), "crawl.warc.gz", TZ))[0])
    articles = [url for url, _ in captured]
    # the WACZ lists two of the three articles as its pages
    pages.write_text(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n" +
                     "".join(json.dumps({"url": u, "ts": ts}) + "\n" for u, ts in captured[:2]))
    done = subprocess.run([str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "wacz"), "create",
                           "-o", str(wacz), "--pages", str(pages), str(wget_crawl)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found, rejected, skipped = outcomes_by_kind(read_archive(str(wacz), "crawl.wacz", TZ))
    assert rejected == [] and skipped["not-a-page"] >= 2  # the third article, the front page
    assert sorted(a.provenance["url"] for a in found) == articles[:2]
    for article in found:
        assert article.provenance["archive"] == "crawl.wacz"
        assert article.provenance["member"] == "archive/crawl.warc.gz"
        assert article.source.ref.startswith("crawl.wacz#member=archive/crawl.warc.gz&offset=")


# -- re-ingest --------------------------------------------------------------------------------

def test_an_unchanged_warc_is_not_read_again_and_edits_survive(tmp_path, monkeypatch):
    source, content = tmp_path / "raw", tmp_path / "content"
    source.mkdir()
    archive = alalam_corpus(source)
    os.utime(archive, (1_600_000_000, 1_600_000_000))  # written long ago: its stamp can be trusted
    first = ingest(source, content, TZ)

    def no_reading(*args):
        raise AssertionError("an unchanged archive was read again")

    with monkeypatch.context() as patched:
        patched.setattr(webarchive, "read_archive", no_reading)
        again = ingest(source, content, TZ)
    assert again.summary()["unchanged"] == first.summary()["accepted"] == 3
    assert again.skipped == first.skipped and again.rejected == []

    # an archivist's edits survive a re-ingest (as for dumps, the edited article's archive
    # is read again to merge them) and a re-ingest of an archive that looks changed
    (page,) = content.rglob("syrian-army-troops-take*.md")
    page.write_text(page.read_text(encoding="utf-8").replace("ingest_version: 1", "ingest_version: 1\ntags: [Latakia]")
                    .replace(f"title: {SEED_ARTICLE.title}", "title: Army Takes Latakia Points"), encoding="utf-8")
    edited = page.read_bytes()
    third = ingest(source, content, TZ)
    archive.touch()
    fourth = ingest(source, content, TZ)
    assert page.read_bytes() == edited and third.conflicts == fourth.conflicts == []


# -- a whole rebuild ----------------------------------------------------------------------------

def test_a_rebuild_from_a_warc_publishes_provenance_search_graph_and_zip(tmp_path, wget_crawl):
    from broadsheet import rebuild as pipeline

    source = tmp_path / "raw"
    source.mkdir()
    alalam_corpus(source)
    shutil.copy(wget_crawl, source / "crawl.warc.gz")
    report = pipeline.rebuild(source, tmp_path / "content", tmp_path / "output", tmp_path / "dist" / "site.zip",
                              tmp_path / "reports")
    assert report.status == "ok" and report.ingest["accepted"] == 6
    output = tmp_path / "output"
    page = (output / "2016" / "03").glob("syrian-army-troops-take-key-areas*.html").__next__().read_text()
    assert "WARC-Record-ID" in page and "&lt;urn:uuid:" in page and "2016-03-21T08:00:00Z" in page
    assert '<a href="http://en.alalam.ir/news/1800694" rel="external noopener">' in page
    assert "Accessed 21 March 2016." in page
    bib = next((output / "2016" / "03").glob("syrian-army-troops-take-key-areas*.bib")).read_text()
    assert "url = {http://en.alalam.ir/news/1800694}" in bib and "urldate = {2016-03-21}" in bib
    graph = json.loads((output / "data" / "graph.json").read_text(encoding="utf-8"))
    assert sum(e["resolved_by"] == "title" for e in graph["edges"]) == 3
    found = subprocess.run([sys.executable, "-m", "invoke", "search", "Qaryateen", "--output", str(output), "--json"],
                           cwd=ROOT, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    assert SEED_ARTICLE.title in [hit["title"] for hit in json.loads(found.stdout)]
    assert (tmp_path / "dist" / "site.zip").stat().st_size > 0
    with zipfile.ZipFile(tmp_path / "dist" / "site.zip") as z:
        assert any(n.endswith(".html") and "syrian-army-troops" in n for n in z.namelist())




def test_an_archive_whose_pages_are_extracted_on_a_cluster_gives_what_one_process_gives(tmp_path):
    warc = Warc(tmp_path / "crawl.warc.gz")
    for n in range(40):
        warc.response(f"http://courier.example/news/{n}", news_page(f"Story Number {n} of the Month", LOREM[n % 4:] +
                                                                    LOREM[:n % 4]), date=f"2016-03-21T08:{n:02d}:00Z")
        warc.response(f"http://courier.example/news/{n % 7}", news_page(f"Story Number {n % 7} of the Month", LOREM),
                      date=f"2016-03-22T08:{n:02d}:00Z")  # recaptures, some changed
        warc.response(f"http://courier.example/{n}.css", "p {}", "text/css")
    path = warc.close()
    one_process = read_archive(str(path), path.name, TZ)  # too small to pay for a cluster: here
    with engine.connect() as run:  # a local cluster, as `--scheduler` would give one
        run.client.get_task_stream()
        on_workers = read_archive(str(path), path.name, TZ, run)
        tasks = [t for t in run.client.get_task_stream() if t["key"].startswith("broadsheet-extract-")]
        workers = set(run.client.scheduler_info()["workers"])
    assert on_workers == one_process
    assert len(tasks) >= 5 and {t["worker"] for t in tasks} <= workers  # batches of pages, run on the workers
    assert len({a.provenance["url"] for a in outcomes_by_kind(one_process)[0]}) == 40


# -- quality: body text against the text the page was made from ---------------------------------

def shingle_f1(found: str, truth: str, k: int = 4) -> float:
    """F1 of word 4-gram shingles, as the article-extraction benchmark scores body text."""
    def shingles(text: str) -> Counter:
        words = re.findall(r"\w+", text.lower())
        return Counter(tuple(words[i:i + k]) for i in range(max(1, len(words) - k + 1)))

    a, b = shingles(found), shingles(truth)
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(a.values()), common / sum(b.values())
    return 2 * precision * recall / (precision + recall)


def test_body_text_is_the_pages_text(tmp_path):
    warc = Warc(tmp_path / "pages.warc.gz")
    truth = {"http://en.alalam.ir/news/1800694": SEED_ARTICLE.paragraphs,
             "http://courier.example/news/1": LOREM, "http://alalam.example/ar/news/1": ARABIC}
    warc.response("http://en.alalam.ir/news/1800694", seed_page())
    warc.response("http://courier.example/news/1", news_page("Engineers Restore Water", LOREM))
    warc.response("http://alalam.example/ar/news/1", news_page(ARABIC_TITLE, ARABIC, lang="ar", dir_="rtl"))
    path = warc.close()
    articles = outcomes_by_kind(read_archive(str(path), path.name, TZ))[0]
    scores = {a.provenance["url"]: shingle_f1(a.body, "\n\n".join(truth[a.provenance["url"]])) for a in articles}
    assert len(scores) == 3 and min(scores.values()) >= 0.95, scores


def test_provenance_edited_into_something_else_skips_its_article_and_does_not_stop_a_build(tmp_path):
    source = tmp_path / "raw"
    source.mkdir()
    warc = Warc(source / "crawl.warc.gz")
    warc.response("http://courier.example/news/1", news_page("Engineers Restore Water", LOREM))
    warc.close()
    ingest(source, tmp_path / "content", TZ)
    (md,) = (tmp_path / "content").rglob("*.md")
    text = md.read_text(encoding="utf-8")
    start = text.index("provenance:\n")
    end = text.index("web:\n")
    md.write_text(text[:start] + "provenance: see the paper notebook, page 12\n" + text[end:], encoding="utf-8")
    build_site(tmp_path / "content", tmp_path / "output")  # a wrong-typed field skips its article by name
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "output").rglob("*.html")]
    assert pages and not any("Original page:" in page or "WARC-Record-ID" in page for page in pages)
