"""The issue's 'done when' for tables: one rebuild publishes the real FA-KES corpus, verified."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from playwright.sync_api import expect

from conftest import FAKES_CSV, ROOT

class _Body(HTMLParser):
    """The text of the paragraphs inside itemprop=articleBody."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.paragraphs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.depth += 1
            if tag == "p":
                self.paragraphs.append("")
        elif ("itemprop", "articleBody") in attrs:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if self.depth > 1 and self.paragraphs:
            self.paragraphs[-1] += data


pytestmark = pytest.mark.skipif(not FAKES_CSV.exists(), reason=f"FA-KES not present at {FAKES_CSV} (see README)")


@pytest.fixture(scope="module")
def fakes_archive(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("fakes")
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "rebuild", "--source", str(FAKES_CSV), "--mapping", "mappings/fa-kes.yaml",
         "--content", str(tmp_path / "content"), "--output", str(tmp_path / "output"),
         "--zip", str(tmp_path / "fakes.zip"), "--reports", str(tmp_path / "reports")],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path


def test_rebuild_fakes_with_shipped_mapping(fakes_archive):
    tmp_path = fakes_archive
    report = json.loads((tmp_path / "reports" / "rebuild.json").read_text())
    assert report["status"] == "ok"
    ingest = report["ingest"]
    assert ingest["read"] == 804 and ingest["accepted"] + ingest["duplicates"] + ingest["rejected"] == 804
    rows = (tmp_path / "output" / "data" / "articles.jsonl").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(rows) == ingest["accepted"]
    page = (tmp_path / "output" / json.loads(rows[0])["url"]).read_text(encoding="utf-8")
    assert "10.5281/zenodo.2607278" in page  # the dataset citation on every page built from it
    assert (tmp_path / "fakes.zip").stat().st_size > 0

    # every article page's body is its cell, exactly
    with FAKES_CSV.open(encoding="utf-8", newline="") as f:
        cells: dict[str, list[str]] = {}
        for row in csv.DictReader(f):  # unit_id is not unique in FA-KES: 2 rows share 1926479112
            cells.setdefault(row["unit_id"], []).append(row["article_content"])
    for line in rows:
        record = json.loads(line)
        parser = _Body()
        parser.feed((tmp_path / "output" / record["url"]).read_text(encoding="utf-8"))
        assert "\n\n".join(parser.paragraphs) in cells[record["source_id"]], record["url"]


def _outlets_and_labels(output):
    rows = [json.loads(line) for line in (output / "data" / "articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
    return {r["url"]: r for r in rows}


def test_cli_filters_by_outlet_and_label(fakes_archive):
    proc = subprocess.run([sys.executable, "-m", "invoke", "search", "killed outlet:alalam labels:fake", "--output",
                           str(fakes_archive / "output"), "--limit", "50", "--json"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    rows = _outlets_and_labels(fakes_archive / "output")
    assert hits and all(rows[h["url"]]["outlet"] == "alalam" for h in hits)


@pytest.mark.browser
def _result_count(status: str) -> int:
    """The number of results a status names: "N results for ..." or "The N best of up to M ..."."""
    words = status.split()
    return int(words[1] if words[0] == "The" else words[0])


def test_search_page_filters_by_outlet_and_label(fakes_archive, browser):
    output = fakes_archive / "output"
    rows = _outlets_and_labels(output)
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((output / "search.html").as_uri() + "?q=killed")
    page.wait_for_selector("#search-results li a")
    page.click("#search-more")  # the next page: the 20 best, or every match
    page.wait_for_function("document.querySelectorAll('#search-results li').length > 10")
    everything = _result_count(page.inner_text("#search-status"))
    page.select_option("#search-outlet", "alalam")
    page.wait_for_function("document.getElementById('search-status').textContent.includes('(alalam')")
    page.select_option("#search-labels", "fake")
    page.wait_for_function("document.getElementById('search-status').textContent.includes('alalam, fake')")
    filtered = _result_count(page.inner_text("#search-status"))
    # "N results" once every match is known; "The 10 best of up to N" (the unfiltered bound) before.
    assert 0 < filtered and (filtered < everything or page.inner_text("#search-status").startswith("The 10 best"))
    # The status is written first, the list filled after it: wait for the filtered list itself.
    expect(page.locator("#search-results a.search-result-link")).to_have_count(min(10, filtered))
    hrefs = page.eval_on_selector_all("#search-results a.search-result-link", "els => els.map(e => e.getAttribute('href'))")
    fake_page = (output / "facets" / "label" / "fake.html").read_text(encoding="utf-8")
    for href in hrefs:
        url = href.split("?")[0].removeprefix("./")
        assert rows[url]["outlet"] == "alalam", url
        assert f'href="../../{url}"' in fake_page, url  # listed on the label's own page
    assert errors == []
    page.close()
