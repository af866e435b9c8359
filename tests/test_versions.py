"""Article history: a changed source keeps the text it replaces; the site shows, diffs and cites it."""

from __future__ import annotations

import dataclasses
import json
import posixpath
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import lxml.html
import pytest
import yaml

from broadsheet import versions
from broadsheet.article import read_content_file, read_markdown_file
from broadsheet.dumps import parse_dump, render_dump
from broadsheet.ingest import ingest
from broadsheet.site import load_settings
from conftest import DATA, ROOT, SEED, build_site

SEED_ARTICLE = parse_dump(SEED.read_bytes(), SEED.name, "Asia/Tehran")
FIRST = SEED_ARTICLE.paragraphs[0]
#: One sentence of the first paragraph, reworded.
REWORDED = FIRST.replace("Syrian forces have", "Syrian troops have")
RELATED = json.dumps([{"id": "1000001", "sort": "1", "contenttypeid": "21",
                       "pic": "/2016/03/20/alalam_635940973860240901_25f_4x3.jpg",
                       "title": "An article listed as related"}], separators=(",", ":"))
TITLE_EDIT = "The archivist's title"
#: The outlet's new title: a new slug, so the article moves.
NEW_TITLE = "Syrian Army Retakes Areas in Latakia"


def at(hour: int) -> datetime:
    return datetime(2026, 4, 12, hour, tzinfo=timezone.utc)


def write_dump(source: Path, name: str = "story.txt", **changes) -> Path:
    """The seed page with `changes` (Article fields), as the outlet would serve it."""
    path = source / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dump(dataclasses.replace(SEED_ARTICLE, **changes)), encoding="utf-8")
    return path


def edit_title(path: Path, title: str) -> None:
    text = path.read_text(encoding="utf-8")
    meta, _ = read_content_file(text)
    body = text.split("\n---\n", 1)[1]
    meta["title"] = title
    path.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body,
                    encoding="utf-8")


def only_article(content: Path) -> Path:
    (path,) = [p for p in content.rglob("*.md") if not versions.is_version_path(p.relative_to(content))]
    return path


def kept(content: Path) -> list[versions.Version]:
    found, problems = versions.read_versions(only_article(content))
    assert problems == []
    return found


PARAGRAPHS = [REWORDED, *SEED_ARTICLE.paragraphs[1:]]
#: The outlet's three changes, one re-ingest each: the body, then the title, then the related list.
STEPS = [dict(paragraphs=PARAGRAPHS),
         dict(paragraphs=PARAGRAPHS, title=NEW_TITLE),
         dict(paragraphs=PARAGRAPHS, title=NEW_TITLE, related_json=RELATED, related_status="ok")]


def make_history(base: Path, also=lambda source, step: None) -> dict:
    """A dump ingested, its title edited by the archivist, then STEPS (with an unchanged
    re-ingest after each); `also(source, step)` changes other dumps before each ingest."""
    source, content = base / "raw", base / "content"
    write_dump(source)
    also(source, 0)
    ingest(source, content, seen_at=at(1))
    edit_title(next(p for p in content.rglob("*.md") if "syrian-army" in p.name), TITLE_EDIT)
    counts = []
    for hour, changes in enumerate(STEPS, 2):
        write_dump(source, **changes)
        also(source, hour - 1)
        ingest(source, content, seen_at=at(hour))
        ingest(source, content, seen_at=at(hour + 10))  # unchanged: keeps no version
        counts.append(len(versions.read_versions(
            next(p for p in content.rglob("syrian-army*.md") if not versions.is_version_path(p)))[0]))
    return {"source": source, "content": content, "counts": counts}


@pytest.fixture
def history(tmp_path):
    return make_history(tmp_path)


def test_each_changed_reingest_keeps_one_version_and_unchanged_ones_none(history):
    assert history["counts"] == [1, 2, 3]  # three kept versions and the article: four versions
    one, two, three = kept(history["content"])
    assert [v.number for v in (one, two, three)] == [1, 2, 3]
    assert [v.changed for v in (one, two, three)] == [["body"], ["title"], ["related_json"]]
    assert [v.replaced for v in (one, two, three)] == [versions.timestamp(at(h)) for h in (2, 3, 4)]
    # the first text's first sighting was not noted; each later one was seen when the one before was replaced
    assert [v.seen for v in (one, two, three)] == [None, one.replaced, two.replaced]


def test_versions_hold_the_outlets_text_not_the_archivists(history):
    one, two, three = kept(history["content"])
    assert [v.title for v in (one, two, three)] == [SEED_ARTICLE.title] * 2 + [NEW_TITLE]
    assert all(v.edited == [] for v in (one, two, three))
    assert one.paragraphs[0] == FIRST and two.paragraphs[0] == REWORDED
    assert three.fields["related_json"] == SEED_ARTICLE.related_json
    assert one.source_sha256 != two.source_sha256 != three.source_sha256


def test_the_archivists_title_edit_survives_each_step(history):
    article = read_markdown_file(only_article(history["content"]).read_text(encoding="utf-8"))
    assert article.title == TITLE_EDIT
    assert article.related_json == RELATED and article.paragraphs[0] == REWORDED


def test_the_versions_move_with_an_article_whose_new_title_moves_it(history):
    path = only_article(history["content"])
    assert path.name == "syrian-army-retakes-areas-in-latakia.md"
    assert sorted(p.name for p in versions.folder_of(path).iterdir()) == ["1.md", "2.md", "3.md"]


def test_a_version_file_is_never_rewritten(history):
    content = history["content"]
    before = {v.path.name: v.path.read_bytes() for v in kept(content)}
    write_dump(history["source"], paragraphs=["Yet another text."])
    ingest(history["source"], content, seen_at=at(20))
    after = {v.path.name: v.path.read_bytes() for v in kept(content)}
    assert {k: after[k] for k in before} == before and len(after) == 4


def test_a_deleted_dump_keeps_its_versions(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    write_dump(source)
    write_dump(source, "other.txt", title="Another story", paragraphs=["Another text."])
    ingest(source, content, seen_at=at(1))
    write_dump(source, paragraphs=[REWORDED])
    ingest(source, content, seen_at=at(2))
    article = next(p for p in content.rglob("*.md") if "syrian" in p.name and not versions.is_version_path(p))
    folder = versions.folder_of(article)
    assert [p.name for p in folder.iterdir()] == ["1.md"]
    (source / "story.txt").unlink()
    ingest(source, content, seen_at=at(3))
    assert not article.exists() and [p.name for p in folder.iterdir()] == ["1.md"]


def test_an_edited_body_is_kept_as_edited_and_named(tmp_path):
    source, content = tmp_path / "raw", tmp_path / "content"
    write_dump(source)
    ingest(source, content, seen_at=at(1))
    path = only_article(content)
    path.write_text(path.read_text(encoding="utf-8").replace("Syrian forces", "Syrian government forces"),
                    encoding="utf-8")
    write_dump(source, signature="S/SH 99")
    ingest(source, content, seen_at=at(2))
    (one,) = kept(content)
    assert one.changed == ["signature"] and one.edited == ["body"]
    assert one.fields["signature"] == SEED_ARTICLE.signature


# -- the site ------------------------------------------------------------------------------------

ARABIC = parse_dump((DATA / "site" / "arabic.txt").read_bytes(), "arabic.txt", "Asia/Tehran")
INJECTED = "Before <script>alert(1)</script> withdrawn after."


def _others(source: Path, step: int) -> None:
    """An article whose old text holds markup, and an Arabic one, each changed at the first step."""
    write_dump(source, "injected.txt", title="A story with markup in it", paragraphs=[INJECTED if step == 0 else
                                                                                   "Before after."])
    path = source / "arabic.txt"
    path.write_text(render_dump(dataclasses.replace(
        ARABIC, paragraphs=ARABIC.paragraphs if step == 0 else [ARABIC.paragraphs[0] + " تحديث"]
        + ARABIC.paragraphs[1:])), encoding="utf-8")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("versions-site")
    made = make_history(base, _others)
    build_site(made["content"], base / "output")
    output = base / "output"
    rows = [json.loads(line) for line in (output / "data" / "articles.jsonl").read_text().splitlines()]
    return {**made, "output": output, "rows": {r["title"]: r for r in rows}}


def page(site, rel: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring((site["output"] / rel).read_bytes())


def cls(name: str) -> str:
    """An XPath test for an element of class `name`."""
    return f"contains(concat(' ', @class, ' '), ' {name} ')"


def diff_marks(site, rel: str) -> list[tuple[str, str]]:
    """The insertions and deletions of a version page's diff, in order."""
    return [(e.tag, e.text_content()) for e in page(site, rel).xpath(f"//*[{cls('diff')}]//*[self::ins or self::del]")]


def story(site) -> str:
    return site["rows"][TITLE_EDIT]["url"]


def test_version_files_are_not_articles(site):
    assert len(site["rows"]) == 3
    assert site["rows"][TITLE_EDIT]["versions"] == 4
    assert site["rows"]["A story with markup in it"]["versions"] == 2


def test_the_article_says_how_many_versions_and_lists_them(site):
    doc = page(site, story(site))
    (notice,) = doc.xpath(f"//*[{cls('versions-notice')}]")
    assert notice.xpath(".//h2")[0].text_content().startswith("4 versions; this text since 12 Apr 2026 04:00")
    items = notice.xpath(".//ol//li")
    assert [i.text_content().split(":")[0].strip() for i in items] == \
        ["Version 1", "Version 2", "Version 3", "Version 4 (latest)"]
    links = [a.get("href") for a in notice.xpath(".//ol//a")]
    stem = story(site)[: -len(".html")]
    assert [link.rsplit("/", 2)[-2:] for link in links] == [[stem.rsplit("/", 1)[1], f"v{n}.html"] for n in (1, 2, 3)]
    assert doc.xpath('//link[@rel="timemap"]')[0].get("type") == "application/link-format"


def test_each_version_page_shows_exactly_its_diff(site):
    stem = story(site)[: -len(".html")]
    assert diff_marks(site, f"{stem}/v1.html") == [("del", "forces"), ("ins", "troops")]
    assert diff_marks(site, f"{stem}/v2.html") == [
        ("del", "Troops Take Key"), ("ins", "Retakes"), ("del", "from ISIS "),
        ("del", "Latakia, Kill Militants in Raqqa"), ("ins", "Latakia")]
    related = diff_marks(site, f"{stem}/v3.html")
    assert related[-1] == ("ins", "An article listed as related")
    assert {kind for kind, _ in related[:-1]} == {"del"} and len(related) == 11
    v1 = page(site, f"{stem}/v1.html")
    assert v1.xpath("//h1")[0].text_content() == SEED_ARTICLE.title  # the outlet's title, not the edit
    assert v1.xpath(f"//*[{cls('article-body')}]/p")[0].text_content() == FIRST


def test_markup_in_an_old_version_shows_as_text(site):
    rel = site["rows"]["A story with markup in it"]["url"][: -len(".html")] + "/v1.html"
    html = (site["output"] / rel).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert diff_marks(site, rel) == [("del", "<script>alert(1)</script> withdrawn ")]
    assert page(site, rel).xpath(f"//*[{cls('article-body')}]/p")[0].text_content() == INJECTED


def test_arabic_versions_read_right_to_left(site):
    row = next(r for t, r in site["rows"].items() if r["versions"] == 2 and "markup" not in t)
    doc = page(site, row["url"][: -len(".html")] + "/v1.html")
    assert {(e.get("lang"), e.get("dir")) for e in doc.xpath(f"//article | //*[{cls('diff')}]")} == {("ar", "rtl")}
    assert diff_marks(site, row["url"][: -len(".html")] + "/v1.html") == [("ins", " تحديث")]


def test_a_version_is_cited_as_that_version(site):
    stem = story(site)[: -len(".html")]
    v2 = page(site, f"{stem}/v2.html")
    assert "Version 2 of 4." in v2.xpath(f"//*[{cls('reference')}]")[0].text_content()
    assert json.loads(v2.xpath('//script[@type="application/ld+json"]')[0].text)["version"] == "2 of 4"
    assert "ET  - Version 2 of 4" in (site["output"] / f"{stem}/v2.ris").read_text()
    assert json.loads((site["output"] / f"{stem}/v2.csl.json").read_text())[0]["version"] == "2 of 4"
    assert "version = {2 of 4}" in (site["output"] / f"{stem}/v2.bib").read_text()
    # the latest, at the article's own URL, is cited as the latest version
    assert "version = {4 of 4}" in (site["output"] / f"{stem}.bib").read_text()
    assert "Version 4 of 4." in page(site, story(site)).xpath(f"//*[{cls('reference')}]")[0].text_content()


def test_the_timemap_lists_every_version(site):
    stem = story(site)[: -len(".html")]
    lines = (site["output"] / f"{stem}/timemap.link").read_text().rstrip("\n").split(",\n")
    name = stem.rsplit("/", 1)[1]
    assert lines[0] == f'<../{name}.html>;rel="original"'
    assert lines[1].startswith('<timemap.link>;rel="self";type="application/link-format";from=')
    assert [line.split(";")[1] for line in lines[2:]] == \
        ['rel="first memento"', 'rel="memento"', 'rel="memento"', 'rel="last memento"']
    assert lines[3].endswith('datetime="Sun, 12 Apr 2026 02:00:00 GMT"')


def test_data_lists_every_version_and_the_corpus_page_counts_them(site):
    rows = [json.loads(line) for line in (site["output"] / "data" / "versions.jsonl").read_text().splitlines()]
    mine = [r for r in rows if r["article"] == story(site)]
    assert [(r["version"], r["of"]) for r in mine] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert (mine[0]["words_added"], mine[0]["words_removed"]) == (1, 1)
    assert len(rows) == 4 + 2 + 2
    corpus = page(site, "corpus.html")
    section = corpus.xpath("//*[@id='versions-heading']")[0].getparent()
    assert "3 articles changed after they were first archived" in section.text_content()
    assert [a.text_content() for a in section.xpath(".//table//a")][0] == TITLE_EDIT


def refresh_target(output: Path, rel: str) -> str:
    """Where the page at `rel` sends its reader: its meta refresh, resolved against its URL."""
    doc = lxml.html.fromstring((output / rel).read_bytes())
    (refresh,) = doc.xpath('//meta[@http-equiv="refresh"]')
    delay, target = refresh.get("content").split("; url=", 1)
    assert delay == "0" and doc.xpath('//link[@rel="canonical"]')[0].get("href") == target
    assert target in [a.get("href") for a in doc.xpath("//main//a")]  # a link for readers, too
    return posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))


#: Where the article was before the outlet's new title moved it (versions 1 and 2 were published there).
OLD_URL = "2016/03/syrian-army-troops-take-key-areas-from-isis-in-latakia-kill-militants-in-raqqa.html"


def test_the_url_an_earlier_version_was_published_at_leads_to_the_article(site):
    assert story(site) == "2016/03/syrian-army-retakes-areas-in-latakia.html"
    assert refresh_target(site["output"], OLD_URL) == story(site)
    assert "This article moved to" in page(site, OLD_URL).text_content()
    moved = [p.relative_to(site["output"]).as_posix() for p in site["output"].rglob("*.html")
             if b'http-equiv="refresh"' in p.read_bytes()]
    assert moved == [OLD_URL]  # the version pages and the article itself redirect nowhere


def test_a_title_changed_and_changed_back_leaves_the_article_at_its_url(tmp_path):
    source, content, output = tmp_path / "raw", tmp_path / "content", tmp_path / "output"
    for hour, title in enumerate([SEED_ARTICLE.title, NEW_TITLE, SEED_ARTICLE.title], 1):
        write_dump(source, title=title)
        ingest(source, content, seen_at=at(hour))
    assert [v.title for v in kept(content)] == [SEED_ARTICLE.title, NEW_TITLE]
    build_site(content, output)
    rows = [json.loads(line) for line in (output / "data" / "articles.jsonl").read_text().splitlines()]
    assert [r["url"] for r in rows] == [OLD_URL]
    article = lxml.html.fromstring((output / OLD_URL).read_bytes())
    assert article.xpath('//meta[@http-equiv="refresh"]') == [] and article.xpath(f"//*[{cls('versions-notice')}]")
    assert refresh_target(output, "2016/03/syrian-army-retakes-areas-in-latakia.html") == OLD_URL


def test_a_rebuild_after_a_new_title_redirects_the_old_url_and_then_reuses_the_redirect(tmp_path):
    from test_rebuild import Project

    project = Project(tmp_path / "archive")
    write_dump(project.source)
    project.rebuild()
    assert (project.output / OLD_URL).is_file()
    write_dump(project.source, title=NEW_TITLE)
    project.rebuild()
    assert refresh_target(project.output, OLD_URL) == "2016/03/syrian-army-retakes-areas-in-latakia.html"
    before = (project.output / OLD_URL).stat()
    project.rebuild()  # unchanged: the redirect is linked from the previous build, not rendered again
    after = (project.output / OLD_URL).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_version_pages_pass_the_nu_html_checker(site):
    from test_site import _vnu_jar

    if shutil.which("java") is None:
        pytest.skip("java is not installed: the W3C Nu Html Checker needs it")
    stem = story(site)[: -len(".html")]
    pages = [story(site), f"{stem}/v1.html", f"{stem}/v2.html", f"{stem}/v3.html", "corpus.html", OLD_URL,
             site["rows"]["A story with markup in it"]["url"][: -len(".html")] + "/v1.html"]
    result = subprocess.run(["java", "-jar", str(_vnu_jar()), "--errors-only", "--format", "json",
                             *[str(site["output"] / p) for p in pages]], capture_output=True, text=True, timeout=300)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    assert [f"{m.get('url', '').rsplit('/output/', 1)[-1]}:{m.get('lastLine')}: {m['message']}"
            for m in messages if m.get("type") == "error" or m.get("subType") == "fatal"] == []


@pytest.mark.browser
def test_version_pages_pass_axe_and_open_from_the_zip(site, reader, tmp_path):
    from broadsheet.archive.offline import make_offline_zip
    from e2e.fixtures import Watch, axe_violations

    zip_path = tmp_path / "archive.zip"
    make_offline_zip(site["content"], zip_path, cache_path=tmp_path / "cache")
    with zipfile.ZipFile(zip_path) as z:
        z.extractall(tmp_path / "unzipped")
    (root,) = [p for p in (tmp_path / "unzipped").rglob("index.html") if p.parent.name == "data"]
    root = root.parent
    watch = Watch(root.parent.as_uri())
    watch.attach(reader)
    reader.goto((root / story(site)).as_uri())
    reader.get_by_role("link", name="Version 1", exact=True).click()
    reader.wait_for_url("**/v1.html")
    assert reader.locator(".diff del").first.inner_text() == "forces"
    reader.get_by_role("link", name="version 2").first.click()
    reader.wait_for_url("**/v2.html")
    reader.get_by_role("link", name="the article's page").click()
    reader.wait_for_url("**/" + story(site))
    watch.assert_clean()  # before axe, which reads the stylesheets itself (refused from file://)
    for n in (1, 2):
        reader.goto((root / story(site)[: -len(".html")] / f"v{n}.html").as_uri())
        assert axe_violations(reader) == []


def test_search_finds_earlier_versions_only_with_version_all(site):
    sys.path.insert(0, str(ROOT / "plugins"))
    from search_index.query import search

    settings = load_settings()
    assert search(site["output"], "withdrawn", 10, settings)[0] == []  # only the old text said it
    hits, total, _ = search(site["output"], "withdrawn version:all", 10, settings)
    assert total == 1 and [h.url for h in hits] == [site["rows"]["A story with markup in it"]["url"][:-5] + "/v1.html"]
    latest = search(site["output"], "troops version:all", 10, settings)[0]
    assert site["rows"][TITLE_EDIT]["url"] in [h.url for h in latest]
    assert any(h.url.endswith("/v2.html") for h in latest)  # version 2 said "troops" too


def _search_page_urls(page) -> list[str]:
    """The result links' site-relative URLs, in order (the page adds `?q=`)."""
    return [href.split("?", 1)[0].removeprefix("./").removeprefix("/")
            for href in page.eval_on_selector_all("#search-results li a", "as => as.map(a => a.getAttribute('href'))")]


def _wait_for_results(page) -> None:
    page.wait_for_function("/results? for/.test(document.getElementById('search-status').textContent)")


@pytest.mark.browser
@pytest.mark.parametrize("over", ["http", "file"])
def test_the_search_page_finds_earlier_versions_only_with_the_checkbox(site, reader, over):
    from e2e.fixtures import Watch, serve
    sys.path.insert(0, str(ROOT / "plugins"))
    from search_index.query import search

    server = serve(site["output"]) if over == "http" else None
    root = f"http://127.0.0.1:{server.server_port}" if server else site["output"].as_uri()
    try:
        watch = Watch(root)
        watch.attach(reader)
        settings = load_settings()
        old = site["rows"]["A story with markup in it"]["url"][: -len(".html")] + "/v1.html"

        reader.goto(f"{root}/search.html?q=withdrawn")
        _wait_for_results(reader)
        assert reader.inner_text("#search-status").startswith("0 results")
        box = reader.get_by_label("Also search earlier versions")
        assert box.is_visible() and not box.is_checked()
        box.focus()
        reader.keyboard.press("Space")  # ticked from the keyboard: the query runs again
        reader.wait_for_selector("#search-results li a")
        assert "versions=all" in reader.url
        assert _search_page_urls(reader) == [old] == [h.url for h in search(site["output"], "withdrawn version:all", 10, settings)[0]]
        link = reader.locator("#search-results li a").first
        assert "(earlier version 1 of 2)" in link.inner_text()

        # The state is in the URL: the same results from it alone, in the CLI's order.
        reader.goto(f"{root}/search.html?q=troops&versions=all")
        reader.wait_for_selector("#search-results li a")
        assert box.is_checked()
        cli = [h.url for h in search(site["output"], "troops version:all", 10, settings)[0]]
        assert len(cli) > 2 and _search_page_urls(reader) == cli
        reader.get_by_role("link", name="earlier version 2 of 4").click()
        reader.wait_for_url(f"**/{story(site)[: -len('.html')]}/v2.html?q=troops")
        watch.assert_clean()
    finally:
        if server:
            server.shutdown()


@pytest.mark.browser
def test_the_search_page_breaks_ties_by_day_then_url_as_the_cli_does(site, reader):
    """Hits of two indexes with the same score (to 4 places) in the CLI's order: day, then URL."""
    reader.goto((site["output"] / "search.html").as_uri())
    reader.wait_for_function("window.BroadsheetSearch !== undefined")
    order = reader.evaluate("""() => {
      const records = [{0: ["b", "2016-03-02"], 1: ["z", "2016-03-01"], 2: ["a", "2016-03-01"]},
                       {0: ["m", "2016-03-01"], 1: ["c", "2016-03-02"]}];
      const engines = records.map(r => ({documents: docs => Promise.resolve(
        docs.map(d => ({doc: d, url: r[d][0], date: r[d][1]})))}));
      const merged = BroadsheetSearch.mergeResults([
        {tree: null, complete: true, years: {}, hits: [{doc: 0, score: 2.00001}, {doc: 1, score: 1.5}, {doc: 2, score: 1.5}]},
        {tree: null, complete: true, years: {}, hits: [{doc: 0, score: 2.00002}, {doc: 1, score: 3}]}]);
      return BroadsheetSearch.settleTies(merged.hits, merged.hits, 0, 10, engines)
        .then(hits => hits.map(h => h.part + ":" + h.doc));
    }""")
    # 3 first; then 2.0000x, a tie: 2016-03-01 "m" before 2016-03-02 "b"; then 1.5: "a" before "z".
    assert order == ["1:1", "1:0", "0:0", "0:2", "0:1"]


def test_a_site_without_versions_exports_an_empty_versions_index(sample_site):
    meta = (sample_site["output"] / "search" / "versions" / "meta.js").read_text(encoding="utf-8")
    assert meta.startswith('BroadsheetSearch.register("meta",0,{"format":4,"documents":0,')
    assert meta.endswith(',"versions");\n')
    files = [p for p in (sample_site["output"] / "search" / "versions").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000


def test_keep_version_takes_a_captures_time_and_never_overwrites(tmp_path):
    """What a web-archive input calls for a changed recapture: the earlier text and its capture time."""
    article = tmp_path / "2016" / "03" / "story.md"
    text = {"title": "Earlier", "date": "2016-03-20T21:30:46+03:30", "signature": None, "source": {"sha256": "ab"}}
    first = versions.keep_version(article, text, ["Old words."], seen="2016-03-21T00:00:00+00:00",
                                  replaced="2016-04-01T00:00:00+00:00", changed=["body"])
    (first.parent / "2.md").write_text("someone else's\n")  # taken since: the next number is used
    second = versions.keep_version(article, {**text, "title": "Later"}, ["New words."], seen=None,
                                   replaced="2016-05-01T00:00:00+00:00", changed=["title"])
    assert (first.name, second.name) == ("1.md", "3.md")
    assert (first.parent / "2.md").read_text() == "someone else's\n"
    found, problems = versions.read_versions(article)
    assert [(v.number, v.seen, v.title) for v in found] == [
        (1, "2016-03-21T00:00:00+00:00", "Earlier"), (3, "2016-04-01T00:00:00+00:00", "Later")]
    assert problems == [f"{first.parent / '2.md'}: not a readable version file (no YAML front matter (expected a first line '---')); skipped"]
    assert sorted(p.name for p in first.parent.iterdir()) == ["1.md", "2.md", "3.md"]  # no temporary file left
