"""The built site: real dumps ingested and built with Pelican, then read back as a reader would.

One site is built per module from the bundled sample (raw/) plus tests/data/site/ (injection
attempts, Arabic and Persian articles, hostile citation characters, same-title articles, a very
long title). Every assertion is on the files Pelican wrote.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import lxml.html
import pytest
from conftest import DATA, ROOT, build_site, ingest_into

from broadsheet.article import read_markdown_file
from broadsheet.ingest import write_report
from broadsheet.site import BuildError, load_settings

SITE_DUMPS = DATA / "site"
SETTINGS = load_settings("local")
SOURCE_NAME = SETTINGS["SOURCE_NAME"]
#: Pages written by other plugins: linked only once they exist, so absence is not a broken link.
OTHER_PLUGINS_PAGES = {"search.html", "graph.html"}
VNU_VERSION = "26.9.27"
VNU_DIR = ROOT / "test-artifacts" / "vnu"


def _build(tmp: Path, *sources: Path, settings: str = "local", **overrides) -> dict:
    raw = tmp / "raw"
    for source in sources:
        shutil.copytree(source, raw / source.name, dirs_exist_ok=True)
    content, output = tmp / "content", tmp / "output"
    report = ingest_into(raw, content)
    report_path = tmp / "ingest.json"
    write_report(report, report_path)
    build_site(content, output, settings, INGEST_REPORT=str(report_path), **overrides)
    articles = {}
    for md in sorted(content.rglob("*.md")):
        rel = md.relative_to(content).with_suffix(".html").as_posix()
        articles[rel] = read_markdown_file(md.read_text(encoding="utf-8"))
    return {"content": content, "output": output, "report": report, "articles": articles}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("site"), ROOT / "raw", SITE_DUMPS)


def page(site, rel: str):
    return lxml.html.fromstring((site["output"] / rel).read_bytes())


def by_title(site, fragment: str) -> tuple[str, object]:
    matches = [(rel, a) for rel, a in site["articles"].items() if fragment in a.title]
    assert len(matches) == 1, f"{len(matches)} articles have {fragment!r} in their title"
    return matches[0]


def meta(doc, name: str) -> list[str]:
    return [m.get("content") for m in doc.xpath("//meta[@name=$n]", n=name)]


def html_files(site) -> list[Path]:
    return sorted(site["output"].rglob("*.html"))


# -- the article page ---------------------------------------------------------------------


def test_sample_and_test_dumps_are_all_built(site):
    assert len(site["articles"]) == len(site["report"].accepted) >= 45
    assert not site["report"].rejected
    for rel in site["articles"]:
        assert (site["output"] / rel).is_file(), rel


def test_body_text_is_exactly_the_scraped_paragraphs(site):
    for rel, article in site["articles"].items():
        doc = page(site, rel)
        bodies = doc.xpath('//*[@itemprop="articleBody"]')
        assert len(bodies) == 1, rel
        assert [p.text_content() for p in bodies[0].xpath("./p")] == article.paragraphs, rel
        assert [h.text_content() for h in doc.xpath("//h1")] == [article.title], rel


def test_date_is_local_time_with_zone_and_machine_readable(site):
    rel, article = by_title(site, "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill")
    time = page(site, rel).xpath('//article//time[@itemprop="datePublished"]')[0]
    assert time.get("datetime") == "2016-03-20T21:30:46+03:30"
    assert "21:30:46" in time.text_content()
    assert "Asia/Tehran, UTC+03:30" in page(site, rel).xpath('//*[@class="zone"]')[0].text_content()


def test_signature_links_to_its_page(site):
    rel, article = by_title(site, "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill")
    link = page(site, rel).xpath('//*[@class="signature"]/a')[0]
    assert link.text_content() == "S/SH 11"
    target = (site["output"] / rel).parent / link.get("href")
    signed = page(site, os.path.relpath(target, site["output"]))
    assert rel in {os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(target, site["output"])), a.get("href")))
                   for a in signed.xpath('//ol[@class="article-list"]//a')}


def test_injection_attempts_are_literal_text(site):
    rel, article = by_title(site, "<script>alert(1)</script> Army")
    doc = page(site, rel)
    assert doc.xpath("//h1")[0].text_content() == article.title
    assert [s.get("type") for s in doc.xpath("//script[not(@src)]")] == ["application/ld+json"]
    body = doc.xpath('//*[@itemprop="articleBody"]')[0]
    assert body.xpath(".//*[not(self::p)]") == []
    # The scraped list, shown by this theme or by the graph plugin's partial once it exists.
    related = " ".join(li.text_content() for li in doc.xpath('//section[contains(@class, "related")]//li'))
    assert '"><script>alert(\'related\')</script>' in related
    assert "<svg onload=alert(3)>" in related
    raw = (site["output"] / rel).read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "{{" in body.text_content() and "49" not in body.text_content()


def test_no_page_carries_event_handlers_scripts_or_javascript_urls(site):
    for path in html_files(site):
        doc = lxml.html.fromstring(path.read_bytes())
        handlers = [(el.tag, a) for el in doc.iter() if isinstance(el.tag, str) for a in el.attrib if a.startswith("on")]
        assert not handlers, (path, handlers)
        for el, attr, link, _ in doc.iterlinks():
            assert not link.strip().lower().startswith("javascript:"), (path, link)
        for script in doc.xpath("//script[not(@src)]"):
            assert script.get("type") == "application/ld+json" or "search" in path.name or "graph" in path.name, path


def test_json_ld_survives_a_closing_script_tag_in_the_title(site):
    rel, article = by_title(site, "<script>alert(1)</script> Army")
    raw = (site["output"] / rel).read_text(encoding="utf-8")
    start = raw.index('<script type="application/ld+json">') + len('<script type="application/ld+json">')
    data = json.loads(raw[start: raw.index("</script>", start)])
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == article.title
    assert data["datePublished"] == article.date.isoformat()


@pytest.mark.parametrize("fragment, lang", [("الجيش السوري", "ar"), ("ارتش سوریه", "fa")])
def test_arabic_script_articles_are_right_to_left(site, fragment, lang):
    rel, article = by_title(site, fragment)
    doc = page(site, rel)
    node = doc.xpath("//article")[0]
    assert (node.get("lang"), node.get("dir")) == (lang, "rtl")
    assert node.xpath(".//h1")[0].text_content() == article.title
    assert meta(doc, "citation_language") == [lang]


def test_latin_articles_are_left_to_right(site):
    rel, _ = by_title(site, "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill")
    node = page(site, rel).xpath("//article")[0]
    assert (node.get("lang"), node.get("dir")) == ("en", "ltr")


def test_provenance_panel_names_the_source(site):
    rel, article = by_title(site, "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill")
    panel = page(site, rel).xpath('//section[@class="provenance"]')[0]
    values = dict(zip([dt.text_content() for dt in panel.xpath(".//dt")], [dd.text_content() for dd in panel.xpath(".//dd")]))
    assert values["Source file"] == article.source.file
    assert values["SHA-256"] == article.source.sha256
    assert values["Encoding"] == article.source.encoding
    assert values["Related-articles blob"] == article.related_status


def test_earlier_and_later_follow_time(site):
    ordered = sorted(site["articles"].items(), key=lambda kv: kv[1].date)
    for (rel_a, _), (rel_b, _) in zip(ordered, ordered[1:]):
        later = page(site, rel_a).xpath('//nav[@class="in-time"]//a[@rel="next"]')[0].get("href")
        earlier = page(site, rel_b).xpath('//nav[@class="in-time"]//a[@rel="prev"]')[0].get("href")
        assert os.path.normpath(os.path.join(os.path.dirname(rel_a), later)) == rel_b
        assert os.path.normpath(os.path.join(os.path.dirname(rel_b), earlier)) == rel_a
    assert not page(site, ordered[0][0]).xpath('//a[@rel="prev"]')
    assert not page(site, ordered[-1][0]).xpath('//a[@rel="next"]')


def test_every_page_has_one_h1_a_skip_link_and_landmarks(site):
    for path in html_files(site):
        if path.name in OTHER_PLUGINS_PAGES:
            continue
        doc = lxml.html.fromstring(path.read_bytes())
        assert len(doc.xpath("//h1")) == 1, path
        assert doc.xpath('//a[@class="skip-link"]/@href') == ["#main"], path
        assert len(doc.xpath('//main[@id="main"]')) == 1, path
        assert doc.xpath("//header") and doc.xpath("//nav") and doc.xpath("//footer"), path
        levels = [int(h.tag[1]) for h in doc.xpath("//h1|//h2|//h3|//h4")]
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), (path, levels)


# -- citation -------------------------------------------------------------------------------


def test_citation_meta_is_correct_for_every_article(site):
    for rel, article in site["articles"].items():
        doc = page(site, rel)
        assert meta(doc, "citation_title") == [article.title], rel
        assert meta(doc, "citation_publication_date") == [article.date.strftime("%Y/%m/%d")], rel
        assert meta(doc, "citation_journal_title") == [SOURCE_NAME], rel
        assert meta(doc, "DC.title") == [article.title], rel
        assert meta(doc, "DC.date") == [article.date.date().isoformat()], rel
        assert meta(doc, "DC.publisher") == [SOURCE_NAME], rel
        (url,) = meta(doc, "citation_public_url")
        assert os.path.normpath(os.path.join(os.path.dirname(rel), url)) == rel
        assert meta(doc, "DC.identifier") == [url]


def test_hosted_build_has_absolute_citation_urls(tmp_path):
    built = _build(tmp_path, SITE_DUMPS, settings="hosted", SITEURL="https://archive.example.org/broadsheet")
    rel, article = by_title(built, "الجيش السوري")
    doc = page(built, rel)
    url = f"https://archive.example.org/broadsheet/{rel}"
    assert meta(doc, "citation_public_url") == [url]
    assert doc.xpath('//link[@rel="canonical"]/@href') == [url]
    assert f"UR  - {url}" in (built["output"] / rel.replace(".html", ".ris")).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in (built["output"] / "data/articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert (rel, url) in {(row["url"], row["public_url"]) for row in rows}


def _citation_files(site, rel):
    stem = site["output"] / rel[: -len(".html")]
    return (Path(f"{stem}.bib").read_text(encoding="utf-8"), Path(f"{stem}.ris").read_text(encoding="utf-8"),
            Path(f"{stem}.csl.json").read_text(encoding="utf-8"))


def test_bibtex_gives_back_the_exact_title(site):
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware

    for rel, article in site["articles"].items():
        bib, _, _ = _citation_files(site, rel)
        library = bibtexparser.parse_string(bib, append_middleware=[LatexDecodingMiddleware()])
        assert not library.failed_blocks, (rel, bib)
        (entry,) = library.entries
        assert entry["title"] == article.title, rel
        assert entry["journal"] == SOURCE_NAME
        assert entry["date"] == article.date.date().isoformat()


def test_ris_gives_back_the_exact_title(site):
    import rispy

    for rel, article in site["articles"].items():
        _, ris, _ = _citation_files(site, rel)
        (record,) = rispy.loads(ris)
        assert record["type_of_reference"] == "NEWS"
        assert record["title"] == article.title, rel
        assert record["secondary_title"] == SOURCE_NAME


def test_csl_json_gives_back_the_exact_title(site):
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    for rel, article in site["articles"].items():
        _, _, csl = _citation_files(site, rel)
        items = json.loads(csl)
        source = CiteProcJSON(items)
        key = items[0]["id"]
        assert str(source[key.lower()]["title"]) == article.title, rel
        style = CitationStylesStyle("harvard-cite-them-right", validate=False)
        bibliography = CitationStylesBibliography(style, source, formatter.plain)
        bibliography.register(Citation([CitationItem(key)]))
        assert article.title in str(bibliography.bibliography()[0]), rel


def test_cite_block_links_the_three_downloads(site):
    rel, _ = by_title(site, 'He said "no"')
    doc = page(site, rel)
    links = doc.xpath('//section[@class="cite"]//ul[@class="downloads"]//a')
    assert [a.text_content() for a in links] == ["BibTeX", "RIS", "CSL-JSON"]
    for a in links:
        assert (site["output"] / os.path.dirname(rel) / a.get("href")).resolve().is_file()
    assert "He said \"no\"" in doc.xpath('//section[@class="cite"]//p[@class="reference"]')[0].text_content()


# -- paths and links --------------------------------------------------------------------------


def test_no_two_articles_share_a_path_and_same_titles_stay_distinct(site):
    same = [rel for rel, a in site["articles"].items() if a.title == "Syrian Army Retakes Jubeil Mount"]
    assert len(same) == 3 and len(set(same)) == 3
    for rel in same:
        assert page(site, rel).xpath('//*[@itemprop="articleBody"]/p')[0].text_content() in {
            a.paragraphs[0] for a in site["articles"].values()}
    built = {p.relative_to(site["output"]).as_posix() for p in site["output"].glob("[0-9]*/*/*.html")}
    assert built == set(site["articles"])


def test_very_long_titles_give_short_paths(site):
    for path in site["output"].rglob("*"):
        assert all(len(part.encode("utf-8")) <= 255 for part in path.relative_to(site["output"]).parts)
    rel, _ = by_title(site, "Very Long Title")
    assert len(Path(rel).name.encode("utf-8")) <= 130


def test_a_slug_too_long_for_the_filesystem_is_shortened(tmp_path):
    content = tmp_path / "content"
    ingest_into(SITE_DUMPS / "arabic.txt", content)
    (md,) = content.rglob("*.md")
    text = md.read_text(encoding="utf-8")
    slug = md.stem
    md.write_text(text.replace(f"slug: {slug}", "slug: " + "x" * 400), encoding="utf-8")
    build_site(content, tmp_path / "output")
    (html,) = (tmp_path / "output" / "2016" / "03").glob("*.html")
    assert html.name.startswith("x" * 50) and len(html.name.encode()) <= 130


def test_two_articles_with_one_output_path_stop_the_build(tmp_path):
    content = tmp_path / "content"
    ingest_into(SITE_DUMPS, content)
    march = content / "2016" / "03"
    first = march / "syrian-army-retakes-jubeil-mount.md"
    clash = march / "copy-with-same-slug.md"
    clash.write_text(first.read_text(encoding="utf-8").replace("First article", "Another article"), encoding="utf-8")
    with pytest.raises(BuildError) as err:
        build_site(content, tmp_path / "output")
    message = str(err.value)
    assert "2016/03/syrian-army-retakes-jubeil-mount.html" in message
    assert "2016/03/syrian-army-retakes-jubeil-mount.md" in message and "copy-with-same-slug.md" in message
    assert "same-title-march.txt" in message


def _local_targets(site, path: Path):
    doc = lxml.html.fromstring(path.read_bytes())
    for el, attr, link, _ in doc.iterlinks():
        yield el, attr, link


def test_no_src_points_outside_the_site(site):
    out = site["output"].resolve()
    for path in html_files(site):
        for el, attr, link in _local_targets(site, path):
            if attr not in ("src", "srcset", "poster", "data") and not (el.tag == "link" and el.get("rel") == "stylesheet"):
                continue
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc, (path, link)
            target = (path.parent / unquote(parts.path)).resolve()
            assert target.is_relative_to(out) and target.exists(), (path, link)


def test_every_internal_link_opens_a_file_from_disk(site):
    out = site["output"].resolve()
    checked = 0
    for path in html_files(site):
        for el, attr, link in _local_targets(site, path):
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            assert not parts.path.endswith("/"), (path, link)
            target = (path.parent / unquote(parts.path)).resolve()
            assert target.is_relative_to(out), (path, link)
            if target.name in OTHER_PLUGINS_PAGES and target.parent == out:
                continue
            assert target.is_file(), (path, link)
            checked += 1
    assert checked > 1000


# -- navigation, corpus, downloads ---------------------------------------------------------------


def test_date_archive_counts_add_up(site):
    doc = page(site, "archives.html")
    years = doc.xpath('//section[@class="archive-year"]')
    total = sum(int(y.xpath("./h2/span[@class='count']")[0].text) for y in years)
    assert total == len(site["articles"])
    march = page(site, "archive/2016/03/index.html")
    in_march = [a for a in site["articles"].values() if a.date.strftime("%Y-%m") == "2016-03"]
    assert len(march.xpath('//ol[@class="article-list"]/li')) == len(in_march)
    day = page(site, "archive/2016/03/20/index.html")
    assert [a.text_content() for a in day.xpath('//ol[@class="article-list"]//a')] == [
        a.title for a in sorted(site["articles"].values(), key=lambda a: a.date) if a.date.date().isoformat() == "2016-03-20"]


def test_signature_pages_list_every_signed_article(site):
    signed = {}
    for a in site["articles"].values():
        if a.signature:
            signed[a.signature] = signed.get(a.signature, 0) + 1
    doc = page(site, "signatures.html")
    listed = {li.xpath("./a")[0].text_content(): int(li.xpath("./span")[0].text) for li in doc.xpath("//main//ul/li")}
    assert listed == signed
    assert "S/SH 11" in listed and "SSH 11" in listed


def test_home_is_paginated_newest_first(site):
    first = page(site, "index.html")
    titles = [a.text_content() for a in first.xpath('//ol[@class="article-list"]//a')]
    newest = sorted(site["articles"].values(), key=lambda a: a.date, reverse=True)
    assert titles == [a.title for a in newest[: len(titles)]]
    assert first.xpath('//nav[@class="pagination"]//a[@rel="next"]/@href') == ["./index2.html"]


def test_archivist_tags_get_pages(tmp_path):
    content = tmp_path / "content"
    ingest_into(SITE_DUMPS / "persian.txt", content)
    (md,) = content.rglob("*.md")
    md.write_text(md.read_text(encoding="utf-8").replace("warnings: []\n", "warnings: []\ntags: [Aleppo, 'Army & <Allies>']\n"),
                  encoding="utf-8")
    build_site(content, tmp_path / "output", INGEST_REPORT=str(tmp_path / "missing.json"))
    tags = lxml.html.fromstring((tmp_path / "output" / "tags.html").read_bytes())
    assert [a.text_content() for a in tags.xpath("//main//li/a")] == ["Aleppo", "Army & <Allies>"]
    for href in tags.xpath("//main//li/a/@href"):
        assert (tmp_path / "output" / href).is_file()
    corpus = (tmp_path / "output" / "corpus.html").read_text(encoding="utf-8")
    assert "no ingest report was found" in corpus


def test_corpus_page_counts_histogram_and_report(site):
    doc = page(site, "corpus.html")
    extent = doc.xpath('//section[h2[@id="extent-heading"]]')[0].text_content()
    assert f"{len(site['articles'])} articles" in " ".join(extent.split())
    months = {a.date.strftime("%Y-%m") for a in site["articles"].values()}
    first, last = min(months), max(months)
    span = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1
    bars = doc.xpath("//svg/rect")
    assert len(bars) == span
    assert sum(int(r.xpath("./title")[0].text.split(": ")[1].split()[0]) for r in bars) == len(site["articles"])
    counts = dict(zip([dt.text_content() for dt in doc.xpath('//dl[@class="report-counts"]/dt')],
                      [int(dd.text_content()) for dd in doc.xpath('//dl[@class="report-counts"]/dd')]))
    summary = site["report"].summary()
    assert counts["Accepted as articles"] == summary["accepted"]
    assert counts["Duplicates folded into another article"] == summary["duplicates"]
    assert counts["Rejected"] == summary["rejected"]
    hrefs = doc.xpath('//section[h2[@id="data-heading"]]//a/@href')
    assert hrefs == ["./data/articles.jsonl", "./data/articles.csv"]


def test_corpus_page_lists_rejections_by_reason(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "nodate.txt").write_text("A title\n\nno dateline here\n", encoding="utf-8")
    shutil.copy(SITE_DUMPS / "arabic.txt", bad / "arabic.txt")
    built = _build(tmp_path, bad)
    doc = page(built, "corpus.html")
    reasons = [li.text_content() for li in doc.xpath('//section[h2[@id="ingest-heading"]]//ul[@class="count-list"]/li')]
    assert sorted(" ".join(r.split()) for r in reasons) == ["empty 1", "no-dateline 1"]
    assert "nodate.txt" in doc.xpath('//ul[@class="rejected"]')[0].text_content()


def test_data_downloads_hold_every_article(site):
    out = site["output"]
    rows = [json.loads(line) for line in (out / "data/articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
    by_url = {row["url"]: row for row in rows}
    assert set(by_url) == set(site["articles"])
    for rel, article in site["articles"].items():
        row = by_url[rel]
        assert row["title"] == article.title
        assert row["paragraphs"] == article.paragraphs
        assert row["text"] == article.body
        assert row["date"] == article.date.isoformat()
        assert row["source_sha256"] == article.source.sha256
    with (out / "data/articles.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [(r["url"], r["title"], r["text"]) for r in table] == [(r["url"], r["title"], r["text"]) for r in rows]


# -- the W3C Nu Html Checker ------------------------------------------------------------------


def _vnu_jar() -> Path:
    """vnu.jar from the npm registry, unpacked once into the git-ignored test-artifacts/."""
    jar = VNU_DIR / "package" / "build" / "dist" / "vnu.jar"
    if jar.is_file():
        return jar
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot fetch vnu-jar for the W3C HTML checker")
    VNU_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(["npm", "pack", f"vnu-jar@{VNU_VERSION}"], cwd=VNU_DIR, check=True, capture_output=True)
    # Only the jar is read out of the package: extractall's filter= needs Python 3.11.4, and
    # Debian 12's python3 is 3.11.2.
    with tarfile.open(VNU_DIR / f"vnu-jar-{VNU_VERSION}.tgz") as tgz:
        data = tgz.extractfile(jar.relative_to(VNU_DIR).as_posix()).read()
    jar.parent.mkdir(parents=True, exist_ok=True)
    jar.write_bytes(data)
    return jar


def test_every_page_type_passes_the_nu_html_checker(site):
    if shutil.which("java") is None:
        pytest.skip("java is not installed: the W3C Nu Html Checker needs it (apt-get install default-jre-headless)")
    jar = _vnu_jar()
    rel_ar, _ = by_title(site, "الجيش السوري")
    rel_x, _ = by_title(site, "<script>alert(1)</script> Army")
    rel_seed, _ = by_title(site, "Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill")
    pages = ["index.html", "index2.html", rel_ar, rel_x, rel_seed, "archives.html", "archive/2016/index.html",
             "archive/2016/03/index.html", "archive/2016/03/20/index.html", "signatures.html",
             "signature/s-sh-11.html", "tags.html", "corpus.html"]
    files = [str(site["output"] / p) for p in pages]
    result = subprocess.run(["java", "-jar", str(jar), "--errors-only", "--format", "json", *files],
                            capture_output=True, text=True, timeout=300)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{m.get('url', '').rsplit('/output/', 1)[-1]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error" or m.get("subType") == "fatal"]
    assert not errors, "\n".join(errors)
    assert result.returncode == 0


# -- settings and theme --------------------------------------------------------------------------


def test_hosted_build_without_siteurl_is_refused(tmp_path):
    content = tmp_path / "content"
    ingest_into(SITE_DUMPS / "arabic.txt", content)
    with pytest.raises(BuildError, match="SITEURL"):
        build_site(content, tmp_path / "output", "hosted", SITEURL="")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_theme_colours_pass_wcag_aa():
    import re

    css = (ROOT / "theme" / "static" / "css" / "site.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    for text in ("text", "muted", "link", "link-visited"):
        for background in ("#ffffff", colours["panel"]):
            assert _contrast(colours[text], background) >= 4.5, (text, background)
    # Focus ring and chart bars are non-text: 3:1 (WCAG 1.4.11).
    assert _contrast(colours["focus"], "#ffffff") >= 3 and _contrast(colours["bar"], "#ffffff") >= 3


@pytest.mark.browser
def test_pages_from_disk_load_nothing_remote_and_show_focus_and_rtl(site, browser):
    rel_ar, _ = by_title(site, "الجيش السوري")
    context = browser.new_context()
    remote = []
    context.route("**/*", lambda route: (remote.append(route.request.url), route.abort())
                  if not route.request.url.startswith("file://") else route.continue_())
    tab = context.new_page()
    try:
        for rel in ("index.html", "corpus.html", rel_ar):
            tab.goto((site["output"] / rel).as_uri())
        assert tab.evaluate("getComputedStyle(document.querySelector('article')).direction") == "rtl"
        tab.keyboard.press("Tab")
        focused = tab.evaluate("""() => { const el = document.activeElement, s = getComputedStyle(el),
            r = el.getBoundingClientRect();
            return [el.className, s.outlineStyle, parseFloat(s.outlineWidth), r.top >= 0 && r.bottom > 0]; }""")
        assert focused[0] == "skip-link" and focused[1] == "solid" and focused[2] >= 2 and focused[3], focused
        tab.set_viewport_size({"width": 360, "height": 740})
        assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        context.close()
    assert remote == []
