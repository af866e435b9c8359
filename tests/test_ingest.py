"""Ingest end to end on real files: report, duplicates, paths, idempotency, edits, atomicity."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from broadsheet.article import read_content_file, read_markdown_file
from broadsheet import ingest as ingest_module
from broadsheet.ingest import EXIT_PROBLEMS, STATE_FILE, base_slug, cache_path, ingest
from conftest import DATA, ROOT, SEED

DUMPS = DATA / "dumps"


def snapshot(content: Path) -> dict[str, bytes]:
    return {p.relative_to(content).as_posix(): p.read_bytes() for p in sorted(content.rglob("*")) if p.is_file()}


def test_every_file_accounted_for(tmp_path):
    report = ingest(DUMPS, tmp_path / "content")
    n = len([p for p in DUMPS.iterdir()])
    s = report.summary()
    assert s["read"] == n
    assert s["accepted"] + s["duplicates"] + s["rejected"] == n
    reasons = {r["source"]: r["reason"] for r in report.rejected}
    assert reasons == {
        "empty.txt": "empty", "whitespace_only.txt": "empty", "binary.bin": "binary",
        "no_dateline.txt": "no-dateline", "starts_at_dateline.txt": "no-title",
        "impossible_date.txt": "impossible-date",
    }
    assert report.exit_status == EXIT_PROBLEMS
    written = list((tmp_path / "content").rglob("*.md"))
    assert len(written) == s["accepted"]


def test_duplicates_fold_into_one(tmp_path):
    report = ingest(DUMPS, tmp_path / "content")
    dups = {d["source"]: d["duplicate_of"] for d in report.duplicates}
    # byte-identical copy, and the same page re-encoded (BOM, CRLF, CR): equal title, date, body
    first = "cr_only.txt"  # sorted first among the copies of the seed's page
    assert dups == {"crlf.txt": first, "seed_copy.txt": first, "utf8_bom.txt": first,
                    "invalid_blob.txt": first, "truncated_blob.txt": first}


def test_seed_front_matter_and_path(tmp_path):
    content = tmp_path / "content"
    report = ingest(SEED.parent, content)
    assert report.exit_status == 0 or report.rejected == []
    (entry,) = [a for a in report.accepted if a["source"] == SEED.name]
    assert entry["output"] == "2016/03/syrian-army-troops-take-key-areas-from-isis-in-latakia-kill-militants-in-raqqa.md"
    meta, paragraphs = read_content_file((content / entry["output"]).read_text(encoding="utf-8"))
    assert meta["date"] == "2016-03-20T21:30:46+03:30"
    assert meta["signature"] == "S/SH 11" and meta["related_status"] == "ok"
    assert meta["related_json"] == SEED.read_text(encoding="utf-8").split('string(1995) "', 1)[1][:-1]
    assert meta["source"] == {"file": SEED.name, "sha256": meta["source"]["sha256"], "bytes": 4391,
                              "encoding": "utf-8", "newlines": "lf"}
    assert meta["ingest_version"] == 1
    assert len(paragraphs) == 12


def test_report_file_format(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "invoke", "ingest", "--source", str(DUMPS), "--content", str(tmp_path / "c"),
         "--report", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == EXIT_PROBLEMS, proc.stderr
    assert "rejected" in proc.stderr and "no-title" in proc.stderr
    data = json.loads(out.read_text())
    assert set(data) >= {"accepted", "duplicates", "rejected"}
    assert all(set(a) >= {"source", "output", "warnings"} for a in data["accepted"])
    assert all(set(d) >= {"source", "duplicate_of"} for d in data["duplicates"])
    assert all(set(r) >= {"source", "reason"} for r in data["rejected"])


def test_clean_input_exits_zero(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(SEED, src)
    proc = subprocess.run([sys.executable, "-m", "invoke", "ingest", "--source", str(src), "--content",
                           str(tmp_path / "c"), "--report", str(tmp_path / "r.json")], cwd=ROOT, capture_output=True)
    assert proc.returncode == 0


def test_reingest_changes_no_byte(tmp_path):
    content = tmp_path / "content"
    ingest(DUMPS, content)
    before = snapshot(content)
    mtimes = {p: p.stat().st_mtime_ns for p in content.rglob("*")}
    report = ingest(DUMPS, content)
    assert snapshot(content) == before
    assert {p: p.stat().st_mtime_ns for p in content.rglob("*")} == mtimes
    assert report.written == 0 and report.unchanged == report.summary()["accepted"]


def _copy_seed_dir(tmp_path) -> Path:
    src = tmp_path / "raw"
    src.mkdir()
    shutil.copy(SEED, src / "seed.txt")
    shutil.copy(DUMPS / "sig_bare.txt", src / "other.txt")
    return src


def _edit(path: Path, **changes):
    meta, paragraphs = read_content_file(path.read_text(encoding="utf-8"))
    text = path.read_text(encoding="utf-8")
    head, body = text.split("\n---\n", 1)
    meta.update(changes)
    path.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body,
                    encoding="utf-8")


def test_archivist_edits_survive_reingest(tmp_path):
    src, content = _copy_seed_dir(tmp_path), tmp_path / "content"
    report = ingest(src, content)
    out = content / next(a["output"] for a in report.accepted if a["source"] == "seed.txt")
    _edit(out, tags=["palmyra", "latakia"], title="Corrected title")
    edited = out.read_bytes()
    again = ingest(src, content)
    assert out.read_bytes() == edited
    assert again.conflicts == []


def test_changed_dump_updates_untouched_fields_keeps_edits_and_reports_clash(tmp_path):
    src, content = _copy_seed_dir(tmp_path), tmp_path / "content"
    report = ingest(src, content)
    out = content / next(a["output"] for a in report.accepted if a["source"] == "seed.txt")
    _edit(out, tags=["palmyra"], signature="EDITED")
    # the dump changes: new signature and a changed first paragraph
    raw = (src / "seed.txt").read_bytes().replace(b"S/SH 11", b"S/SH 12").replace(b"Syrian forces have", b"Syrian troops have")
    (src / "seed.txt").write_bytes(raw)
    again = ingest(src, content)
    a = read_markdown_file(out.read_text(encoding="utf-8"))
    assert a.extra["tags"] == ["palmyra"]
    assert a.signature == "EDITED"  # the archivist's edit wins ...
    assert a.paragraphs[0].startswith("Syrian troops have")  # ... untouched fields follow the dump
    assert a.source.sha256 != report.accepted[0].get("sha256")
    assert again.conflicts and again.conflicts[0]["fields"] == ["signature"]
    assert again.exit_status == EXIT_PROBLEMS


def test_removed_dump_removes_unedited_article_only(tmp_path):
    src, content = _copy_seed_dir(tmp_path), tmp_path / "content"
    report = ingest(src, content)
    outs = {a["source"]: content / a["output"] for a in report.accepted}
    _edit(outs["other.txt"], tags=["keep"])
    ingest(src, content)  # an unchanged re-ingest in between must not forget the edit
    (src / "seed.txt").unlink()
    (src / "other.txt").unlink()
    again = ingest(src, content, allow_removals=True)  # every dump is gone: a run asks for that
    assert not outs["seed.txt"].exists()
    assert outs["other.txt"].exists()
    assert [c["source"] for c in again.conflicts] == ["other.txt"]


def test_files_ingest_did_not_write_are_untouched(tmp_path):
    src, content = _copy_seed_dir(tmp_path), tmp_path / "content"
    mine = content / "pages" / "about.md"
    mine.parent.mkdir(parents=True)
    mine.write_text("---\ntitle: About\n---\n\nOurs.\n")
    ingest(src, content)
    ingest(src, content)
    assert mine.read_text() == "---\ntitle: About\n---\n\nOurs.\n"


def test_slugs_unique_readable_bounded(tmp_path):
    src = tmp_path / "raw"
    src.mkdir()
    seed = SEED.read_bytes()
    # same title, same day, different text: both survive
    (src / "a.txt").write_bytes(seed)
    (src / "b.txt").write_bytes(seed.replace(b"Syrian forces have", b"Other text: forces have"))
    long_title = b"A Very Long Title " * 20
    (src / "c.txt").write_bytes(seed.replace(b"Syrian Army Troops Take Key Areas from ISIS in Latakia, Kill Militants in Raqqa", long_title.strip()))
    shutil.copy(DUMPS / "arabic.txt", src / "d.txt")
    report = ingest(src, tmp_path / "content")
    outputs = sorted(a["output"] for a in report.accepted)
    assert len(outputs) == 4 == len(set(outputs))
    for o in outputs:
        assert len(Path(o).stem) <= 80
    arabic = next(a["output"] for a in report.accepted if a["source"] == "d.txt")
    assert Path(arabic).stem and Path(arabic).stem.isascii()
    # stable: a re-ingest gives the same paths
    assert sorted(a["output"] for a in ingest(src, tmp_path / "content").accepted) == outputs


def test_base_slug_transliterates():
    assert base_slug("\u0627\u0644\u062c\u064a\u0634 \u0627\u0644\u0633\u0648\u0631\u064a") != ""
    assert base_slug("Syria\u2019s Army: 50 Killed!") == "syrias-army-50-killed"


def test_state_file_is_hidden_from_pelican(tmp_path):
    ingest(SEED.parent, tmp_path / "c")
    assert (tmp_path / "c" / STATE_FILE).exists() and STATE_FILE.startswith(".")


def test_no_temporary_files_left(tmp_path):
    ingest(DUMPS, tmp_path / "c")
    assert not [p for p in (tmp_path / "c").rglob("*.tmp")]


# -- re-ingest: unchanged dumps and content files are not read again ----------------------

def _aged_copy(folder: Path, dest: Path) -> Path:
    """A copy of `folder` whose files last changed an hour ago, as dumps on disk usually did
    (a file changed within a clock tick of being looked at is read again anyway)."""
    shutil.copytree(folder, dest)
    past = time.time_ns() - 3600 * 10**9 + 123_456_789
    for p in dest.rglob("*"):
        os.utime(p, ns=(past, past))
    return dest


def _parsed_files(monkeypatch) -> list[str]:
    """Records the source files ingest parses (this few run in-process, see engine.pays_for_a_local_cluster)."""
    parsed: list[str] = []
    real = ingest_module._parse_file

    def spy(job):
        parsed.append(job[1])
        return real(job)

    monkeypatch.setattr(ingest_module, "_parse_file", spy)
    return parsed


def _change(path: Path, old: bytes, new: bytes):
    path.write_bytes(path.read_bytes().replace(old, new))


def _ingested_twice(tmp_path, monkeypatch):
    """The test dumps ingested, then again with nothing changed (which must parse nothing)."""
    src, content = _aged_copy(DUMPS, tmp_path / "raw"), tmp_path / "content"
    first = ingest(src, content)
    parsed = _parsed_files(monkeypatch)
    again = ingest(src, content)
    assert parsed == []
    return src, content, first, again, parsed


def test_reingest_parses_only_changed_dumps(tmp_path, monkeypatch):
    src, content, first, again, parsed = _ingested_twice(tmp_path, monkeypatch)
    assert again.to_json() == {**first.to_json(), "summary": {**first.summary(), "written": 0,
                                                             "unchanged": first.summary()["accepted"]}}
    _change(src / "sig_bare.txt", b"S/SH", b"S/SH 12")
    third = ingest(src, content)
    assert set(parsed) == {"sig_bare.txt"}  # read again to merge with the file on disk
    assert third.written == 1 and third.summary()["accepted"] == first.summary()["accepted"]
    out = content / next(a["output"] for a in third.accepted if a["source"] == "sig_bare.txt")
    assert read_markdown_file(out.read_text(encoding="utf-8")).signature == "S/SH 12"


def test_rejected_dump_still_reported_when_not_parsed_again(tmp_path, monkeypatch):
    src, content, first, again, parsed = _ingested_twice(tmp_path, monkeypatch)
    assert again.rejected == first.rejected and len(again.rejected) == 6
    assert again.duplicates == first.duplicates and again.exit_status == EXIT_PROBLEMS


def test_edited_content_file_is_merged_though_its_dump_is_not_parsed_again(tmp_path, monkeypatch):
    src, content = _aged_copy(_copy_seed_dir(tmp_path), tmp_path / "aged"), tmp_path / "content"
    report = ingest(src, content)
    out = content / next(a["output"] for a in report.accepted if a["source"] == "seed.txt")
    _edit(out, tags=["palmyra"], signature="EDITED")
    edited = out.read_bytes()
    parsed = _parsed_files(monkeypatch)
    again = ingest(src, content)
    assert out.read_bytes() == edited and again.conflicts == [] and again.written == 0
    # the dump changes too: untouched fields follow it, the edit stays, the clash is reported
    _change(src / "seed.txt", b"Syrian forces have", b"Syrian troops have")
    _change(src / "seed.txt", b"S/SH 11", b"S/SH 12")
    third = ingest(src, content)
    a = read_markdown_file(out.read_text(encoding="utf-8"))
    assert a.extra["tags"] == ["palmyra"] and a.signature == "EDITED"
    assert a.paragraphs[0].startswith("Syrian troops have")
    assert [c["fields"] for c in third.conflicts] == [["signature"]]
    assert "seed.txt" in parsed


def test_content_file_deleted_by_hand_is_written_again(tmp_path):
    src, content = _aged_copy(_copy_seed_dir(tmp_path), tmp_path / "aged"), tmp_path / "content"
    report = ingest(src, content)
    out = content / report.accepted[0]["output"]
    written = out.read_bytes()
    out.unlink()
    again = ingest(src, content)
    assert out.read_bytes() == written and again.written == 1


def test_renamed_and_moved_dumps_are_parsed_under_their_new_names(tmp_path, monkeypatch):
    src, content = _aged_copy(_copy_seed_dir(tmp_path), tmp_path / "aged"), tmp_path / "content"
    report = ingest(src, content)
    outputs = {a["source"]: a["output"] for a in report.accepted}
    (src / "seed.txt").rename(src / "renamed.txt")
    (src / "sub").mkdir()
    (src / "other.txt").rename(src / "sub" / "other.txt")
    parsed = _parsed_files(monkeypatch)
    again = ingest(src, content)
    assert set(parsed) == {"renamed.txt", "sub/other.txt"}
    assert {a["source"]: a["output"] for a in again.accepted} == {
        "renamed.txt": outputs["seed.txt"], "sub/other.txt": outputs["other.txt"]}
    assert again.removed == [] and again.conflicts == []
    meta, _ = read_content_file((content / outputs["seed.txt"]).read_text(encoding="utf-8"))
    assert meta["source"]["file"] == "renamed.txt"


def test_cache_lives_beside_the_content_folder(tmp_path, monkeypatch):
    src, content = _aged_copy(_copy_seed_dir(tmp_path), tmp_path / "aged"), tmp_path / "content"
    ingest(src, content)
    assert cache_path(content).parent == tmp_path and cache_path(content).exists()
    assert sorted(p.name for p in content.iterdir() if p.is_file()) == [STATE_FILE]
    before = snapshot(content)
    cache_path(content).unlink()  # without it, every dump is parsed again and nothing changes
    parsed = _parsed_files(monkeypatch)
    assert ingest(src, content).written == 0
    assert sorted(parsed) == ["other.txt", "seed.txt"] and snapshot(content) == before
