"""A reader's visit in headless Chromium, on the hosted site (loopback HTTP) and on the offline
zip opened from disk: the whole journey, every page of the adversarial corpus, accessibility."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from e2e.fixtures import Watch, axe_violations

pytestmark = pytest.mark.browser

# The adversarial titles of tests/data/adversarial, as they must appear: text, never markup.
HOSTILE_TITLES = [
    "<img src=x onerror=alert(1)> Army & \"Militants\" {Clash} #1 100% 'quoted'",
    "</title><script>alert('title')</script>",
]

# Markup that injected text would create if anything were not escaped.
FIND_HOSTILE_MARKUP = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) bad.push(`${el.tagName} ${a.name}`);
      if (/^\\s*javascript:/i.test(a.value)) bad.push(`${el.tagName} ${a.name}=${a.value}`);
    }
    if (['IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) bad.push(el.tagName);
    if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') bad.push('img src=x');
  }
  for (const s of document.querySelectorAll('script')) {
    const type = s.getAttribute('type') || '';
    if (type === 'application/ld+json') { try { JSON.parse(s.textContent); } catch (e) { bad.push('broken JSON-LD'); } }
    else if (s.textContent.includes('alert(')) bad.push('inline script with alert');
  }
  return bad;
}"""


def one_h1(page) -> str:
    h1s = page.locator("h1")
    assert h1s.count() == 1, f"{page.url} has {h1s.count()} <h1>"
    return h1s.inner_text()


def click_and_wait(page, locator):
    with page.expect_navigation():
        locator.click()
    one_h1(page)


@pytest.fixture(params=["hosted", "offline"])
def site(request):
    return request.getfixturevalue(request.param)


def test_journey(site, reader):
    """home → archive → article → related link → cited-by link → search → result → graph."""
    watch = Watch(site["base"])
    watch.attach(reader)
    reader.goto(site["index"])
    if site["base"].startswith("file:"):
        # the bag's top-level index.html forwards the double-clicking reader to the site
        reader.wait_for_url(re.compile(r".*/data/index\.html$"))
    one_h1(reader)

    click_and_wait(reader, reader.locator("nav.site-nav a", has_text="By date"))
    # archive → a day → its first article
    click_and_wait(reader, reader.locator("main a[href*='archive/'][aria-label*='article']").first)
    click_and_wait(reader, reader.locator("main .article-list a").first)
    assert reader.locator("[itemprop=articleBody]").count() == 1
    assert reader.url.endswith(".html")

    # from an article with a resolved related link, follow it, then come back by its cited-by list
    start = reader.url
    related = reader.locator(".related-list a[href$='.html']")
    if not related.count():
        # not every article's related list resolves; the home page's first linked article does
        reader.goto(site["home"])
        for href in reader.locator("main a[href$='.html']").evaluate_all("els => els.map(e => e.href)"):
            reader.goto(href)
            if reader.locator(".related-list a[href$='.html']").count():
                start = reader.url
                break
        related = reader.locator(".related-list a[href$='.html']")
    assert related.count(), "no article with a resolved related link"
    click_and_wait(reader, related.first)
    cited = reader.locator(".cited-by-list a")
    assert cited.count() >= 1
    hrefs = cited.evaluate_all("els => els.map(e => e.href)")
    assert start in hrefs, "the cited-by list links back to the article we came from"
    click_and_wait(reader, cited.nth(hrefs.index(start)))
    assert reader.url == start

    title = one_h1(reader)
    word = max(re.findall(r"[A-Za-z]{5,}", title), key=len)
    click_and_wait(reader, reader.locator("nav.site-nav a", has_text="Search"))
    reader.locator("input[type=search]").fill(word)
    first = reader.locator("#search-results a").first
    first.wait_for(timeout=15000)
    assert reader.locator("#search-results a").count() >= 1
    click_and_wait(reader, first)
    assert reader.locator("[itemprop=articleBody]").count() == 1

    click_and_wait(reader, reader.locator("nav.site-nav a", has_text="Graph"))
    watch.assert_clean()


def _pages(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.html") if "theme" not in p.parts)


def test_every_page_is_safe_and_has_one_h1(site, reader):
    """Every page of the adversarial archive: no dialog, nothing hostile as markup, no request
    leaving the site, no console error, one <h1>."""
    watch = Watch(site["base"])
    watch.attach(reader)
    root = site["root"]
    pages = _pages(root)
    assert len(pages) > 50
    for path in pages:
        url = (site["base"] + "/" + path.relative_to(root).as_posix()) if site["base"].startswith("http") else path.as_uri()
        reader.goto(url)
        if path.name == "index.html" and path.parent == root and site["base"].startswith("file"):
            continue  # the bag's top-level page only forwards to data/index.html
        assert reader.evaluate(FIND_HOSTILE_MARKUP) == [], url
        one_h1(reader)
    watch.assert_clean()


def test_hostile_titles_are_shown_as_text(hosted, reader):
    reader.goto(hosted["index"])
    reader.goto(hosted["base"] + "/search.html?q=Militants%20Clash")
    reader.locator("#search-results a").first.wait_for(timeout=15000)
    texts = reader.locator("#search-results a").all_inner_texts()
    assert any(HOSTILE_TITLES[0] in t for t in texts)
    data = hosted["root"] / "data" / "articles.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").split("\n") if line.strip()]
    for title in HOSTILE_TITLES:
        (row,) = [r for r in rows if r["title"] == title]
        reader.goto(row["url"] if row["url"].startswith("http") else hosted["base"] + "/" + row["url"].lstrip("./"))
        assert one_h1(reader) == title
        assert reader.title().find(title) >= 0


PAGE_TYPES = {
    "home": "index.html",
    "archive": "archives.html",
    "corpus": "corpus.html",
    "search": "search.html?q=army",
    "graph": "graph.html",
}


@pytest.mark.parametrize("kind", [*PAGE_TYPES, "article", "arabic article"])
def test_axe_finds_no_serious_violations(hosted, reader, kind):
    if kind in PAGE_TYPES:
        url = f"{hosted['base']}/{PAGE_TYPES[kind]}"
    else:
        rows = [json.loads(line) for line in (hosted["root"] / "data" / "articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
        pick = next(r for r in rows if (r["title"].startswith("\u0627") if kind == "arabic article" else r["title"].startswith("Syrian Army Troops Take")))
        url = pick["url"] if pick["url"].startswith("http") else hosted["base"] + "/" + pick["url"]
    reader.goto(url)
    if kind == "search":
        reader.locator("#search-results a").first.wait_for(timeout=15000)
    assert axe_violations(reader) == []
