"""Tables: CSV rows + a mapping -> articles. The real FA-KES file, and small bad tables.

The FA-KES CSV is read from ../shared/data/fa-kes/ (never copied into the repository);
those tests skip, saying why, where the folder is absent.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from broadsheet.article import read_content_file, read_markdown_file
from broadsheet.dumps import TEXT_DATELINES, localize, match_text_dateline
from broadsheet.ingest import EXIT_PROBLEMS, ingest
from broadsheet.tables import MappingError, cell_paragraphs, load_mapping, parse_mapping, parse_table
from conftest import DATA, FAKES_CSV, FAKES_DIR, ROOT, SEED

FAKES_MAPPING = ROOT / "mappings" / "fa-kes.yaml"
needs_fakes = pytest.mark.skipif(
    not FAKES_CSV.exists(),
    reason=f"FA-KES is not in {FAKES_DIR}: download FA-KES-Dataset.csv from Zenodo record 2607278 "
           "(doi:10.5281/zenodo.2607278) into that folder to run these tests",
)
WEEKDAY_START = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun)")
LABELS = {"1": "credible", "0": "fake"}


# -- the real corpus ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    """FA-KES ingested once with the shipped mapping, and the same file read by `csv`."""
    content = tmp_path_factory.mktemp("fakes") / "content"
    report = ingest(FAKES_CSV, content, "Asia/Tehran", mapping=load_mapping(FAKES_MAPPING))
    with FAKES_CSV.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    output_of = {a["source"]: a["output"] for a in report.accepted}
    output_of.update({d["source"]: d["output"] for d in report.duplicates})

    def article(row_number: int):
        meta, paragraphs = read_content_file((content / output_of[f"FA-KES-Dataset.csv#row={row_number}"]).read_text())
        return meta, paragraphs

    # csv.DictReader row i (0-based) is spreadsheet row i + 2: the header is row 1.
    return {"report": report, "rows": rows, "content": content, "article": article, "output_of": output_of}


@needs_fakes
def test_fakes_every_row_accounted_for(fakes):
    report, rows = fakes["report"], fakes["rows"]
    s = report.summary()
    assert len(rows) == 804 and s["read"] == 804
    assert len({r["article_title"] for r in rows}) == 774
    assert s["accepted"] + s["duplicates"] + s["rejected"] == s["read"]
    assert s["rejected"] == 0, report.rejected
    named = [e["source"] for e in report.accepted + report.duplicates + report.rejected]
    assert sorted(named) == sorted(f"FA-KES-Dataset.csv#row={n}" for n in range(2, 806))
    assert len(list(fakes["content"].rglob("*.md"))) == s["accepted"]


@needs_fakes
def test_fakes_duplicates_are_equal_title_date_and_text(fakes):
    rows = fakes["rows"]
    key = Counter((r["article_title"], r["date"], r["article_content"]) for r in rows)
    assert len(fakes["report"].duplicates) == sum(n - 1 for n in key.values()) == 12
    for d in fakes["report"].duplicates:
        a = rows[int(d["source"].split("=")[1]) - 2]
        b = rows[int(d["duplicate_of"].split("=")[1]) - 2]
        assert (a["article_title"], a["date"], a["article_content"]) == (b["article_title"], b["date"], b["article_content"])
    # the same text labelled credible once and fake another time: folded, and the kept article says so
    meta, _ = fakes["article"](465)
    assert any("#row=" in w and "same title, date and text" in w for w in meta["warnings"])


@needs_fakes
def test_fakes_same_title_different_text_are_two_articles(fakes):
    rows, output_of = fakes["rows"], fakes["output_of"]
    by_title: dict[str, set] = {}
    for i, r in enumerate(rows):
        by_title.setdefault(r["article_title"], set()).add((r["date"], r["article_content"], i + 2))
    differing = {t: v for t, v in by_title.items() if len({(d, c) for d, c, _ in v}) > 1}
    assert differing, "FA-KES has titles repeated with different text"
    for title, versions in differing.items():
        outputs = {output_of[f"FA-KES-Dataset.csv#row={n}"] for _, _, n in versions}
        assert len(outputs) == len({(d, c) for d, c, _ in versions}), title


def _row_sha256(raw_lines: list[bytes], row_number: int) -> str:
    return hashlib.sha256(raw_lines[row_number - 1]).hexdigest()


@needs_fakes
def test_fakes_sample_rows_field_by_field(fakes):
    rows = fakes["rows"]
    raw = FAKES_CSV.read_bytes()
    raw_lines = raw.splitlines(keepends=True)  # FA-KES cells hold no line breaks
    assert len(raw_lines) == 805
    sample = sorted(set(range(0, 804, 23)) | {0, 1, 803})
    for i in sample:
        row, n = rows[i], i + 2
        meta, paragraphs = fakes["article"](n)
        if meta["source"]["row"] != n:  # a duplicate row: its fields are the kept row's
            continue
        month, day, year = map(int, row["date"].split("/"))
        assert meta["title"] == row["article_title"].strip()
        assert "\n\n".join(paragraphs) == row["article_content"]
        assert meta["date"] == localize(datetime(year, month, day), "Asia/Tehran")[0].isoformat()
        assert meta["source_id"] == row["unit_id"]
        assert meta["outlet"] == row["source"]
        assert meta["facets"] == {"location": row["location"], "label": LABELS[row["labels"]]}
        assert meta["source"] == {"file": "FA-KES-Dataset.csv", "sha256": _row_sha256(raw_lines, n),
                                  "bytes": len(raw_lines[n - 1]), "encoding": "utf-8", "newlines": "crlf",
                                  "row": n}
        assert meta["dataset"]["doi"] == "10.5281/zenodo.2607278"
        assert meta["dataset"]["licence"] == "CC BY"
        assert "Abu Salem" in meta["dataset"]["citation"]
        assert set(meta["dataset"]["definitions"]["label"]) == {"credible", "fake"}


@needs_fakes
def test_fakes_leading_datelines(fakes):
    rows, report = fakes["rows"], fakes["report"]
    starts_with_weekday = [r for r in rows if WEEKDAY_START.match(r["article_content"])]
    assert len(starts_with_weekday) == 181
    # The 181st is no dateline: "Monitors 15 killed in missile strike ..." only begins with "Mon".
    not_datelines = [r["article_content"][:8] for r in starts_with_weekday if not match_text_dateline(r["article_content"])]
    assert not_datelines == ["Monitors"]
    recognised = []
    for i, r in enumerate(rows):
        meta, _ = fakes["article"](i + 2)
        if meta["source"]["row"] == i + 2 and meta.get("text_dateline"):
            assert r["article_content"].startswith(meta["text_dateline"])
            recognised.append(meta["text_dateline"])
    distinct_rows = {d["source"] for d in report.duplicates}
    expected = sum(1 for i, r in enumerate(rows) if match_text_dateline(r["article_content"])
                   and f"FA-KES-Dataset.csv#row={i + 2}" not in distinct_rows)
    assert len(recognised) == expected
    assert sum(1 for r in rows if match_text_dateline(r["article_content"])) == 180
    assert {"Fri 07 Apr 2017 at 0914", "Thu Jul 7 2016", "Sat Feb 28 2015 190703",
            "Thursday 31 July 2014 10:59", "Wednesday 07 December 2016"} <= set(recognised)


@needs_fakes
def test_fakes_signatures(fakes):
    rows = fakes["rows"]
    signed = Counter()
    for i, r in enumerate(rows):
        meta, paragraphs = fakes["article"](i + 2)
        if meta["source"]["row"] != i + 2 or not meta["signature"]:
            continue
        assert r["source"] == "alalam", r["article_content"][-60:]
        assert "\n\n".join(paragraphs).endswith(meta["signature"])  # recognised, and left in the body
        signed[meta["signature"]] += 1
    assert sum(signed.values()) >= 55
    assert {"SSH 11", "218-11", "12", "MBMB"} <= set(signed)


@needs_fakes
def test_fakes_dateline_disagreeing_with_date_column_is_kept_and_warned(fakes):
    rows = fakes["rows"]
    i = next(i for i, r in enumerate(rows) if r["article_content"].startswith("Thu Sep 5 2013 Car bomb"))
    assert rows[i]["date"] == "2/2/2011"
    meta, _ = fakes["article"](i + 2)
    assert meta["date"].startswith("2011-02-02")
    assert meta["text_dateline"] == "Thu Sep 5 2013"
    assert any("disagrees" in w and "2013-09-05" in w and "2011-02-02" in w for w in meta["warnings"])
    warned = [a for a in fakes["report"].accepted if any("disagrees" in w for w in a["warnings"])]
    assert len(warned) >= 30
    agreeing = next(i for i, r in enumerate(rows) if r["article_content"].startswith("Fri 07 Apr 2017 at 0914"))
    meta, _ = fakes["article"](agreeing + 2)
    assert not any("disagrees" in w for w in meta["warnings"])


@needs_fakes
def test_fakes_through_the_invoke_task(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "ingest", "--source", str(FAKES_CSV), "--mapping", str(FAKES_MAPPING),
         "--content", str(tmp_path / "c"), "--report", str(tmp_path / "r.json")],
        cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "804 read" in proc.stderr
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert summary["read"] == 804 and summary["duplicates"] == 12


@needs_fakes
def test_fakes_reingest_changes_no_byte(fakes):
    content = fakes["content"]
    before = {p: p.read_bytes() for p in content.rglob("*") if p.is_file()}
    report = ingest(FAKES_CSV, content, "Asia/Tehran", mapping=load_mapping(FAKES_MAPPING))
    assert report.written == 0 and report.unchanged == report.summary()["accepted"]
    assert {p: p.read_bytes() for p in content.rglob("*") if p.is_file()} == before


# -- small tables: the rules one by one ---------------------------------------------------

MAPPING = """\
columns: {id: id, title: title, body: text, date: day, outlet: outlet}
date_format: M/D/YYYY
timezone: UTC
facets:
  location: place
  label: {column: label, values: {"1": credible, "0": fake}}
dataset: {title: A test table, doi: 10.0/test, licence: CC0}
"""
HEADER = "id,title,text,day,outlet,place,label"


def write_table(folder: Path, name: str, rows: list[str], newline: str = "\n", encoding: str = "utf-8",
                mapping: str | None = MAPPING) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(newline.join([HEADER, *rows, ""]).encode(encoding))
    if mapping is not None:
        (folder / (path.stem + ".mapping.yaml")).write_text(mapping)
    return path


def parse(path: Path):
    return parse_table(path.read_bytes(), path.name, parse_mapping(__import__("yaml").safe_load(MAPPING), "m.yaml"))


def test_row_fields_and_provenance(tmp_path):
    path = write_table(tmp_path, "t.csv", ['7,A title ,"Body, with a comma. SSH 11",3/9/2016,alalam,Homs,1'])
    [a] = parse(path)
    assert a.title == "A title" and a.body == "Body, with a comma. SSH 11"
    assert a.paragraphs == ["Body, with a comma. SSH 11"]
    assert a.date.isoformat() == "2016-03-09T00:00:00+00:00"
    assert (a.source_id, a.outlet, a.signature) == ("7", "alalam", "SSH 11")
    assert a.facets == {"location": "Homs", "label": "credible"}
    assert a.dataset["doi"] == "10.0/test"
    row_bytes = path.read_bytes().split(b"\n")[1] + b"\n"
    assert (a.source.file, a.source.row, a.source.sha256) == ("t.csv", 2, hashlib.sha256(row_bytes).hexdigest())


def test_cell_with_line_breaks_keeps_them(tmp_path):
    path = write_table(tmp_path, "t.csv", ['1,T,"First para.\n\nSecond line one\nline two.",1/2/2016,x,y,0',
                                           '2,U,"odd\n\n\nspacing",1/2/2016,x,y,0'])
    a, b = parse(path)
    assert a.paragraphs == ["First para.", "Second line one\nline two."]
    assert b.paragraphs == ["odd\n\n\nspacing"] and b.body == "odd\n\n\nspacing"
    assert b.source.row == 3
    for cell in ["a\n\nb", "\n\na", "a\n\n", "x\n\n\n\ny", ""]:
        assert "\n\n".join(cell_paragraphs(cell)) == cell


def test_body_round_trips_through_the_content_file(tmp_path):
    hazards = '# not a heading *not bold* [not](a link) <script>x</script> 1. _u_ `c` \\ &amp; '
    path = write_table(tmp_path, "t.csv", [f'1,T,"{hazards}",1/2/2016,x,y,0'])
    report = ingest(path, tmp_path / "content")
    [accepted] = report.accepted
    article = read_markdown_file((tmp_path / "content" / accepted["output"]).read_text())
    assert article.body == hazards


def test_text_dateline_recognised_with_the_dump_rules(tmp_path):
    path = write_table(tmp_path, "t.csv", [
        '1,T,Thu Jul 7 2016 Hezbollah and the army. Body. 218-11,7/7/2016,alalam,y,1',
        '2,U,Fri 07 Apr 2017 at 0914 Homs governor says. Body,4/8/2017,nna,y,0',
        '3,V,Mon Feb 30 2016 not a date,2/1/2016,x,y,0',
        '4,W,Thu Jul 7 2016 1500 killed,7/7/2016,x,y,0',
    ])
    a, b, c, d = parse(path)
    assert (a.text_dateline, a.signature, a.warnings) == ("Thu Jul 7 2016", "218-11", [])
    assert b.text_dateline == "Fri 07 Apr 2017 at 0914"
    assert b.date.date() == date(2017, 4, 8)
    assert any("disagrees" in w and "2017-04-07" in w for w in b.warnings)
    assert c.text_dateline == "Mon Feb 30 2016" and any("not a real date" in w for w in c.warnings)
    assert d.text_dateline == "Thu Jul 7 2016"  # a bare four-digit number is not a time
    assert all(p.pattern for p in TEXT_DATELINES)


def test_missing_column_rejects_the_table_and_the_run_goes_on(tmp_path):
    src = tmp_path / "src"
    write_table(src, "good.csv", ["1,T,Body.,1/2/2016,x,y,0"])
    bad = src / "bad.csv"
    bad.write_text("id,title,text,day,outlet,place\n1,T,Body.,1/2/2016,x,y\n")
    (src / "bad.mapping.yaml").write_text(MAPPING)
    report = ingest(src, tmp_path / "content")
    [rejected] = report.rejected
    assert rejected["source"] == "bad.csv" and rejected["reason"] == "missing-column"
    assert "'label'" in rejected["detail"]
    assert "columns found: id, title, text, day, outlet, place" in rejected["detail"]
    assert len(report.accepted) == 1 and report.exit_status == EXIT_PROBLEMS


def test_malformed_rows_are_rejected_with_their_number(tmp_path):
    path = write_table(tmp_path, "t.csv", [
        "1,Good one,Body.,1/2/2016,x,y,0",
        "2,Too few cells,Body.,1/2/2016,x,y",
        "3,Bad date,Body.,13/45/2016,x,y,0",
        "4,Unknown label,Body.,1/2/2016,x,y,7",
        "5,,No title.,1/2/2016,x,y,0",
        '6,Stray quote,"Body" oops,1/2/2016,x,y,0',
        "7,Good two,Body.,1/3/2016,x,y,1",
        '8,Never closed,"Body.,1/3/2016,x,y,1',
        "9,Swallowed,Body.,1/3/2016,x,y,1",
    ])
    report = ingest(path, tmp_path / "content")
    got = {r["source"]: r["reason"] for r in report.rejected}
    assert got == {"t.csv#row=3": "malformed-row", "t.csv#row=4": "bad-date", "t.csv#row=5": "unknown-value",
                   "t.csv#row=6": "no-title", "t.csv#row=7": "malformed-row", "t.csv#row=9": "malformed-row"}
    details = {r["source"]: r["detail"] for r in report.rejected}
    assert "has 6 cells; the header has 7" in details["t.csv#row=3"]
    assert "row 9 (line 9) is never closed; lines 9-10" in details["t.csv#row=9"]
    assert [a["source"] for a in report.accepted] == ["t.csv#row=2", "t.csv#row=8"]
    s = report.summary()
    assert s["accepted"] + s["duplicates"] + s["rejected"] == s["read"] == 8


@pytest.mark.parametrize("newline,encoding,expected", [
    ("\r\n", "utf-8", ("utf-8", "crlf")),
    ("\r", "utf-8", ("utf-8", "cr")),
    ("\n", "cp1252", ("windows-1252", "lf")),
    ("\n", "utf-8-sig", ("utf-8-sig", "lf")),
])
def test_encodings_and_line_endings_as_for_dumps(tmp_path, newline, encoding, expected):
    path = write_table(tmp_path, "t.csv", [f'1,Café “quoted”,"Two{newline}lines, déjà vu.",1/2/2016,x,Alep,1',
                                           "2,Second,Body.,1/3/2016,x,y,0"], newline=newline, encoding=encoding)
    a, b = parse(path)
    assert a.title == "Café “quoted”"
    assert a.body == "Two\nlines, déjà vu."
    assert (a.source.encoding, a.source.newlines) == expected
    raw_rows = re.findall(rb"[^\r\n]*(?:\r\n|\r|\n)", path.read_bytes())
    assert a.source.sha256 == hashlib.sha256(raw_rows[1] + raw_rows[2]).hexdigest()
    assert b.source.sha256 == hashlib.sha256(raw_rows[3]).hexdigest() and b.source.row == 3


def test_duplicates_and_same_title_different_text(tmp_path):
    path = write_table(tmp_path, "t.csv", [
        "1,Same,One text.,1/2/2016,x,y,1",
        "2,Same,One text.,1/2/2016,x,y,0",
        "3,Same,Another text.,1/2/2016,x,y,1",
    ])
    report = ingest(path, tmp_path / "content")
    assert [(d["source"], d["duplicate_of"]) for d in report.duplicates] == [("t.csv#row=3", "t.csv#row=2")]
    assert len({a["output"] for a in report.accepted}) == 2
    kept = next(a for a in report.accepted if a["source"] == "t.csv#row=2")
    assert any("t.csv#row=3" in w and "'label': 'fake'" in w for w in kept["warnings"])


def test_mixed_folder_of_dumps_and_tables(tmp_path):
    src = tmp_path / "src"
    (src / "dumps").mkdir(parents=True)
    shutil.copy(SEED, src / "dumps")
    write_table(src / "tables", "news.csv", ["1,A row,Body.,1/2/2016,x,y,1"])
    write_table(src / "tables", "orphan.csv", ["1,B row,Body.,1/2/2016,x,y,1"], mapping=None)
    report = ingest(src, tmp_path / "content")
    assert sorted(a["source"] for a in report.accepted) == ["dumps/" + SEED.name, "tables/news.csv#row=2"]
    [rejected] = report.rejected  # the mapping file itself is not read as a dump
    assert rejected["source"] == "tables/orphan.csv" and rejected["reason"] == "no-mapping"
    assert "orphan.mapping.yaml" in rejected["detail"] and "--mapping" in rejected["detail"]
    assert report.summary()["read"] == 3


def test_explicit_mapping_applies_to_every_table(tmp_path):
    src = tmp_path / "src"
    write_table(src, "a.csv", ["1,A,Body.,1/2/2016,x,y,1"], mapping=None)
    (tmp_path / "m.yaml").write_text(MAPPING)
    report = ingest(src, tmp_path / "content", mapping=load_mapping(tmp_path / "m.yaml"))
    assert [a["source"] for a in report.accepted] == ["a.csv#row=2"]


@pytest.mark.parametrize("text,message", [
    ("columns: {title: t, body: b}\ndate_format: M/D/YYYY\n", "'columns.date' is required"),
    ("columns: {title: t, body: b, date: d}\n", "'date_format' is required"),
    ("columns: {title: t, body: b, date: d}\ndate_format: D/YYYY\n", "has no month"),
    ("columns: {title: t, body: b, date: d, author: a}\ndate_format: M/D/YYYY\n", "unknown key(s) under 'columns': author"),
    ("columns: [", "not valid YAML"),
])
def test_bad_mapping_is_named(tmp_path, text, message):
    (tmp_path / "m.yaml").write_text(text)
    with pytest.raises(MappingError, match=re.escape(message)):
        load_mapping(tmp_path / "m.yaml")


def test_invoke_ingest_refuses_an_unusable_mapping(tmp_path):
    (tmp_path / "m.yaml").write_text("columns: {}\n")
    proc = subprocess.run([sys.executable, "-m", "invoke", "ingest", "--source", str(DATA / "dumps"),
                           "--mapping", str(tmp_path / "m.yaml"), "--content", str(tmp_path / "c")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "m.yaml" in proc.stderr
