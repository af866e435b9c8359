"""Entries compressed in worker processes and written in order: the very bytes ZipFile.writestr writes."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from broadsheet.archive import bag, reproducible_zip
from broadsheet.archive.bag_zip import write_reproducible_zip, zip_bag
from broadsheet.archive.reproducible_zip import ZipWriter, deflate_file, entry, read_digests
from broadsheet.archive.verify import Verification, verify


def _files(root: Path) -> list[Path]:
    """Files as a site holds them: pages that compress well, an empty file, bytes that do not
    compress, a name outside ASCII, and one larger than a deflate window."""
    (root / "2016" / "03").mkdir(parents=True)
    paths = []
    for n in range(40):
        path = root / "2016" / "03" / f"page-{n:02}.html"
        path.write_text(f"<p>page {n} " + "words of an article " * (50 + n * 7) + "</p>")
        paths.append(path)
    (root / "index.html").write_text("<p>home</p>")
    (root / "empty.txt").write_bytes(b"")
    (root / "random.bin").write_bytes(hashlib.sha256(b"seed").digest() * 2000)
    (root / "tahrir-تحرير.html").write_text("<p>ميدان التحرير</p>", encoding="utf-8")
    (root / "large.jsonl").write_text("".join(f'{{"n": {n}, "title": "article {n}"}}\n' for n in range(20000)))
    return sorted([*paths, root / "index.html", root / "empty.txt", root / "random.bin", root / "tahrir-تحرير.html", root / "large.jsonl"])


def _writestr_zip(paths: list[Path], root: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w") as zf:
        for path in paths:
            zf.writestr(entry(f"archive/{path.relative_to(root).as_posix()}"), path.read_bytes(),
                        compresslevel=reproducible_zip.LEVEL)


def test_zipfile_internals_are_the_checked_ones():
    """ZipWriter._append and _EntryReader rely on ZipFile's fp, start_dir, filelist, NameToInfo,
    ZipInfo.FileHeader and _RealGetContents. On a Python not in ZIPFILE_CHECKED, run this file: once
    the tests below pass there, add the version."""
    assert reproducible_zip.zipfile_internals_checked(), (
        "zipfile of this Python is not one broadsheet/archive/reproducible_zip.py was checked against: "
        "run tests/test_reproducible_zip.py and add the version to ZIPFILE_CHECKED if it passes")


@pytest.mark.parametrize("workers", [1, 2])
def test_entries_deflated_in_workers_are_writestrs_bytes(tmp_path, workers):
    root = tmp_path / "site"
    paths = _files(root)
    _writestr_zip(paths, root, tmp_path / "writestr.zip")
    ours = tmp_path / "ours.zip"
    jobs = [(str(p), None, None) for p in paths]
    with ZipWriter(ours) as out:
        for path, deflated in zip(paths, reproducible_zip.deflate_files(jobs, workers)):
            assert deflated.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            out.add_deflated(f"archive/{path.relative_to(root).as_posix()}", deflated)
    assert ours.read_bytes() == (tmp_path / "writestr.zip").read_bytes()


def test_copied_entries_are_the_source_zips_bytes(tmp_path):
    root = tmp_path / "site"
    paths = _files(root)
    source = tmp_path / "writestr.zip"
    _writestr_zip(paths, root, source)
    copied = tmp_path / "copied.zip"
    with zipfile.ZipFile(source) as zf, ZipWriter(copied) as out:
        for info in zf.infolist():
            assert out.copy_from(zf, info.filename)
        assert not out.copy_from(zf, "archive/no-such-file")
    assert copied.read_bytes() == source.read_bytes()


def test_a_file_whose_digest_is_enough_is_not_compressed(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<p>unchanged</p>")
    digest = hashlib.sha256(page.read_bytes()).hexdigest()
    assert deflate_file((str(page), None, digest)).data is None  # read and hashed, not compressed
    assert deflate_file((str(tmp_path / "gone.html"), digest, digest)).data is None  # not even read
    assert deflate_file((str(page), None, "0" * 64)).data is not None


@pytest.mark.parametrize("workers", [1, 2])
def test_entries_read_back_by_their_zipinfo(tmp_path, workers):
    root = tmp_path / "site"
    paths = _files(root)
    zip_path = tmp_path / "a.zip"
    _writestr_zip(paths, root, zip_path)
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
    digests = list(read_digests(zip_path, infos, workers))
    assert digests == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    # A byte changed in one entry's compressed data: that entry's slot holds the error, the rest read.
    damaged = tmp_path / "damaged.zip"
    data = bytearray(zip_path.read_bytes())
    victim = infos[5]
    data[victim.header_offset + 30 + len(victim.filename.encode()) + victim.compress_size // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    digests = list(read_digests(damaged, infos, workers))
    assert isinstance(digests[5], Exception)
    assert digests[:5] + digests[6:] == [hashlib.sha256(p.read_bytes()).hexdigest()
                                         for p in paths[:5] + paths[6:]]


def test_zip_bag_gives_make_bags_bag_and_its_zip_on_every_core(tmp_path):
    """One reading of the files (zip_bag, on two processes) gives the bag make_bag makes and the
    zip write_reproducible_zip writes of it, byte for byte."""
    root = tmp_path / "site"
    _files(root)
    info = {"Source-Organization": "Archive"}
    two_steps = bag.make_bag(root, tmp_path / "two" / "archive", info, "Archive")
    write_reproducible_zip(two_steps, tmp_path / "two.zip", "archive", workers=1)
    digests = tmp_path / "digests.pickle"
    one_pass = tmp_path / "one" / "archive"
    count = zip_bag(root, one_pass, tmp_path / "one.zip", info, "Archive", digests, workers=2)
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()
    assert count == len(zipfile.ZipFile(tmp_path / "one.zip").namelist())
    for name in bag.HEAD_TAG_FILES + bag.TAIL_TAG_FILES:
        assert (one_pass / name).read_bytes() == (two_steps / name).read_bytes(), name
    assert verify(tmp_path / "one.zip", made_from=one_pass, site_check=Verification(), workers=2).ok

    # Again with the previous zip and the kept digests: unchanged entries copied, same bytes as fresh.
    (root / "2016" / "03" / "page-07.html").unlink()
    (root / "2016" / "03" / "page-07.html").write_text("<p>page 7, corrected</p>")
    again = tmp_path / "again.zip"
    zip_bag(root, one_pass, again, info, "Archive", digests, previous=tmp_path / "one.zip", workers=2)
    fresh = tmp_path / "fresh.zip"
    zip_bag(root, tmp_path / "fresh" / "archive", fresh, info, "Archive", workers=1)
    assert again.read_bytes() == fresh.read_bytes()


def test_a_worker_that_dies_stops_the_map_with_a_clear_error():
    import os

    with pytest.raises(reproducible_zip.WorkersLost, match="_exit stopped before it was done"):
        list(reproducible_zip.ordered_map(os._exit, [1] * 200, 2))
