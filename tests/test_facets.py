"""The facets plugin on real builds: outlet, location and label pages list exactly the right rows."""

from __future__ import annotations

import csv
import re
import shutil
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest

from broadsheet.article import read_content_file
from broadsheet.ingest import ingest
from broadsheet.tables import load_mapping
from conftest import FAKES_CSV, FAKES_DIR, ROOT, SEED, build_site

FAKES_MAPPING = ROOT / "mappings" / "fa-kes.yaml"
LABELS = {"1": "credible", "0": "fake"}


class _Links(HTMLParser):
    """The article links of a page's `<ol class="article-list">`, or a table's row links."""

    def __init__(self, container: str):
        super().__init__()
        self.container, self.depth, self.links = container, 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += tag in ("ol", "ul", "table")
            if tag == "a":
                self.links.append(attrs["href"])
        elif tag in ("ol", "ul", "table") and self.container in (attrs.get("class") or "").split():
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag in ("ol", "ul", "table"):
            self.depth -= 1


def links(page: Path, container: str = "article-list") -> list[str]:
    parser = _Links(container)
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.links


def rows_listed(page: Path, content: Path) -> set[int]:
    """The FA-KES row numbers of the articles a facet page links to."""
    rows = set()
    for href in links(page):
        target = (page.parent / href).resolve()
        md = content / target.relative_to(page.parents[2].resolve()).with_suffix(".md")
        rows.add(read_content_file(md.read_text(encoding="utf-8"))[0]["source"]["row"])
    return rows


@pytest.fixture(scope="module")
def fakes_site(tmp_path_factory):
    if not FAKES_CSV.exists():
        pytest.skip(f"FA-KES is not in {FAKES_DIR}: download FA-KES-Dataset.csv from Zenodo record 2607278")
    base = tmp_path_factory.mktemp("fakes-site")
    content, output = base / "content", base / "output"
    report = ingest(FAKES_CSV, content, "Asia/Tehran", mapping=load_mapping(FAKES_MAPPING))
    build_site(content, output)
    with FAKES_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    folded = {int(d["source"].split("=")[1]) for d in report.duplicates}
    kept = {i + 2: r for i, r in enumerate(rows) if i + 2 not in folded}
    return {"content": content, "output": output, "kept": kept}


def expected(kept: dict[int, dict], column: str, rename=lambda v: v) -> dict[str, set[int]]:
    groups: dict[str, set[int]] = defaultdict(set)
    for n, row in kept.items():
        groups[rename(row[column])].add(n)
    return groups


@pytest.mark.parametrize("facet,column,rename", [
    ("outlet", "source", lambda v: v),
    ("location", "location", lambda v: v),
    ("label", "labels", LABELS.__getitem__),
])
def test_facet_pages_list_exactly_the_right_rows(fakes_site, facet, column, rename):
    output, content = fakes_site["output"], fakes_site["content"]
    groups = expected(fakes_site["kept"], column, rename)
    pages = sorted((output / "facets" / facet).glob("*.html"))
    assert len(pages) == len(groups)
    seen = {}
    for page in pages:
        title = re.search(r"<h1>[^:]+: (.*?) <span class=\"count\">(\d+)</span></h1>", page.read_text()).groups()
        value, count = title[0], int(title[1])
        seen[value] = rows_listed(page, content)
        assert count == len(seen[value])
    assert seen == dict(groups)


def test_corpus_page_counts_outlets_and_labels_and_cites_the_dataset(fakes_site):
    page = (fakes_site["output"] / "corpus.html").read_text(encoding="utf-8")
    kept = fakes_site["kept"]
    for value, members in expected(kept, "source").items():
        assert f'outlet/{value}.html">{value}</a></th><td>{len(members)}</td>' in page
    for value, members in expected(kept, "labels", LABELS.__getitem__).items():
        assert f'label/{value}.html">{value}</a></th><td>{len(members)}</td>' in page
    assert "Syrian Violations Documentation Center" in page  # the label definitions
    assert "doi:10.5281/zenodo.2607278" in page and "Abu Salem" in page
    index = fakes_site["output"] / "facets" / "index.html"
    assert len(links(index, "count-list")) == sum(
        len(expected(kept, c)) for c in ("source", "location", "labels"))


def test_label_page_shows_the_definition(fakes_site):
    page = (fakes_site["output"] / "facets" / "label" / "fake.html").read_text(encoding="utf-8")
    assert 'class="facet-definition"' in page and "do not match" in page


def test_dumps_and_table_rows_in_one_archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SEED, src)
    (src / "t.csv").write_text("id,title,text,day,outlet,place,label\n"
                               "1,A table row,Body of the row.,3/2/2016,alalam,Homs,1\n")
    (src / "t.mapping.yaml").write_text(
        "columns: {id: id, title: title, body: text, date: day, outlet: outlet}\ndate_format: M/D/YYYY\n"
        "facets:\n  location: place\n  label: {column: label, values: {'1': credible, '0': fake}}\n")
    content, output = tmp_path / "content", tmp_path / "output"
    report = ingest(src, content, "Asia/Tehran")
    assert len(report.accepted) == 2 and not report.rejected
    build_site(content, output)
    page = output / "facets" / "outlet" / "alalam.html"
    assert [Path(h).name for h in links(page)] == ["a-table-row.html"]  # the dump has no outlet
    assert (output / "facets" / "label" / "credible.html").exists()
    assert "Outlets and labels" in (output / "corpus.html").read_text(encoding="utf-8")
