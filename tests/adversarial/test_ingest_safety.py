"""Ingest against a careless archivist and an attacker (issue 14): nothing lost, nothing escapes,
no single file stops, stalls or floods a run. Every case uses real files on disk."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import yaml

from broadsheet import ingest as ingest_module
from broadsheet.article import read_content_file
from broadsheet.dumps import MAX_DUMP_BYTES, MAX_DUMP_LINES, parse_dump
from broadsheet.ingest import IngestRefused, WriteFailed, ingest, write_report
from broadsheet.related import parse_blob
from broadsheet.tables import MappingError, load_mapping
from conftest import ROOT, build_site

TZ = "Asia/Tehran"
SYNTHETIC = ROOT / "raw" / "synthetic"
DUMPS = sorted(p for p in SYNTHETIC.iterdir() if not p.name.startswith("."))
AS_ROOT = os.geteuid() == 0  # root reads whatever chmod says: the read is made to fail in-process instead


def copy_dumps(folder: Path, n: int, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(p, folder / p.name)) for p in DUMPS[start:start + n]]


def snapshot(content: Path) -> dict[str, bytes]:
    return {p.relative_to(content).as_posix(): p.read_bytes() for p in sorted(content.rglob("*")) if p.is_file()}


def run_invoke(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True)


def reasons(report) -> dict[str, str]:
    return {r["source"]: r["reason"] for r in report.rejected}


def outputs(report) -> dict[str, str]:
    return {a["source"]: a["output"] for a in report.accepted}


# -- 1. a mistyped or emptied source removes nothing ------------------------------------------

def test_missing_source_is_refused_before_anything_changes(tmp_path):
    src, content = tmp_path / "raw", tmp_path / "content"
    copy_dumps(src, 3)
    ingest(src, content, TZ)
    before = snapshot(content)
    with pytest.raises(IngestRefused, match="does not exist"):
        ingest(tmp_path / "rwa", content, TZ)
    assert snapshot(content) == before

    proc = run_invoke("ingest", "--source", str(tmp_path / "rwa"), "--content", str(content),
                      "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 2, proc.stderr
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(content) == before


def test_empty_source_is_refused(tmp_path):
    src, content = tmp_path / "raw", tmp_path / "content"
    copy_dumps(src, 3)
    ingest(src, content, TZ)
    before = snapshot(content)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IngestRefused, match="--allow-removals"):
        ingest(empty, content, TZ)
    assert snapshot(content) == before


def test_deleting_most_dumps_stops_until_allowed(tmp_path):
    src, content = tmp_path / "raw", tmp_path / "content"
    dumps = copy_dumps(src, 9)
    first = ingest(src, content, TZ)
    before = snapshot(content)
    for p in dumps[3:]:
        p.unlink()
    with pytest.raises(IngestRefused) as refused:
        ingest(src, content, TZ)
    assert "6 of the 9" in str(refused.value) and dumps[3].name in str(refused.value)
    assert snapshot(content) == before

    proc = run_invoke("ingest", "--source", str(src), "--content", str(content), "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 2 and "--allow-removals" in proc.stderr, proc.stderr
    assert snapshot(content) == before

    proc = run_invoke("ingest", "--source", str(src), "--content", str(content), "--report", str(tmp_path / "r.json"),
                      "--allow-removals")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    gone = {outputs(first)[p.name] for p in dumps[3:]}
    assert set(report["removed"]) == gone
    assert not any((content / rel).exists() for rel in gone)
    assert len(list(content.rglob("*.md"))) == 3


def test_removing_one_of_three_is_an_ordinary_deletion(tmp_path):
    src, content = tmp_path / "raw", tmp_path / "content"
    dumps = copy_dumps(src, 3)
    first = ingest(src, content, TZ)
    dumps[0].unlink()
    again = ingest(src, content, TZ)
    assert again.removed == [outputs(first)[dumps[0].name]]


def test_rebuild_with_a_refused_ingest_publishes_nothing_then_allow_removals_goes_through(tmp_path):
    base = tmp_path / "archive"
    src = base / "raw"
    dumps = copy_dumps(src, 4)
    common = ["--content", str(base / "content"), "--output", str(base / "output"),
              "--zip", str(base / "dist" / "a.zip"), "--reports", str(base / "reports")]
    assert run_invoke("rebuild", "--source", str(src), *common).returncode == 0
    published = os.readlink(base / "output")
    site_before, zip_before = snapshot(base / "output"), (base / "dist" / "a.zip").read_bytes()
    content_before = snapshot(base / "content")

    typo = run_invoke("rebuild", "--source", str(base / "rwa"), *common)
    assert typo.returncode != 0 and "does not exist" in typo.stderr and "Traceback" not in typo.stderr
    for p in dumps[1:]:
        p.unlink()
    most = run_invoke("rebuild", "--source", str(src), *common)
    assert most.returncode != 0 and "--allow-removals" in most.stderr
    assert os.readlink(base / "output") == published and snapshot(base / "output") == site_before
    assert (base / "dist" / "a.zip").read_bytes() == zip_before
    assert snapshot(base / "content") == content_before

    allowed = run_invoke("rebuild", "--source", str(src), *common, "--allow-removals")
    assert allowed.returncode == 0, allowed.stderr
    assert len(list((base / "content").rglob("*.md"))) == 1


# -- 2. what cannot be read keeps its articles -------------------------------------------------

@contextlib.contextmanager
def unreadable(path: Path, monkeypatch):
    """Make `path` unreadable: chmod 000, and for root (whom chmod does not stop) make the
    folder listing or the file opening fail in this process."""
    mode = path.stat().st_mode
    path.chmod(0)
    if AS_ROOT:
        denied = OSError(errno.EACCES, "Permission denied", str(path))
        real_scandir, real_open = os.scandir, os.open

        def scandir(p=".", *a):
            if os.fspath(p) == str(path):
                raise denied
            return real_scandir(p, *a)

        def open_(p, *a, **kw):
            if os.fspath(p) == str(path):
                raise denied
            return real_open(p, *a, **kw)

        monkeypatch.setattr(os, "scandir", scandir)
        monkeypatch.setattr(os, "open", open_)
    try:
        yield
    finally:
        monkeypatch.undo()
        path.chmod(mode)


def test_unreadable_folder_is_reported_and_its_articles_stay(tmp_path, monkeypatch):
    src, content = tmp_path / "raw", tmp_path / "content"
    copy_dumps(src, 1, start=3)
    inner = copy_dumps(src / "2016", 3)
    first = ingest(src, content, TZ)
    kept = sorted(outputs(first)[f"2016/{p.name}"] for p in inner)
    before = snapshot(content)
    with unreadable(src / "2016", monkeypatch):
        report = ingest(src, content, TZ)
    assert reasons(report) == {"2016/": "unreadable-folder"}
    assert report.removed == [] and report.kept == kept
    assert snapshot(content) == before
    again = ingest(src, content, TZ)  # readable again: all is as before, nothing kept aside
    assert again.rejected == [] and again.kept == [] and again.removed == [] and again.written == 0


def test_unreadable_file_is_reported_and_its_article_stays(tmp_path, monkeypatch):
    src, content = tmp_path / "raw", tmp_path / "content"
    dumps = copy_dumps(src, 3)
    first = ingest(src, content, TZ)
    before = snapshot(content)
    with unreadable(dumps[1], monkeypatch):
        report = ingest(src, content, TZ)
    assert reasons(report) == {dumps[1].name: "unreadable"}
    assert report.removed == [] and report.kept == [outputs(first)[dumps[1].name]]
    assert snapshot(content) == before
    assert ingest(src, content, TZ).rejected == []  # not remembered as unreadable once it is not


NOBODY = 65534
INGEST_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from broadsheet.ingest import ingest, write_report
write_report(ingest(Path(sys.argv[1]), Path(sys.argv[2]), "Asia/Tehran"), Path(sys.argv[3]))
"""


@pytest.mark.skipif(not (AS_ROOT and shutil.which("setpriv")), reason="needs root to run ingest as another user")
def test_unreadable_folder_and_file_for_real_as_another_user():
    """The same cases with real permissions: ingest runs as `nobody`, whom chmod 000 stops."""
    base = Path(tempfile.mkdtemp(prefix="broadsheet-unreadable-"))
    try:
        src, content, report_path = base / "raw", base / "content", base / "report.json"
        copy_dumps(src, 2, start=3)
        copy_dumps(src / "2016", 2)
        base.chmod(0o755)
        for p in [base, *base.rglob("*")]:
            os.chown(p, NOBODY, NOBODY)

        def run() -> dict:
            subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable,
                            "-c", INGEST_SCRIPT, str(src), str(content), str(report_path), str(ROOT)],
                           cwd=base, check=True, capture_output=True)
            return json.loads(report_path.read_text(encoding="utf-8"))

        first = run()
        before = snapshot(content)
        (src / "2016").chmod(0)
        (src / DUMPS[4].name).chmod(0)
        report = run()
        assert {r["source"]: r["reason"] for r in report["rejected"]} == {
            "2016/": "unreadable-folder", DUMPS[4].name: "unreadable"}
        assert report["removed"] == [] and len(report["kept"]) == 3
        assert snapshot(content) == before
        assert first["summary"]["accepted"] == 4
    finally:
        for p in [base, *base.rglob("*")]:
            p.chmod(0o755)
        shutil.rmtree(base)


# -- 3. mixed encodings in one table ------------------------------------------------------------

def test_table_with_one_windows_1252_row_keeps_the_utf8_rows_exact(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    (src / "t.mapping.yaml").write_text("columns: {id: id, title: title, body: text, date: day}\n"
                                        "date_format: M/D/YYYY\n")
    lines = ["id,title,text,day".encode(),
             "1,Café in Aleppo,Café owners reopened.,3/9/2016".encode("utf-8"),
             "2,Crème brûlée in Homs,Déjà vu in Homs.,3/10/2016".encode("cp1252"),
             "3,Café in Homs,Another café.,3/11/2016".encode("utf-8")]
    (src / "t.csv").write_bytes(b"\n".join(lines) + b"\n")
    report = ingest(src, tmp_path / "content", TZ)
    assert report.rejected == []
    got = {}
    for a in report.accepted:
        meta, paragraphs = read_content_file((tmp_path / "content" / a["output"]).read_text(encoding="utf-8"))
        got[a["source"]] = (meta["title"], paragraphs, meta["source"]["encoding"], a["warnings"])
    assert got["t.csv#row=2"][:3] == ("Café in Aleppo", ["Café owners reopened."], "utf-8")
    assert got["t.csv#row=4"][:3] == ("Café in Homs", ["Another café."], "utf-8")
    assert got["t.csv#row=3"][:3] == ("Crème brûlée in Homs", ["Déjà vu in Homs."], "windows-1252")
    assert any("t.csv#row=3" in w for w in got["t.csv#row=3"][3])
    assert got["t.csv#row=2"][3] == [] and got["t.csv#row=4"][3] == []


# -- 4-6. links, names and special files ------------------------------------------------------

def test_file_link_leaving_the_source_is_not_followed(tmp_path):
    src, outside = tmp_path / "raw", tmp_path / "private"
    copy_dumps(src, 1)
    outside.mkdir()
    secret = Path(shutil.copy(DUMPS[5], outside / "x.txt"))
    (src / "leak.txt").symlink_to(secret)
    (src / "passwd.txt").symlink_to("/etc/passwd")
    (src / "same.txt").symlink_to(src / DUMPS[0].name)  # inside the source: read, folded as a duplicate
    report = ingest(src, tmp_path / "content", TZ)
    assert reasons(report) == {"leak.txt": "symlink-outside-source", "passwd.txt": "symlink-outside-source"}
    assert [d["source"] for d in report.duplicates] == ["same.txt"]
    assert len(report.accepted) == 1
    title = parse_dump(secret.read_bytes(), "x").title
    assert all(title not in p.read_text(encoding="utf-8") for p in (tmp_path / "content").rglob("*.md"))


def test_name_that_is_not_utf8_is_rejected_by_name_and_the_report_stays_json(tmp_path):
    src = tmp_path / "raw"
    copy_dumps(src, 1)
    raw_src = os.fsencode(src)
    with open(os.path.join(raw_src, b"caf\xe9.txt"), "wb") as f:
        f.write(DUMPS[1].read_bytes())
    os.mkdir(os.path.join(raw_src, b"dossier-\xff"))
    with open(os.path.join(raw_src, b"dossier-\xff", b"a.txt"), "wb") as f:
        f.write(DUMPS[2].read_bytes())
    report = ingest(src, tmp_path / "content", TZ)
    assert reasons(report) == {"caf\\xe9.txt": "undecodable-name", "dossier-\\xff": "undecodable-name"}
    assert len(report.accepted) == 1
    write_report(report, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_bytes().decode("utf-8"))["summary"]["rejected"] == 2


def _in_thread(fn):
    """Run `fn` where a hang cannot stall the suite: the test fails instead of waiting forever."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 -- re-raised below
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "ingest blocked"
    if "error" in result:
        raise result["error"]
    return result["value"]


def test_fifo_and_socket_are_skipped_without_being_opened(tmp_path):
    src = tmp_path / "raw"
    copy_dumps(src, 2)
    os.mkfifo(src / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock.txt"))
    try:
        report = _in_thread(lambda: ingest(src, tmp_path / "content", TZ))
        assert reasons(report) == {"pipe.txt": "not-a-regular-file", "sock.txt": "not-a-regular-file"}
        assert len(report.accepted) == 2
        # a FIFO put in place after the walk is not waited on either
        [outcome] = _in_thread(lambda: ingest_module._parse_file((str(src / "pipe.txt"), "pipe.txt", TZ, None, None)))
        assert outcome.reason == "not-a-regular-file"
    finally:
        sock.close()


# -- 7. huge files -----------------------------------------------------------------------------

def test_huge_dumps_and_tables_are_rejected_as_too_large(tmp_path):
    src = tmp_path / "raw"
    copy_dumps(src, 1)
    head = DUMPS[1].read_bytes().split(b"string(")[0]
    with open(src / "huge.txt", "wb") as f:  # 200 MB, sparse: made at once
        f.write(head)
        f.truncate(200 * 1024 * 1024)
    (src / "lines.txt").write_bytes(head + b"x\n" * 1_000_000)
    with open(src / "huge.csv", "wb") as f:
        f.write(b"id,title,text,day\n")
        f.truncate(300 * 1024 * 1024)
    (src / "t.mapping.yaml").write_text("columns: {id: id, title: title, body: text, date: day}\n"
                                        "date_format: M/D/YYYY\n")
    shutil.copy(src / "t.mapping.yaml", src / "huge.mapping.yaml")
    long_cell = "a\n" * (MAX_DUMP_LINES + 1)
    (src / "t.csv").write_text(f'id,title,text,day\n1,Short,A short text.,3/9/2016\n2,Long,"{long_cell}",3/9/2016\n')
    report = ingest(src, tmp_path / "content", TZ)
    assert reasons(report) == {"huge.txt": "too-large", "lines.txt": "too-large", "huge.csv": "too-large",
                               "t.csv#row=3": "too-large"}
    assert {a["source"] for a in report.accepted} == {DUMPS[0].name, "t.csv#row=2"}
    assert parse_dump(head + b"y" * MAX_DUMP_BYTES, "big.txt").reason == "too-large"


# -- 8. related blobs nested a hundred thousand levels ----------------------------------------

def test_deeply_nested_related_blob_is_invalid_in_a_dump_and_in_a_content_file(tmp_path):
    src, content = tmp_path / "raw", tmp_path / "content"
    copy_dumps(src, 2)
    nested = "[" * 100_000 + "]" * 100_000
    head = DUMPS[2].read_bytes().split(b"string(")[0]
    (src / "nested.txt").write_bytes(head + f'string({len(nested)}) "{nested}"'.encode())
    report = ingest(src, content, TZ)
    assert report.rejected == []
    out = content / outputs(report)["nested.txt"]
    meta, _ = read_content_file(out.read_text(encoding="utf-8"))
    assert meta["related_status"] == "invalid" and meta["related_json"] == nested
    assert any("nested" in w for w in outputs_warnings(report, "nested.txt"))
    assert parse_blob("[" * 100_000).status == "invalid"

    # the same text put in another article's front matter by hand: the graph plugin reads it at build time
    other = content / outputs(report)[DUMPS[0].name]
    text = other.read_text(encoding="utf-8")
    head_yaml, body = text.split("\n---\n", 1)
    meta = yaml.safe_load(head_yaml.removeprefix("---\n"))
    meta["related_json"] = "[" * 100_000
    other.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=10**9) + "---\n" + body,
                     encoding="utf-8")
    build_site(content, tmp_path / "output")
    assert len(list((tmp_path / "output").rglob("*.html"))) > 3


def outputs_warnings(report, source: str) -> list[str]:
    return next(a["warnings"] for a in report.accepted if a["source"] == source)


# -- 9. hostile mapping files -------------------------------------------------------------------

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))


@pytest.mark.parametrize("text, line, says", [
    (BOMB + "columns: {title: t, body: b, date: d}\ndate_format: M/D/YYYY\n", 4, "alias"),
    ("columns: !!python/object/apply:os.system [echo pwned]\ndate_format: M/D/YYYY\n", 1, "python/object"),
    ("columns: {title: t, body: b\ndate_format: M/D/YYYY\n", 2, "not valid YAML"),
    ("columns:\n" + "  " + "[" * 100_000 + "\n", 2, "nested"),
])
def test_hostile_mapping_is_one_line_naming_file_and_line(tmp_path, text, line, says):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MappingError) as error:
        load_mapping(path)
    message = str(error.value)
    assert message.startswith(f"{path}, line {line}: ") and says in message and "\n" not in message

    proc = run_invoke("ingest", "--source", str(SYNTHETIC), "--content", str(tmp_path / "c"),
                      "--report", str(tmp_path / "r.json"), "--mapping", str(path))
    assert proc.returncode == 2 and f"{path}, line {line}" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "c").exists()


# -- 10. disk full --------------------------------------------------------------------------------

@contextlib.contextmanager
def tiny_disk(folder: Path, monkeypatch):
    """A 64 KB tmpfs at `folder` when this process may mount one, else writes under `folder`
    beyond 64 KB fail with ENOSPC in this process."""
    folder.mkdir()
    mounted = AS_ROOT and shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if not mounted:
        written = {"bytes": 0}
        real_fdopen = os.fdopen

        class Full:
            def __init__(self, f):
                self.f = f

            def __getattr__(self, name):
                return getattr(self.f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, data):
                written["bytes"] += len(data)
                if written["bytes"] > 64 * 1024:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return self.f.write(data)

        def fdopen(fd, *a, **kw):
            f = real_fdopen(fd, *a, **kw)
            return Full(f) if "w" in (a[0] if a else kw.get("mode", "r")) else f

        monkeypatch.setattr(os, "fdopen", fdopen)
    try:
        yield
    finally:
        monkeypatch.undo()
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_disk_full_names_the_path_leaves_no_partial_file_and_keeps_what_was_there(tmp_path, monkeypatch):
    src, disk = tmp_path / "raw", tmp_path / "disk"
    copy_dumps(src, 3)
    with tiny_disk(disk, monkeypatch):
        content = disk / "content"
        ingest(src, content, TZ)
        before = snapshot(content)
        copy_dumps(src, 40)
        with pytest.raises(WriteFailed) as failed:
            ingest(src, content, TZ)
        message = str(failed.value)
        assert f"cannot write {content}" in message and "No space left" in message
        assert not [p for p in disk.rglob("*") if p.name.endswith(".tmp")]
        after = snapshot(content)
        assert {k: after[k] for k in before} == before
        for rel, data in after.items():  # every file is whole
            if rel.endswith(".md"):
                meta, _ = read_content_file(data.decode("utf-8"))
                assert meta["title"]
        if disk.is_mount():  # the task says the same, without a traceback
            proc = run_invoke("ingest", "--source", str(src), "--content", str(content),
                              "--report", str(tmp_path / "r.json"))
            assert proc.returncode == 1 and "No space left" in proc.stderr and "Traceback" not in proc.stderr


# -- 11. the corpus's truth file ------------------------------------------------------------------

def test_corpus_folder_ingests_without_its_truth_as_a_dump(tmp_path):
    dest = tmp_path / "corpus"
    proc = run_invoke("corpus", "-n", "5", "--dest", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((dest / ".truth.json").read_text(encoding="utf-8"))["files"]
    report = ingest(dest, tmp_path / "content", TZ)
    assert report.rejected == [] and len(report.accepted) == 5


# -- an archivist's content file whose front matter no longer reads ----------------------------

@pytest.mark.parametrize("breakage", ["title: [unclosed\n", "a: &a [*a]\n"])
def test_broken_front_matter_of_an_edited_article_is_never_written_over(tmp_path, breakage):
    src, content = tmp_path / "raw", tmp_path / "content"
    dumps = copy_dumps(src, 2)
    report = ingest(src, content, "Asia/Tehran")
    target = content / outputs(report)[dumps[0].name]
    broken = target.read_text(encoding="utf-8").replace("---\n", "---\n" + breakage, 1) + "\nMy note.\n"
    target.write_text(broken, encoding="utf-8")

    again = ingest(src, content, "Asia/Tehran")  # the dump is unchanged, the content file is not
    assert target.read_text(encoding="utf-8") == broken
    dumps[0].write_bytes(dumps[0].read_bytes().replace(b" have ", b" had ", 1))
    changed = ingest(src, content, "Asia/Tehran")  # the dump changed too
    assert target.read_text(encoding="utf-8") == broken
    for run in (again, changed):
        [conflict] = run.conflicts
        assert conflict["output"] == target.relative_to(content).as_posix()
        assert "unreadable front matter" in conflict["fields"][0] and "line" in conflict["fields"][0]
        assert run.exit_status == 3
