"""Deposit and reuse formats, each read back by its own library or validator, and CSV safety."""

from __future__ import annotations

import csv
import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest

from broadsheet.dumps import parse_dump
from broadsheet.site import load_settings
from broadsheet.spreadsheet import restore, safe_cell
from conftest import ROOT, SEED, build_site, ingest_into

SEED_ARTICLE = parse_dump(SEED.read_bytes(), SEED.name, "Asia/Tehran")

#: Titles a spreadsheet would run, and titles that test quoting, markup and direction.
FORMULA_TITLES = ['=HYPERLINK("http://evil.example/","click")', "+1", "-2", "@SUM(A1:A2)", "\tx", "\rx"]
HOSTILE_TITLES = [
    *FORMULA_TITLES,
    "'=already quoted",
    'He said "no", then \'yes\'; a,b',
    "<script>alert(1)</script> & <b>bold</b> ]]>",
    "الجيش السوري يتقدم في حلب",
]


def _hostile_content(content: Path) -> dict[str, str]:
    """One content file per hostile title, as ingest writes them; {slug: title}."""
    titles = {}
    for n, title in enumerate(HOSTILE_TITLES, 1):
        slug = f"hostile-{n}"
        article = dataclasses.replace(SEED_ARTICLE, title=title, slug=slug,
                                      date=SEED_ARTICLE.date + timedelta(days=n))
        path = content / f"{article.date:%Y}" / f"{article.date:%m}" / f"{slug}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article.to_markdown(), encoding="utf-8")
        titles[slug] = title
    return titles


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    content, output = base / "content", base / "output"
    ingest_into(ROOT / "raw", content)
    titles = _hostile_content(content)
    # The search index is left out: a title with no indexable word (`+1`, `\tx`) stops its
    # export (a known search_index problem, not a deposit one).
    build_site(content, output, PLUGINS=[p for p in load_settings("local")["PLUGINS"] if p != "search_index"])
    return {"output": output, "titles": titles}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# -- CSV safety ----------------------------------------------------------------------------


@pytest.mark.parametrize("title", FORMULA_TITLES)
def test_safe_cell_neutralises_formula_starts(title):
    assert safe_cell(title) == "'" + title
    assert restore(safe_cell(title)) == title


@pytest.mark.parametrize("value", ["plain", "", "a=b", "'quoted", "''", 12, None, -2.5, True])
def test_safe_cell_is_undone_by_restore(value):
    cell = safe_cell(value)
    if isinstance(value, str):
        assert restore(cell) == value
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    else:
        assert cell is value


def test_articles_csv_neutralises_formulas_and_jsonl_keeps_titles(hostile_site):
    out, titles = hostile_site["output"], hostile_site["titles"]
    jsonl = {row["slug"]: row for row in map(json.loads, (out / "data/articles.jsonl").read_text("utf-8").splitlines())}
    table = {row["slug"]: row for row in _csv_rows(out / "data/articles.csv")}
    for slug, title in titles.items():
        assert jsonl[slug]["title"] == title
        cell = table[slug]["title"]
        if title.startswith(("=", "+", "-", "@", "\t", "\r", "'")):
            assert cell == "'" + title
        else:
            assert cell == title
        assert restore(cell) == title
    for row in table.values():
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values()), row
