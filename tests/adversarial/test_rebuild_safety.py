"""Issue 14, the rebuild side: a mistyped option never deletes anything, sibling sites keep to
themselves, reports go where --reports says, background failures are shown, odd queries and
damaged zips get a verdict, and line separators inside a title or body break nothing."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from broadsheet import rebuild as pipeline, site
from broadsheet.archive import bag, link_check
from broadsheet.archive.bag_zip import write_reproducible_zip
from broadsheet.archive.verify import verify
from broadsheet.background import Background, BackgroundFailed
from conftest import ROOT

SYNTHETIC = ROOT / "raw" / "synthetic"
INVOKE = [sys.executable, "-m", "invoke"]


def copy_dumps(dest: Path, pattern: str = "00[0-2]*.txt") -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for dump in sorted(SYNTHETIC.glob(pattern)):
        copied.append(Path(shutil.copy(dump, dest / dump.name)))
    return copied


#: The line of a dump holding its first paragraph: title, blank, title again, dateline, blank.
FIRST_PARAGRAPH = 5


def retitle(dump: Path, title: str, body_edit=None) -> None:
    """Change a dump's title (its first line and the repeated title line) and, with `body_edit`,
    its first paragraph, as an archivist editing the raw file would."""
    lines = dump.read_text(encoding="utf-8").split("\n")
    old = lines[0]
    lines = [title if line == old else line for line in lines]
    if body_edit:
        lines[FIRST_PARAGRAPH] = body_edit(lines[FIRST_PARAGRAPH])
    dump.write_text("\n".join(lines), encoding="utf-8")


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def run_rebuild(source, content, output, zip_path, reports) -> subprocess.CompletedProcess:
    return subprocess.run([*INVOKE, "rebuild", "--source", str(source), "--content", str(content), "--output",
                           str(output), "--zip", str(zip_path), "--reports", str(reports)],
                          cwd=ROOT, capture_output=True, text=True)


def run_search(output: Path, query: str) -> subprocess.CompletedProcess:
    return subprocess.run([*INVOKE, "search", query, "--output", str(output), "--json"], cwd=ROOT,
                          capture_output=True, text=True)


# -- 1. --output never takes what Broadsheet did not make ----------------------------------

def test_output_naming_the_parent_of_the_source_is_refused_and_nothing_is_touched(tmp_path):
    base = tmp_path / "t"
    copy_dumps(base / "raw")
    before = fingerprint(base)
    proc = run_rebuild(base / "raw", base / "content", base, base / "dist" / "a.zip", base / "reports")
    assert proc.returncode == pipeline.EXIT_REFUSED, proc.stderr
    assert "rebuild refused" in proc.stderr and "--output" in proc.stderr and "Traceback" not in proc.stderr
    assert fingerprint(base) == before and not base.is_symlink()
    assert not (tmp_path / ".t.rebuild").exists()


def test_output_folder_holding_other_files_is_refused(tmp_path):
    copy_dumps(tmp_path / "raw")
    mine = tmp_path / "site"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "draft.txt").write_text("an archivist's notes")
    (mine / "index.html").write_text("<p>my own page</p>")
    before = fingerprint(mine)
    proc = run_rebuild(tmp_path / "raw", tmp_path / "content", mine, tmp_path / "a.zip", tmp_path / "reports")
    assert proc.returncode == pipeline.EXIT_REFUSED, proc.stderr
    assert "did not make" in proc.stderr and "index.html" in proc.stderr
    assert fingerprint(mine) == before and not mine.is_symlink()
    assert not (tmp_path / "content").exists(), "refused before anything was ingested"
    with pytest.raises(pipeline.RebuildRefused, match="did not make"):
        pipeline.rebuild(tmp_path / "raw", tmp_path / "content", mine, tmp_path / "a.zip", tmp_path / "reports")
    assert fingerprint(mine) == before


@pytest.mark.parametrize("output, why", [
    ("content", "is --content"),
    ("raw", "is --source"),
    ("raw/site", "is inside --source"),
    ("reports", "is --reports"),
    ("dist", "holds --zip"),
])
def test_output_overlapping_another_place_is_refused(tmp_path, output, why):
    places = {"source": tmp_path / "raw", "content": tmp_path / "content", "zip_path": tmp_path / "dist" / "a.zip",
              "reports": tmp_path / "reports"}
    copy_dumps(places["source"])
    with pytest.raises(pipeline.RebuildRefused, match=why):
        pipeline.refuse_unsafe_places(output=tmp_path / output, **places)


def test_output_linking_elsewhere_and_a_zip_that_is_not_ours_are_refused(tmp_path):
    copy_dumps(tmp_path / "raw")
    elsewhere = tmp_path / "www"
    elsewhere.mkdir()
    (elsewhere / "keep.html").write_text("x")
    (tmp_path / "site").symlink_to(elsewhere)
    places = dict(source=tmp_path / "raw", content=tmp_path / "content", zip_path=tmp_path / "a.zip",
                  reports=tmp_path / "reports")
    with pytest.raises(pipeline.RebuildRefused, match="not to a version"):
        pipeline.refuse_unsafe_places(output=tmp_path / "site", **places)
    thesis = tmp_path / "thesis.zip"
    thesis.write_bytes(b"my thesis, not a zip")
    with pytest.raises(pipeline.RebuildRefused, match="not an offline zip Broadsheet made"):
        pipeline.refuse_unsafe_places(**{**places, "zip_path": thesis}, output=tmp_path / "new")
    assert thesis.read_bytes() == b"my thesis, not a zip" and (elsewhere / "keep.html").is_file()


def test_an_empty_output_folder_becomes_the_site_and_later_rebuilds_accept_it(tmp_path):
    copy_dumps(tmp_path / "raw")
    (tmp_path / "site").mkdir()
    args = (tmp_path / "raw", tmp_path / "content", tmp_path / "site", tmp_path / "dist" / "a.zip",
            tmp_path / "reports")
    assert pipeline.rebuild(*args).status == "ok"
    assert (tmp_path / "site").is_symlink() and (tmp_path / "site" / "index.html").is_file()
    assert pipeline.rebuild(*args).status == "ok"  # its own link and its own zip


# -- 2. sibling sites keep their own index and state ----------------------------------------

def test_sibling_sites_rebuilt_at_once_each_search_their_own_index(tmp_path):
    for name, word in (("A", "Zebrafinch"), ("B", "Quokkamoor")):
        dumps = copy_dumps(tmp_path / f"raw{name}", "00[0-2]*.txt" if name == "A" else "00[3-5]*.txt")
        retitle(dumps[0], f"{word} Observed near the Front Line")
    for attempt in range(2):  # the first builds the indexes, the second updates them in place
        procs = [subprocess.Popen([*INVOKE, "rebuild", "--source", str(tmp_path / f"raw{n}"),
                                   "--content", str(tmp_path / f"content{n}"), "--output", str(tmp_path / f"site{n}"),
                                   "--zip", str(tmp_path / "dist" / f"{n}.zip"), "--reports", str(tmp_path / "reports")],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for n in "AB"]
        for proc in procs:
            _, err = proc.communicate()
            assert proc.returncode == 0, f"attempt {attempt}: {err}"
    for name, own, other in (("A", "Zebrafinch", "Quokkamoor"), ("B", "Quokkamoor", "Zebrafinch")):
        found = run_search(tmp_path / f"site{name}", own)
        assert found.returncode == 0, found.stderr
        assert [hit["title"] for hit in json.loads(found.stdout)] == [f"{own} Observed near the Front Line"]
        assert json.loads(run_search(tmp_path / f"site{name}", other).stdout) == []
    assert (tmp_path / ".siteA.search-index").is_dir() and (tmp_path / ".siteB.search-index").is_dir()
    assert not (tmp_path / ".search-index").exists()


# -- 3. every report goes to --reports -------------------------------------------------------

class WritesUnder:
    """Records, through Python's audit events, every file this process opens for writing,
    creates, renames or removes under `folder`. Audit hooks cannot be removed: the hook stays,
    idle, once the test is over."""

    active: list[WritesUnder] = []
    #: Events whose first two arguments are both changed, and those that change only the second
    #: or the first; where each has a folder descriptor that its paths are relative to.
    BOTH = {"os.rename": (2, 3), "os.replace": (2, 3), "shutil.move": ()}
    SECOND = {"os.link": (), "os.symlink": (), "shutil.copyfile": ()}
    FIRST = {"os.remove": (1,), "os.unlink": (1,), "os.rmdir": (1,), "os.mkdir": (2,), "shutil.rmtree": (1,)}

    def __init__(self, folder: Path):
        self.folder, self.seen = str(folder), []

    @classmethod
    def hook(cls, event, args):
        if not cls.active:
            return
        if event == "open":
            path, mode, flags = args
            writes = (mode and any(c in mode for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            paths = [path] if writes else []
        else:
            kind = next((k for k in (cls.BOTH, cls.SECOND, cls.FIRST) if event in k), None)
            if kind is None or any(i < len(args) and args[i] is not None for i in kind[event]):
                return  # not a write, or relative to a folder descriptor (rmtree's way)
            paths = list(args[:2]) if kind is cls.BOTH else [args[1]] if kind is cls.SECOND else [args[0]]
        for path in paths:
            if isinstance(path, (str, os.PathLike)):
                path = os.path.abspath(os.fspath(path))
                for watch in cls.active:
                    if path.startswith(watch.folder + os.sep) and "__pycache__" not in path:
                        watch.seen.append((event, path))

    def __enter__(self):
        if not getattr(WritesUnder, "installed", False):
            sys.addaudithook(WritesUnder.hook)
            WritesUnder.installed = True
        WritesUnder.active.append(self)
        return self

    def __exit__(self, *exc):
        WritesUnder.active.remove(self)


def test_every_report_of_a_rebuild_goes_to_the_reports_option(tmp_path):
    copy_dumps(tmp_path / "raw")
    reports = tmp_path / "elsewhere" / "reports"
    with WritesUnder(ROOT) as watch:
        report = pipeline.rebuild(tmp_path / "raw", tmp_path / "content", tmp_path / "site", tmp_path / "a.zip",
                                  reports)
    assert report.status == "ok"
    assert watch.seen == [], "the rebuild wrote into the project itself"
    assert sorted(p.name for p in reports.iterdir()) == ["graph.json", "ingest.json", "rebuild.json"]
    assert json.loads((reports / "graph.json").read_text())["stats"]["articles"] == 3


# -- 4. a failure in a background process reaches the user ---------------------------------

def test_titles_with_nothing_to_index_build_and_search(tmp_path):
    dumps = copy_dumps(tmp_path / "raw", "00[0-3]*.txt")
    for dump, title in zip(dumps, ["The", "???", "1"]):
        retitle(dump, title)
    report = pipeline.rebuild(tmp_path / "raw", tmp_path / "content", tmp_path / "site", tmp_path / "a.zip",
                              tmp_path / "reports")
    assert report.status == "ok" and report.articles == 4
    titles = [json.loads(line)["title"] for line in
              (tmp_path / "site" / "data" / "articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert {"The", "???", "1"} <= set(titles)
    # Their bodies are searchable as any other: a phrase from the body of "The" finds it.
    body = dumps[0].read_text(encoding="utf-8").split("\n")[FIRST_PARAGRAPH]
    found = run_search(tmp_path / "site", '"' + " ".join(body.split()[:12]) + '"')
    assert found.returncode == 0, found.stderr
    assert "The" in [hit["title"] for hit in json.loads(found.stdout)]


def _plugin(name: str):
    sys.path.insert(0, str(ROOT / "plugins"))
    return importlib.import_module(name)


def test_a_failure_in_the_search_process_shows_its_message(tmp_path, monkeypatch):
    content = tmp_path / "content"
    from broadsheet.ingest import ingest

    ingest(ROOT / "raw", content, "Asia/Tehran")

    def broken(settings, articles):
        raise RuntimeError("injected: the index disk is on fire")

    monkeypatch.setattr(_plugin("search_index"), "_index_and_export", broken)
    with pytest.raises(site.BuildError) as failed:  # a single build indexes in a fork
        site.build(content, tmp_path / "out", "local", partitioned=False, SEARCH_IN_PARALLEL=True)
    message = str(failed.value)
    assert "building the search index failed: RuntimeError: injected: the index disk is on fire" in message
    assert "test_rebuild_safety.py" in message  # where it happened
    assert "see its messages above" not in message


def test_a_failure_in_the_search_join_shows_its_message(tmp_path, monkeypatch):
    """A partitioned build joins the partitions' search parts in a fresh process: a part it
    cannot read fails the build with the reason."""
    content = tmp_path / "content"
    from broadsheet.ingest import ingest

    ingest(ROOT / "raw", content, "Asia/Tehran")
    _plugin("search_index")
    parts = importlib.import_module("search_index.parts")
    real = parts.write_part

    def garbled(folder, *args):
        ident = real(folder, *args)
        (folder / parts.PARTS_DIR / ident / parts.PART_FILE).write_text("{not json")
        return ident

    monkeypatch.setattr(parts, "write_part", garbled)
    with pytest.raises(site.BuildError) as failed:
        site.build(content, tmp_path / "out", "local", partitioned=True, SEARCH_IN_PARALLEL=True)
    message = str(failed.value)
    assert "joining the search index failed: json.decoder.JSONDecodeError" in message


def test_a_failure_in_the_link_check_process_shows_its_message(tmp_path, monkeypatch):
    copy_dumps(tmp_path / "raw")

    def broken(*args, **kwargs):
        raise ValueError("injected: a page could not be read")

    monkeypatch.setattr(link_check.LinkChecker, "check_all", broken)
    with pytest.raises(pipeline.RebuildFailed, match="the link check failed: ValueError: injected: a page could "
                                                     "not be read"):
        pipeline.rebuild(tmp_path / "raw", tmp_path / "content", tmp_path / "site", tmp_path / "a.zip",
                         tmp_path / "reports")
    saved = json.loads((tmp_path / "reports" / "rebuild.json").read_text())
    assert "ValueError: injected: a page could not be read" in saved["reason"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a background process needs a second core")
def test_a_background_process_that_dies_says_how():
    job = Background(lambda: os.kill(os.getpid(), signal.SIGKILL), what="the check")
    with pytest.raises(BackgroundFailed, match=r"the check stopped without a result \(killed by SIGKILL"):
        job.result()

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot be pickled")

    with pytest.raises(BackgroundFailed, match="cannot be pickled"):
        Background(Unpicklable, what="the check").result()


# -- 5. a query the parser cannot use gets a one-line error ---------------------------------

@pytest.fixture(scope="module")
def searchable(tmp_path_factory):
    base = tmp_path_factory.mktemp("queries")
    copy_dumps(base / "raw")
    pipeline.rebuild(base / "raw", base / "content", base / "site", base / "a.zip", base / "reports")
    return base / "site"


NASTY = ["NOT NOT NOT", "NOT NOT army", '"a" NOT NOT "b"', "NOT", "OR", "AND", "title:", "date:[", "date:[2016 to",
         "year:[a to b]", "year:abc", "date:garbage", "date:2016-02-30", '"', "", "   ", "(((", "army)" * 3,
         "NOT " * 3000 + "army", "army " * 5000, "x" * 100_000]


@pytest.mark.parametrize("query", NASTY, ids=lambda q: repr(q[:30]) + (f"+{len(q) - 30}" if len(q) > 30 else ""))
def test_queries_the_parser_cannot_use_give_a_one_line_error(searchable, query):
    query_module = _plugin("search_index.query")
    try:
        query_module.search(searchable, query)
    except query_module.QueryError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 400


def test_cli_answers_a_bad_query_with_one_line_and_exit_2(searchable):
    for query in ("NOT NOT NOT", "date:[", "year:abc"):
        proc = run_search(searchable, query)
        assert proc.returncode == 2, (query, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert query in proc.stderr
    good = run_search(searchable, "army OR (title:syrian NOT marines)")
    assert good.returncode == 0, good.stderr


# -- 6. verify-zip: unlisted files, damaged bytes, things that are not zips -----------------

def _tiny_bag_zip(base: Path) -> Path:
    """A small zip as Broadsheet writes them: a two-page site with its articles export, bagged."""
    site_dir = base / "site"
    (site_dir / "data").mkdir(parents=True)
    (site_dir / "index.html").write_text('<p><a href="a.html">a</a> ' + "words " * 40 + "</p>")
    (site_dir / "a.html").write_text('<p><a href="index.html">home</a> ' + "more " * 40 + "</p>")
    (site_dir / "data" / "articles.jsonl").write_text('{"title": "a", "url": "a.html"}\n')
    bag_dir = bag.make_bag(site_dir, base / "archive", {"Article-Count": "1"}, "Archive")
    zip_path = base / "archive.zip"
    write_reproducible_zip(bag_dir, zip_path, "archive")
    return zip_path


def test_verify_zip_rejects_a_file_no_manifest_lists(tmp_path):
    original = _tiny_bag_zip(tmp_path)
    assert verify(original).ok, verify(original).errors
    with zipfile.ZipFile(original) as zf:
        zf.extractall(tmp_path / "unpacked")
    root = tmp_path / "unpacked" / "archive"
    (root / "extra.txt").write_text("slipped in beside the manifests")
    tampered = tmp_path / "tampered" / "archive.zip"
    write_reproducible_zip(root, tampered, "archive")
    result = verify(tampered)
    assert result.errors == ["extra.txt is not listed in any manifest of the bag"]
    proc = subprocess.run([*INVOKE, "verify-zip", str(tampered)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "extra.txt is not listed" in proc.stderr


def test_verify_zip_gives_a_verdict_for_every_flipped_byte(tmp_path):
    """Every byte inverted, and the lowest bit of every byte outside the compressed data and of
    each stream's first and last byte (a deflate stream's last-block flag is one bit)."""
    original = _tiny_bag_zip(tmp_path)
    data = original.read_bytes()
    with zipfile.ZipFile(original) as zf:
        streams = [(i.header_offset + 30 + len(i.filename.encode()), i.compress_size) for i in zf.infolist()]
    in_data = {at for start, size in streams for at in range(start + 1, start + size - 1)}
    flips = [(at, 0xFF) for at in range(len(data))] + [(at, 0x01) for at in range(len(data)) if at not in in_data]
    damaged = tmp_path / "damaged.zip"
    # Unpacked in memory where the machine has it: a few thousand verifications.
    work = Path("/dev/shm") if os.access("/dev/shm", os.W_OK) else tmp_path
    for at, flip in flips:
        damaged.write_bytes(data[:at] + bytes([data[at] ^ flip]) + data[at + 1:])
        result = verify(damaged, work_dir=work)
        assert result.errors, f"byte {at} ^ {flip:#x} went unnoticed"


@pytest.mark.parametrize("make, why", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("just some text"), "not a readable zip"),
    (lambda p: None, "not a readable zip"),
])
def test_verify_zip_answers_for_what_is_not_a_zip(tmp_path, make, why):
    target = tmp_path / "archive.zip"
    make(target)
    result = verify(target)
    assert any(why in e for e in result.errors), result.errors
    proc = subprocess.run([*INVOKE, "verify-zip", str(target)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr


# -- 7. line separators inside a title or body ---------------------------------------------

def test_line_separators_in_a_title_and_body_break_nothing(tmp_path):
    dumps = copy_dumps(tmp_path / "raw")
    title = "Ceasefire\u2028Talks\u2029Resume\u0085in Geneva"
    retitle(dumps[1], title, body_edit=lambda line: line[:40] + "\u2028" + line[40:80] + "\u0085" + line[80:]
            + "\u2029")
    report = pipeline.rebuild(tmp_path / "raw", tmp_path / "content", tmp_path / "site", tmp_path / "dist" / "a.zip",
                              tmp_path / "reports")
    assert report.status == "ok" and report.articles == 3, report.reason
    rows = [json.loads(line) for line in
            (tmp_path / "site" / "data" / "articles.jsonl").read_text(encoding="utf-8").split("\n") if line]
    assert len(rows) == 3
    assert title in [row["title"] for row in rows]
    assert verify(tmp_path / "dist" / "a.zip").ok
    found = run_search(tmp_path / "site", "Geneva")
    assert found.returncode == 0, found.stderr
    assert [hit["title"] for hit in json.loads(found.stdout)] == [title]
